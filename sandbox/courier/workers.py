"""Background loops of the courier's lifespan: apply autopilot scans when due, deliver webhooks.

Both read their work from the database each round, so whatever was pending when the process
stopped is picked up again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from adapters.couriers.signing import SIGNATURE_HEADER, sign
from sandbox.courier import outbox, parcels
from sandbox.courier.runtime import CourierRuntime

log = logging.getLogger("sandbox.courier")

# Longest sleep between rounds, in case a wake-up was missed.
_MAX_IDLE = 1.0


async def _sleep(wake: asyncio.Event, until: float | None, now: float) -> None:
    timeout = _MAX_IDLE if until is None else min(max(until - now, 0.0), _MAX_IDLE)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout)


async def autopilot_forever(runtime: CourierRuntime) -> None:
    while True:
        runtime.autopilot_wake.clear()
        until: float | None = None
        try:
            with runtime.db.transaction() as conn:
                if parcels.apply_due_plans(conn, runtime.now()):
                    runtime.deliver_wake.set()
                until = parcels.next_plan_at(conn)
        except Exception:
            log.exception("autopilot round failed; trying again")
        await _sleep(runtime.autopilot_wake, until, runtime.now())


async def deliver_forever(runtime: CourierRuntime) -> None:
    async with httpx.AsyncClient(timeout=runtime.config.webhook_timeout) as client:
        while True:
            runtime.deliver_wake.clear()
            until: float | None = None
            if runtime.config.webhook_url is not None:
                try:
                    with runtime.db.reading() as conn:
                        batch = outbox.due(conn, runtime.now())
                    await asyncio.gather(*(_deliver(runtime, client, d) for d in batch))
                    with runtime.db.reading() as conn:
                        until = outbox.next_attempt_at(conn)
                except Exception:
                    log.exception("webhook delivery round failed; trying again")
            await _sleep(runtime.deliver_wake, until, runtime.now())


async def _deliver(
    runtime: CourierRuntime, client: httpx.AsyncClient, delivery: outbox.PendingDelivery
) -> None:
    url = runtime.config.webhook_for(delivery.carrier)
    assert url is not None
    # Signed at each attempt with the time of sending; the body and event id stay the same.
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(runtime.config.webhook_secret, delivery.body, int(runtime.now())),
    }
    try:
        response = await client.post(url, content=delivery.body, headers=headers)
        error = None if response.is_success else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with runtime.db.transaction() as conn:
        if error is None:
            outbox.delivered(conn, delivery.event_id, runtime.now())
            return
        retry_at = runtime.now() + runtime.config.webhook_backoff(delivery.attempts + 1)
        outbox.failed(conn, delivery.event_id, retry_at, error)
    log.warning("webhook %s not delivered (%s); retrying", delivery.event_id, error)
