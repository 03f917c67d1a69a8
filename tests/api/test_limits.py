"""Request limits: bodies past the maximum get 413, callers past their budget 429 with
Retry-After and RateLimit headers, and an address that fails authentication too often is
throttled. Each test runs an API of its own, with tiny budgets, on the suite's database and
Temporal; the suite's own API (tests/support/stack.py) has budgets it never reaches."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import pytest
from limits.aio.storage import MemoryStorage
from limits.errors import StorageError
from pydantic import ValidationError

from api.app import create_app
from settings import LimitSettings
from tests.support.servers import serving
from tests.support.stack import Stack

# Budgets no test reaches unless it lowers one of them.
_ROOMY = {
    "per_key": "1000/minute",
    "per_ip": "1000/minute",
    "webhooks": "1000/minute",
    "failed_auth": "1000/minute",
}
_RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


@asynccontextmanager
async def _api(stack: Stack, **limits: Any) -> AsyncIterator[str]:
    """An API of its own (so counters of its own) with these limits."""
    settings = stack.settings.model_copy(
        update={"limits": LimitSettings(_env_file=None, **{**_ROOMY, **limits})}
    )
    async with serving(create_app(settings, temporal=stack.temporal.client)) as url:
        yield url


def _client(url: str, key: str | None, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client calling from `address`: any 127.x.y.z is this machine, as another caller."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=url, headers=headers, transport=transport, timeout=30)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _refused(response: httpx.Response, code: str, limit: int, window: int) -> int:
    """A 429 with the headers a client paces itself by; the Retry-After it gave."""
    _problem(response, 429, code)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert 0 <= int(response.headers["ratelimit-reset"]) <= retry_after
    assert f"{limit};w={window}" in response.headers["ratelimit-policy"]
    return retry_after


@dataclass
class _Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    # Bytes of the request body written before the answer came.
    sent: int


async def _raw(url: str, key: str, headers: list[tuple[str, str]], chunks: Iterable[bytes]) -> _Raw:
    """A request written by hand, so the body can be declared and never sent, or sent chunk by
    chunk while the answer is awaited; h11 frames it (chunked when no length is declared)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    connection = h11.Connection(h11.CLIENT)
    head = [("Host", parts.netloc), ("Authorization", f"Bearer {key}"), *headers]
    writer.write(connection.send(h11.Request(method="PUT", target="/v1/orders/O-1", headers=head)))
    sent = 0
    answered = asyncio.Event()

    async def write() -> None:
        nonlocal sent
        for chunk in chunks:
            if answered.is_set():
                return
            try:
                writer.write(connection.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
            except ConnectionError:
                return  # the server answered and hung up; the answer is read below
            sent += len(chunk)
            await asyncio.sleep(0.001)

    writing = asyncio.create_task(write())
    response: h11.Response | None = None
    body = b""
    try:
        async with asyncio.timeout(30):  # a server that waits for the whole body never answers
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    response = event
                    answered.set()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
    finally:
        answered.set()
        writing.cancel()
        writer.close()
    assert response is not None
    found = {name.decode().lower(): value.decode() for name, value in response.headers}
    return _Raw(response.status_code, found, body, sent)


async def test_a_body_declared_past_the_maximum_is_refused_before_it_is_sent(
    stack: Stack,
) -> None:
    async with _api(stack, body_max_bytes=4096) as url:
        answer = await _raw(
            url,
            stack.keys["platform:shop"],
            [("Content-Type", "application/json"), ("Content-Length", str(50 * 2**20))],
            [],
        )
    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["code"] == "body_too_large"
    assert answer.headers["connection"] == "close"
    assert answer.headers["ratelimit-limit"] == "1000"


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_maximum(stack: Stack) -> None:
    chunk = b"[" + b" " * (16 * 1024 - 1)
    async with _api(stack, body_max_bytes=64 * 1024) as url:
        answer = await _raw(
            url,
            stack.keys["platform:shop"],
            [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
            (chunk for _ in range(4096)),  # 64 MiB, if nothing stopped it
        )
    assert answer.status == 413
    assert json.loads(answer.body)["code"] == "body_too_large"
    assert answer.sent < 8 * 2**20


async def test_a_body_within_the_maximum_still_reaches_the_route(stack: Stack) -> None:
    async with (
        _api(stack, body_max_bytes=4096) as url,
        _client(url, stack.keys["platform:shop"]) as platform,
    ):
        response = await platform.put("/v1/orders/O-limits", json={"lines": []})
    _problem(response, 422, "validation_error")


async def test_a_key_past_its_budget_is_refused_with_retry_after_until_its_window_passes(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    async with _api(stack, per_key="3/5second") as url, _client(url, stack.keys[label]) as buyer:
        answers = [await buyer.get("/v1/tickets") for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        for answer in answers[:3]:
            assert all(name in answer.headers for name in _RATE_HEADERS)
        assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert answers[0].headers["ratelimit-policy"] == "3;w=5, 1000;w=60"
        retry_after = _refused(answers[3], "rate_limited", 3, 5)

        await asyncio.sleep(retry_after)
        assert (await buyer.get("/v1/tickets")).status_code == 200


async def test_each_key_has_a_budget_of_its_own(stack: Stack) -> None:
    first, second = await stack.new_buyer(), await stack.new_buyer()
    async with (
        _api(stack, per_key="2/minute") as url,
        _client(url, stack.keys[first]) as one,
        _client(url, stack.keys[second]) as other,
    ):
        assert [(await one.get("/v1/tickets")).status_code for _ in range(2)] == [200, 200]
        _refused(await one.get("/v1/tickets"), "rate_limited", 2, 60)
        response = await other.get("/v1/tickets")
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "1"


async def test_an_address_past_its_budget_is_refused_whatever_key_it_sends(stack: Stack) -> None:
    first, second = await stack.new_buyer(), await stack.new_buyer()
    async with (
        _api(stack, per_ip="3/minute") as url,
        _client(url, stack.keys[first]) as one,
        _client(url, stack.keys[second]) as other,
        _client(url, None) as anonymous,
        _client(url, stack.keys[second], address="127.0.0.2") as elsewhere,
    ):
        assert (await one.get("/v1/tickets")).status_code == 200
        assert (await other.get("/v1/tickets")).status_code == 200
        assert (await anonymous.get("/v1/tickets")).status_code == 401
        _refused(await one.get("/v1/tickets"), "rate_limited", 3, 60)
        # Another address has its budget whole, with the same key.
        response = await elsewhere.get("/v1/tickets")
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "3"
    assert response.headers["ratelimit-remaining"] == "2"


async def test_webhooks_spend_a_budget_of_their_own_per_address(stack: Stack) -> None:
    async with (
        _api(stack, per_ip="1/minute", webhooks="2/minute") as url,
        _client(url, None) as sender,
    ):
        for _ in range(2):
            _problem(
                await sender.post("/v1/webhooks/payments/sandbox", content=b"{}"),
                401,
                "invalid_signature",
            )
        _refused(
            await sender.post("/v1/webhooks/payments/sandbox", content=b"{}"),
            "rate_limited",
            2,
            60,
        )
        # The webhooks left the address's budget of other calls untouched.
        response = await sender.get("/v1/tickets")
    assert response.status_code == 401
    assert response.headers["ratelimit-limit"] == "1"
    assert response.headers["ratelimit-remaining"] == "0"


async def test_failed_authentication_throttles_the_address_even_for_a_right_key(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    async with (
        _api(stack, failed_auth="3/5second") as url,
        _client(url, f"ak_wrong_{uuid.uuid4().hex}") as wrong,
        _client(url, stack.keys[label]) as right,
        _client(url, stack.keys[label], address="127.0.0.2") as elsewhere,
    ):
        for _ in range(3):
            _problem(await wrong.get("/v1/tickets"), 401, "unauthenticated")
        retry_after = _refused(await right.get("/v1/tickets"), "auth_throttled", 3, 5)
        _refused(await wrong.get("/v1/tickets"), "auth_throttled", 3, 5)
        assert (await elsewhere.get("/v1/tickets")).status_code == 200

        await asyncio.sleep(retry_after)
        assert (await right.get("/v1/tickets")).status_code == 200


async def test_probes_metrics_and_the_station_page_are_never_limited(stack: Stack) -> None:
    paths = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/warehouse/station",
        "/warehouse/static/station.js",
    ]
    async with (
        _api(stack, per_ip="1/minute", failed_auth="1/minute") as url,
        _client(url, None) as anyone,
    ):
        for path in paths * 3:
            response = await anyone.get(path)
            assert response.status_code == 200, (path, response.text)
            assert "ratelimit-limit" not in response.headers
        # None of them spent the address's single call.
        response = await anyone.get("/v1/tickets")
        assert response.status_code == 401
        assert response.headers["ratelimit-remaining"] == "0"
        # And a throttled address is still probed.
        _refused(await anyone.get("/v1/tickets"), "auth_throttled", 1, 60)
        assert (await anyone.get("/healthz")).status_code == 200


async def test_switched_off_the_rates_are_not_counted_but_the_body_limit_holds(
    stack: Stack,
) -> None:
    async with (
        _api(stack, enabled=False, per_ip="1/minute", body_max_bytes=1024) as url,
        _client(url, stack.keys["platform:shop"]) as platform,
    ):
        for _ in range(3):
            response = await platform.get("/v1/tickets")
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers
        response = await platform.put("/v1/orders/O-1", content=b" " * 2048)
    _problem(response, 413, "body_too_large")


class _DownStorage(MemoryStorage):
    """A storage whose server is gone: every call fails as `limits` reports it."""

    STORAGE_SCHEME = ["async+down"]

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        raise StorageError(ConnectionError("connection refused"))

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        raise StorageError(ConnectionError("connection refused"))


async def test_an_unreachable_limits_storage_lets_requests_through(stack: Stack) -> None:
    async with (
        _api(stack, storage_uri="down://", per_ip="1/minute") as url,
        _client(url, stack.keys["platform:shop"]) as platform,
    ):
        statuses = [(await platform.get("/v1/tickets")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


async def test_a_storage_it_cannot_open_fails_the_start_up(stack: Stack) -> None:
    settings = stack.settings.model_copy(
        update={"limits": LimitSettings(_env_file=None, storage_uri="nosuch://here")}
    )
    app = create_app(settings, temporal=stack.temporal.client)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "lifespan.startup"})
    running = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    started = await asyncio.wait_for(outbox.get(), 30)
    inbox.put_nowait({"type": "lifespan.shutdown"})
    await asyncio.wait_for(running, 30)
    assert started["type"] == "lifespan.startup.failed"
    assert "nosuch" in started["message"]


def test_the_limits_read_sizes_and_rates_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIMITS_BODY_MAX_BYTES", "512KiB")
    monkeypatch.setenv("LIMITS_PER_KEY", "10/second;600/minute")
    monkeypatch.setenv("LIMITS_ENABLED", "false")
    limits = LimitSettings(_env_file=None)
    assert limits.body_max_bytes == 512 * 1024
    assert limits.per_key == "10/second;600/minute"
    assert limits.enabled is False
    assert LimitSettings(_env_file=None, body_max_bytes="2MB").body_max_bytes == 2_000_000
    for rates in ("ten a minute", "0/minute"):
        monkeypatch.setenv("LIMITS_FAILED_AUTH", rates)
        with pytest.raises(ValidationError, match="failed_auth"):
            LimitSettings(_env_file=None)
