"""Buyers identified by a JWT the platform signs, verified against a configured public key or
the platform's JWKS document: a good token acts as its buyer, every other one is 401 saying why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import OKPAlgorithm

from api.app import create_app
from settings import AuthSettings
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.servers import free_port, serving
from tests.support.stack import Stack
from tests.support.tickets import open_for_review

AUDIENCE = "aftersales-test"
ISSUER = "https://platform.test"


@dataclass
class Api:
    """An API instance of the stack configured for buyer tokens, and a key to sign them."""

    url: str
    signing_key: Any
    algorithm: str
    kid: str | None = None

    def token(self, claims: dict[str, Any] | None = None, **changes: Any) -> str:
        now = int(time.time())
        payload = {"sub": "b-501", "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300}
        payload |= claims or {}
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(
            payload,
            changes.get("key", self.signing_key),
            algorithm=changes.get("algorithm", self.algorithm),
            headers=changes.get("headers", headers),
        )

    async def get(self, path: str, credential: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.get(path, headers={"Authorization": f"Bearer {credential}"})


def _pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@asynccontextmanager
async def _serving(stack: Stack, auth: AuthSettings) -> AsyncIterator[str]:
    """The stack's API, same database, Temporal and worker, with these token settings."""
    settings = stack.settings.model_copy(update={"auth": auth})
    async with serving(create_app(settings, temporal=stack.temporal.client)) as url:
        yield url


