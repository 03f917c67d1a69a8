"""Polling a courier's tracking API: the fallback when webhooks stay away (SPEC §6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

import contracts as c
from activities.heartbeats import heartbeating
from adapters.couriers.port import CourierClient, CourierEvent, CourierUnavailable, carrier_code
from domain.durations import describe
from persistence.tracking import store_event

log = logging.getLogger("aftersales.tracking")

# The poll interval grows from its start up to this many times it while nothing final comes.
BACKOFF_CAP = 6
# Heartbeat at least this often while waiting when the activity has no heartbeat timeout.
_DEFAULT_BEAT = timedelta(seconds=30)


def tracking_signal(carrier: str, event: CourierEvent) -> c.TrackingSignal:
    """The id is `carrier:event_id` on both paths (webhook and poll), so the workflow dedupes."""
    return c.TrackingSignal(
        event_id=f"{carrier}:{event.event_id}",
        tracking_no=event.tracking_no,
        status=event.status,
        at=event.occurred_at,
        description=event.description,
    )


class TrackingActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        couriers: Mapping[str, CourierClient],
        poll_interval: timedelta,
    ) -> None:
        self._sessions = sessions
        self._couriers = couriers
        self._poll_interval = poll_interval

    @activity.defn(name=c.TRACK_PARCEL)
    async def track_parcel(self, query: c.ParcelQuery) -> c.ParcelStatus:
        """Ask the courier about the parcel; answer all its events once it has a status in
        `query.until`.

        With `query.ask_once`, an attempt asks once, and a parcel still travelling (or a courier
        that does not answer) fails the attempt with `ParcelTravelling`, retried after the next
        poll interval: between polls nothing runs, and cancelling the poll ends it at once.
        Without it (tickets shipped before), one attempt polls until the parcel arrives."""
        carrier = carrier_code(query.carrier)
        courier = self._couriers.get(carrier)
        if courier is None:
            raise ApplicationError(
                f"no courier client for carrier {query.carrier!r}",
                type="unknown_carrier",
                non_retryable=True,
            )
        if query.ask_once:
            attempt = activity.info().attempt
            status = await self._round(courier, carrier, query, attempt)
            if status is not None:
                return status
            interval = poll_interval(self._poll_interval, attempt)
            raise ApplicationError(
                f"the courier has not reported parcel {query.tracking_no} "
                f"{' or '.join(query.until)} yet: asking again in {describe(interval)}",
                type=c.PARCEL_TRAVELLING,
                next_retry_delay=interval,
                # An expected outcome: not logged or counted as an activity failure.
                category=ApplicationErrorCategory.BENIGN,
            )
        rounds = 0
        while True:
            rounds += 1
            status = await self._round(courier, carrier, query, rounds)
            if status is not None:
                return status
            await _wait(poll_interval(self._poll_interval, rounds), rounds)

    async def _round(
        self, courier: CourierClient, carrier: str, query: c.ParcelQuery, rounds: int
    ) -> c.ParcelStatus | None:
        """One question to the courier, its events stored; the parcel's status once final."""
        activity.heartbeat(rounds)
        # A courier or database slow to answer is not a lost worker.
        async with heartbeating(rounds):
            events = await self._ask(courier, carrier, query)
            if events is not None:
                await self._store(query.ticket_no, carrier, events)
        if events is None or not any(event.status in query.until for event in events):
            return None
        return c.ParcelStatus(
            tracking_no=query.tracking_no,
            events=[tracking_signal(carrier, event) for event in events],
        )

    @staticmethod
    async def _ask(
        courier: CourierClient, carrier: str, query: c.ParcelQuery
    ) -> list[CourierEvent] | None:
        try:
            return await courier.track(carrier, query.tracking_no)
        except (CourierUnavailable, httpx.HTTPError) as error:
            log.warning("tracking %s %s failed, asking again later: %s", carrier, query, error)
            return None

    async def _store(self, ticket_no: str, carrier: str, events: list[CourierEvent]) -> None:
        async with self._sessions.begin() as session:
            for event in events:
                await store_event(
                    session,
                    carrier=carrier,
                    event_id=event.event_id,
                    tracking_no=event.tracking_no,
                    ticket_no=ticket_no,
                    status=event.status,
                    description=event.description,
                    location=event.location,
                    occurred_at=event.occurred_at,
                    source="poll",
                )


def poll_interval(first: timedelta, rounds: int) -> timedelta:
    """The wait after the `rounds`-th question: doubling from `first`, at most 6 times it."""
    return first * min(2 ** (max(rounds, 1) - 1), BACKOFF_CAP)


async def _wait(interval: timedelta, rounds: int) -> None:
    """Sleep `interval`, heartbeating often enough that Temporal can deliver a cancellation (it
    arrives with a heartbeat's answer, as asyncio.CancelledError, which we let through)."""
    timeout = activity.info().heartbeat_timeout
    beat = (timeout / 3) if timeout else _DEFAULT_BEAT
    remaining = interval.total_seconds()
    while remaining > 0:
        step = min(remaining, max(beat.total_seconds(), 0.05))
        await asyncio.sleep(step)
        remaining -= step
        activity.heartbeat(rounds)
