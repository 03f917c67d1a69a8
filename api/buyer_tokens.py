"""Buyer identity by a short-lived JWT the platform signs (SPEC §8): `sub` is the buyer id.

Verified against the platform's public key or its JWKS document, with asymmetric algorithms
only: a token's own header never chooses how it is checked (no `none`, no HMAC keyed with a
public key), the key does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.exceptions import InvalidSubjectError

from domain.text import unstorable_reason
from settings import AuthSettings

ALGORITHMS = ("RS256", "ES256", "EdDSA")
_REQUIRED = ["exp", "sub", "aud"]
# A JWKS endpoint that does not answer within this is reported as unavailable (503).
_JWKS_TIMEOUT = 5.0
_SUBJECT_MAX = 64  # buyer ids are stored as String(64)


class TokenRefused(Exception):
    """The token proves nothing: `reason` is stable, `detail` says what to fix."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class TokenKeysUnavailable(Exception):
    """The platform's JWKS could not be fetched: the token may be fine, the check cannot run."""


def looks_like_jwt(token: str) -> bool:
    """API keys start with `ak_`; a compact JWS has three dot-separated parts."""
    return not token.startswith("ak_") and token.count(".") == 2


class BuyerTokens:
    """Built once per API process: the JWKS client caches the platform's keys."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._static: tuple[Any, str] | None = None
        self._jwks: jwt.PyJWKClient | None = None
        if settings.jwt_public_key:
            key = load_pem_public_key(settings.jwt_public_key.encode())
            self._static = (key, _algorithm_of(key))
        elif settings.jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.jwks_url,
                lifespan=settings.jwks_cache_lifespan.total_seconds(),
                timeout=_JWKS_TIMEOUT,
            )

    async def buyer_id(self, token: str) -> str:
        """The buyer the token names, once signature, audience, issuer and times check out."""
        if self._static is None and self._jwks is None:
            raise TokenRefused(
                "tokens_not_accepted", "this API is not configured for buyer tokens: use an API key"
            )
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise TokenRefused(
                "token_malformed", "the buyer token is not a well-formed JWT"
            ) from None
        if algorithm not in ALGORITHMS:
            raise TokenRefused(
                "token_bad_algorithm",
                f"buyer tokens are signed with {', '.join(ALGORITHMS)}, not {algorithm}",
            )
        key, expected = await self._key(token)
        claims = self._decode(token, key, expected)
        self._check_lifetime(claims)
        return _subject(claims["sub"])

    async def _key(self, token: str) -> tuple[Any, str]:
        if self._static is not None:
            return self._static
        assert self._jwks is not None
        try:
            # PyJWKClient fetches with urllib (blocking); it refetches for an unknown `kid` at
            # most once per cooldown, so random `kid`s cannot hammer the platform.
            jwk = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as error:
            raise TokenKeysUnavailable(str(error)) from None
        except jwt.PyJWKSetError as error:
            raise TokenKeysUnavailable(f"the platform's JWKS is unusable: {error}") from None
        except jwt.PyJWKClientError:
            raise TokenRefused(
                "token_unknown_key", "the buyer token's `kid` names none of the platform's keys"
            ) from None
        except jwt.PyJWTError:
            raise TokenRefused(
                "token_malformed", "the buyer token is not a well-formed JWT"
            ) from None
        if jwk.algorithm_name not in ALGORITHMS:
            raise TokenRefused(
                "token_unknown_key", f"the platform's key {jwk.key_id} is not an accepted kind"
            )
        return jwk.key, jwk.algorithm_name

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        settings = self._settings
        required = _REQUIRED + (["iss"] if settings.jwt_issuer else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway,
                options={"require": required},
            )
        except jwt.PyJWTError as error:
            raise _refusal(error, settings) from None
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """A stolen token is worth little only if it dies soon: refuse long-lived ones. Without
        `iat` the time left is measured instead."""
        issued = claims.get("iat")
        start = float(issued) if issued is not None else time.time()
        maximum = self._settings.jwt_max_lifetime.total_seconds()
        if float(claims["exp"]) - start > maximum:
            raise TokenRefused(
                "token_too_long_lived",
                f"buyer tokens may live at most {int(maximum)} s (exp - iat)",
            )


def _algorithm_of(key: Any) -> str:
    """The one algorithm a static key verifies (settings.py checked the key's kind)."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ValueError(f"no accepted JWT algorithm for a {type(key).__name__}")


def _subject(sub: object) -> str:
    if not isinstance(sub, str) or not 0 < len(sub) <= _SUBJECT_MAX or unstorable_reason(sub):
        raise _subject_refusal()
    return sub


def _subject_refusal() -> TokenRefused:
    return TokenRefused(
        "token_bad_subject",
        f"the buyer token's `sub` must be a buyer id of 1 to {_SUBJECT_MAX} characters",
    )


def _refusal(error: jwt.PyJWTError, settings: AuthSettings) -> TokenRefused:
    """The check that failed, in words a platform engineer can act on."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return TokenRefused("token_expired", "the buyer token has expired")
    if isinstance(error, jwt.InvalidAudienceError):
        return TokenRefused(
            "token_wrong_audience",
            f"the buyer token is not meant for this API (audience must be {settings.jwt_audience})",
        )
    if isinstance(error, jwt.InvalidIssuerError):
        return TokenRefused(
            "token_wrong_issuer", f"the buyer token was not issued by {settings.jwt_issuer}"
        )
    if isinstance(error, jwt.InvalidSignatureError):
        return TokenRefused(
            "token_bad_signature",
            "the buyer token's signature does not verify with the platform's key",
        )
    if isinstance(error, jwt.MissingRequiredClaimError):
        return TokenRefused("token_missing_claim", f"the buyer token has no `{error.claim}` claim")
    if isinstance(error, jwt.ImmatureSignatureError):
        return TokenRefused("token_not_yet_valid", "the buyer token is not valid yet (nbf or iat)")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return TokenRefused(
            "token_bad_algorithm", "the buyer token's algorithm does not match the platform's key"
        )
    if isinstance(error, InvalidSubjectError):
        return _subject_refusal()
    if isinstance(error, jwt.DecodeError):
        return TokenRefused("token_malformed", "the buyer token is not a well-formed JWT")
    return TokenRefused("token_invalid", f"the buyer token is invalid: {error}")