@pytest.fixture(scope="module")
async def with_pem(stack: Stack) -> AsyncIterator[Api]:
    """Verified against an RSA public key given as PEM, issuer required."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth = AuthSettings(jwt_public_key=_pem(key), jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    async with _serving(stack, auth) as url:
        yield Api(url, key, "RS256")


class _Jwks(BaseHTTPRequestHandler):
    document = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, ed25519.Ed25519PrivateKey]]:
    """The platform's JWKS document on a local HTTP server: one Ed25519 key, `kid` k1."""
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
        "kid": "k1",
        "alg": "EdDSA",
        "use": "sig",
    }
    handler = type("Jwks", (_Jwks,), {"document": json.dumps({"keys": [jwk]}).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", key
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
async def with_jwks(
    stack: Stack, jwks_server: tuple[str, ed25519.Ed25519PrivateKey]
) -> AsyncIterator[Api]:
    """Verified against the JWKS document; no issuer configured."""
    url, key = jwks_server
    async with _serving(stack, AuthSettings(jwks_url=url, jwt_audience=AUDIENCE)) as api:
        yield Api(api, key, "EdDSA", kid="k1")


async def test_a_platform_token_acts_as_its_buyer(stack: Stack, with_pem: Api) -> None:
    opened = await open_for_review(stack)
    buyer = buyer_id(opened.buyer)
    token = with_pem.token({"sub": buyer})

    own = await with_pem.get(f"/v1/tickets/{opened.ticket_no}", token)
    assert own.status_code == 200, own.text
    assert own.json()["ticket_no"] == opened.ticket_no
    listed = await with_pem.get("/v1/tickets", token)
    assert [t["ticket_no"] for t in listed.json()["items"]] == [opened.ticket_no]

    stranger = with_pem.token({"sub": f"b-{uuid.uuid4().hex[:10]}"})
    foreign = await with_pem.get(f"/v1/tickets/{opened.ticket_no}", stranger)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "ticket_not_found")
    # A buyer token is a buyer: nothing more.
    keys = await with_pem.get("/v1/keys", token)
    assert (keys.status_code, keys.json()["code"]) == (403, "forbidden_role")
    # API keys keep working next to tokens.
    assert (await with_pem.get("/v1/keys", stack.keys["support:s-1"])).status_code == 200


def _hs256_with_the_public_key(api: Api) -> str:
    """The classic confusion attack: HMAC keyed with the (public) verification key."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "b-501", "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 60}
    signed = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    secret = _pem(api.signing_key).encode()
    signature = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _refused(answer: httpx.Response, reason: str, words: str) -> None:
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert (problem["code"], problem["reason"]) == ("unauthenticated", reason), problem
    assert words in problem["detail"], problem
    assert answer.headers["www-authenticate"] == "Bearer"


NOW = int(time.time())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("claims", "changes", "reason", "words"),
    [
        ({"iat": NOW - 900, "exp": NOW - 120}, {}, "token_expired", "expired"),
        ({"aud": "another-api"}, {}, "token_wrong_audience", "audience"),
        ({"aud": None}, {}, "token_missing_claim", "`aud`"),
        ({"iss": "https://evil.test"}, {}, "token_wrong_issuer", "issued by"),
        ({"iss": None}, {}, "token_missing_claim", "`iss`"),
        ({"sub": None}, {}, "token_missing_claim", "`sub`"),
        ({"exp": None}, {}, "token_missing_claim", "`exp`"),
        ({"sub": ""}, {}, "token_bad_subject", "`sub`"),
        ({"sub": "x" * 65}, {}, "token_bad_subject", "`sub`"),
        ({"sub": "b-\u0000"}, {}, "token_bad_subject", "`sub`"),
        ({"sub": 501}, {}, "token_bad_subject", "`sub`"),
        ({"exp": NOW + 7200}, {}, "token_too_long_lived", "at most 3600 s"),
        ({"iat": None, "exp": NOW + 7200}, {}, "token_too_long_lived", "at most 3600 s"),
        ({"nbf": NOW + 600}, {}, "token_not_yet_valid", "not valid yet"),
        ({}, {"key": OTHER_RSA}, "token_bad_signature", "signature"),
        ({}, {"key": None, "algorithm": "none"}, "token_bad_algorithm", "not none"),
        (
            {},
            {"key": "a-symmetric-secret-of-32-bytes-or-more", "algorithm": "HS256"},
            "token_bad_algorithm",
            "HS256",
        ),
    ],
)
async def test_a_token_failing_a_check_is_refused_saying_which(
    with_pem: Api, claims: dict[str, Any], changes: dict[str, Any], reason: str, words: str
) -> None:
    _refused(await with_pem.get("/v1/tickets", with_pem.token(claims, **changes)), reason, words)


async def test_no_header_chooses_how_a_token_is_checked(with_pem: Api) -> None:
    confused = await with_pem.get("/v1/tickets", _hs256_with_the_public_key(with_pem))
    _refused(confused, "token_bad_algorithm", "HS256")
    # ES256 is accepted in general, but the platform's key is RSA: RS256 only.
    ec_signed = with_pem.token(key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    _refused(await with_pem.get("/v1/tickets", ec_signed), "token_bad_algorithm", "match")
    _refused(await with_pem.get("/v1/tickets", "ab.cd.ef"), "token_malformed", "well-formed")


async def test_tokens_verify_against_the_platform_jwks(stack: Stack, with_jwks: Api) -> None:
    opened = await open_for_review(stack)
    token = with_jwks.token({"sub": buyer_id(opened.buyer), "iss": None})
    own = await with_jwks.get(f"/v1/tickets/{opened.ticket_no}", token)
    assert own.status_code == 200, own.text
    # With no issuer configured any `iss` is accepted; audience and lifetime still hold.
    assert (await with_jwks.get("/v1/tickets", with_jwks.token())).status_code == 200
    _refused(
        await with_jwks.get("/v1/tickets", with_jwks.token({"aud": "x"})),
        "token_wrong_audience",
        "audience",
    )

    forged = with_jwks.token(key=ed25519.Ed25519PrivateKey.generate())
    _refused(await with_jwks.get("/v1/tickets", forged), "token_bad_signature", "signature")
    unknown = with_jwks.token(headers={"kid": "k-unknown"})
    _refused(await with_jwks.get("/v1/tickets", unknown), "token_unknown_key", "`kid`")


async def test_a_jwks_that_cannot_be_read_is_503_not_a_refusal(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{free_port()}/jwks.json"
    key = ed25519.Ed25519PrivateKey.generate()
    async with _serving(stack, AuthSettings(jwks_url=dead, jwt_audience=AUDIENCE)) as url:
        api = Api(url, key, "EdDSA", kid="k1")
        answer = await api.get("/v1/tickets", api.token())
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "token_keys_unavailable"


async def test_an_api_without_token_settings_refuses_tokens(stack: Stack, with_pem: Api) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        answer = await http.get(
            "/v1/tickets", headers={"Authorization": f"Bearer {with_pem.token()}"}
        )
    _refused(answer, "tokens_not_accepted", "API key")


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}, "PEM"),
        ({"jwt_public_key": _pem(rsa.generate_private_key(65537, 1024))}, "2048"),
        ({"jwt_public_key": _pem(OTHER_RSA), "jwt_audience": None}, "AUDIENCE"),
        ({"jwks_url": "file:///etc/passwd"}, "http"),
        ({"jwks_url": "https://p.test/jwks", "jwt_public_key": _pem(OTHER_RSA)}, "not both"),
    ],
)
def test_settings_refuse_tokens_that_could_never_verify(values: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        AuthSettings(**{"jwt_audience": AUDIENCE, **values})


async def test_a_ticket_through_the_platforms_token_records_the_platforms_channel(
    stack: Stack, with_pem: Api
) -> None:
    label = await stack.new_buyer()
    buyer = buyer_id(label)
    orders = []
    for _ in range(2):
        order_id = new_order_id()
        async with stack.client("platform:shop") as platform:
            await put_order(platform, order_id, order_body([line("L1", 1, 900)], buyer=buyer))
        orders.append(order_id)
    token = with_pem.token({"sub": buyer})
    async with httpx.AsyncClient(
        base_url=with_pem.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        plain = await http.post("/v1/tickets", json=application(orders[0], ("L1", 1)))
        mini = await http.post(
            "/v1/tickets", json=application(orders[1], ("L1", 1), channel="mini_program")
        )
    assert plain.status_code == mini.status_code == 201, plain.text + mini.text
    assert (plain.json()["channel"], mini.json()["channel"]) == ("app", "mini_program")
