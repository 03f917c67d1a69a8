"""Background loops of the provider's lifespan: settle refunds and payouts when due, deliver
webhooks.

Both read their work from the database each round, so whatever was pending when the process
stopped (refunds and payouts to settle, events to deliver) is picked up again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from adapters.payments.signing import SIGNATURE_HEADER, sign
from sandbox.payment_provider import events, payouts, refunds
from sandbox.payment_provider.runtime import ProviderRuntime

log = logging.getLogger("sandbox.payment_provider")

_KINDS = (refunds.MOVEMENTS, payouts.MOVEMENTS)
# Longest sleep between rounds, in case a wake-up was missed (e.g. another process on the file).
_MAX_IDLE = 1.0


async def _sleep(wake: asyncio.Event, until: float | None, now: float) -> None:
    timeout = _MAX_IDLE if until is None else min(max(until - now, 0.0), _MAX_IDLE)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout)


async def settle_forever(runtime: ProviderRuntime) -> None:
    while True:
        runtime.settle_wake.clear()
        try:
            settle_due(runtime)
            changes = (kind.next_change_at(runtime.db) for kind in _KINDS)
            until = min((at for at in changes if at is not None), default=None)
        except Exception:
            log.exception("settlement round failed; trying again")
            until = None
        await _sleep(runtime.settle_wake, until, runtime.now())


def settle_due(runtime: ProviderRuntime) -> None:
    now, reverse_delay = runtime.now(), runtime.config.reverse_delay
    changed = False
    for kind in _KINDS:
        due = kind.due_for_settlement(runtime.db, now)
        for movement_id in due:
            kind.settle(runtime.db, movement_id, now, reverse_delay)
        changed = bool(kind.reverse_due(runtime.db, now)) or bool(due) or changed
    if changed:
        runtime.deliver_wake.set()


async def deliver_forever(runtime: ProviderRuntime) -> None:
    url = runtime.config.webhook_url
    async with httpx.AsyncClient(timeout=runtime.config.webhook_timeout) as client:
        while True:
            runtime.deliver_wake.clear()
            until: float | None = None
            if url is not None:
                try:
                    with runtime.db.reading() as conn:
                        batch = events.due(conn, runtime.now())
                    await asyncio.gather(*(_deliver(runtime, client, url, e) for e in batch))
                    with runtime.db.reading() as conn:
                        until = events.next_attempt_at(conn)
                except Exception:
                    log.exception("webhook delivery round failed; trying again")
            await _sleep(runtime.deliver_wake, until, runtime.now())


async def _deliver(
    runtime: ProviderRuntime, client: httpx.AsyncClient, url: str, event: events.PendingDelivery
) -> None:
    # Signed at each attempt with the time of sending; the body and event id stay the same.
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(runtime.config.webhook_secret, event.body, int(runtime.now())),
    }
    try:
        response = await client.post(url, content=event.body, headers=headers)
        error = None if response.is_success else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with runtime.db.transaction() as conn:
        if error is None:
            events.delivered(conn, event.id, runtime.now())
            return
        retry_at = runtime.now() + runtime.config.webhook_backoff(event.attempts + 1)
        events.failed(conn, event.id, retry_at, error)
    log.warning("webhook %s not delivered (%s); retrying", event.id, error)
