"""Who is calling, and how much of each budget they have left: rates per API key, per client
address and for webhooks, and the failed-authentication budget of an address (SPEC §8)."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import Headers
from starlette.types import Scope

from settings import LimitSettings

WEBHOOKS_PREFIX = "/v1/webhooks/"


@dataclass(frozen=True)
class Caller:
    address: str
    # A digest of the bearer token, or None when the request carries none.
    key: str | None
    webhook: bool


def caller_of(scope: Scope, path: str) -> Caller:
    return Caller(_address(scope), _key(Headers(scope=scope)), path.startswith(WEBHOOKS_PREFIX))


def _address(scope: Scope) -> str:
    client = scope.get("client")
    host = client[0] if client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One IPv6 subscriber holds a whole /64: counting single addresses would let it rotate.
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _key(headers: Headers) -> str | None:
    """Hashed, so the counters (in Redis, say) never hold a usable key. Not looked up: a made-up
    key gets a budget of its own, but still spends its address's and ends in a counted 401."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Quota:
    """One budget as the caller sees it, in the terms of draft-ietf-httpapi-ratelimit-headers."""

    item: RateLimitItem
    remaining: int
    # Seconds until the moving window lets another request through.
    reset: int

    @property
    def policy(self) -> str:
        return f"{self.item.amount};w={self.item.get_expiry()}"


def rate_headers(shown: Quota, applied: list[Quota]) -> dict[str, str]:
    """`shown` in RateLimit-Limit/Remaining/Reset; every budget the request spent in -Policy."""
    return {
        "RateLimit-Limit": str(shown.item.amount),
        "RateLimit-Remaining": str(shown.remaining),
        "RateLimit-Reset": str(shown.reset),
        "RateLimit-Policy": ", ".join(quota.policy for quota in applied),
    }


def tightest(quotas: list[Quota]) -> Quota:
    """The budget nearest to running out, the one a careful client paces itself by."""
    return min(quotas, key=lambda quota: (quota.remaining, -quota.reset))


def open_storage(uri: str) -> Storage:
    """The asyncio storage `limits` has for a URI such as `memory://` or `redis://host:6379/0`.
    Redis goes through the `redis` package (the library's own default would be `coredis`);
    storage failures surface as `limits.errors.StorageError`."""
    uri = uri.removeprefix("async+")
    options = {"implementation": "redispy"} if uri.startswith("redis") else {}
    storage = storage_from_string(f"async+{uri}", wrap_exceptions=True, **options)
    if not isinstance(storage, Storage):
        raise TypeError(f"{uri} names no asyncio storage")
    return storage


class Budgets:
    """The moving-window counters of every caller, in the configured storage."""

    def __init__(self, settings: LimitSettings) -> None:
        self._limiter = MovingWindowRateLimiter(open_storage(settings.storage_uri))
        self._per_key = parse_many(settings.per_key)
        self._per_ip = parse_many(settings.per_ip)
        self._webhooks = parse_many(settings.webhooks)
        self._failed_auth = parse_many(settings.failed_auth)

    async def throttled(self, address: str) -> Quota | None:
        """The failed-authentication budget of an address that has spent it, else None."""
        for item in self._failed_auth:
            if not await self._limiter.test(item, "auth", address):
                return await self._quota(item, "auth", address)
        return None

    async def failed(self, address: str) -> None:
        for item in self._failed_auth:
            await self._limiter.hit(item, "auth", address)

    async def spend(self, caller: Caller) -> tuple[list[Quota], Quota | None]:
        """One request off each of the caller's budgets, the key's first so a refused key does
        not drain its address: the budgets spent, and the one that had nothing left (then the
        request is refused) or None."""
        spent: list[Quota] = []
        for item, identity in self._budgets_of(caller):
            allowed = await self._limiter.hit(item, *identity)
            quota = await self._quota(item, *identity)
            spent.append(quota)
            if not allowed:
                return spent, quota
        return spent, None

    def _budgets_of(self, caller: Caller) -> list[tuple[RateLimitItem, tuple[str, str]]]:
        if caller.webhook:
            return [(item, ("webhook", caller.address)) for item in self._webhooks]
        by_key = [(item, ("key", caller.key)) for item in self._per_key] if caller.key else []
        return [*by_key, *((item, ("ip", caller.address)) for item in self._per_ip)]

    async def _quota(self, item: RateLimitItem, *identity: str) -> Quota:
        stats = await self._limiter.get_window_stats(item, *identity)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Quota(item, max(0, stats.remaining), reset)
