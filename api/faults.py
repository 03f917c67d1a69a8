"""Honest answers while PostgreSQL or Temporal is unreachable (SPEC §8, §11).

Every wait on either is bounded, and an error of either becomes a 503 problem with a stable code
and `Retry-After`, never a hang or a bare 500:

- `database_unavailable`, `temporal_unavailable`: nothing the request asked for was done.
- `outcome_unknown`: the request may have taken effect. A service says so (`may_take_effect`)
  the moment it is about to send what cannot be taken back (the commit of a new ticket, an
  Update); any fault after that point answers this code. The same request sent again with the
  same `Idempotency-Key` then answers what really happened, for the ticket is found by its key
  and an Update is deduplicated by Temporal under the id the key gives it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from api.database_watch import SILENCE, DatabaseProbe, Wait, Waits, watch
from api.problems import Problem, problem_response
from persistence.db import Bounds

log = logging.getLogger("aftersales.faults")
T = TypeVar("T")

DATABASE_UNAVAILABLE = "database_unavailable"
TEMPORAL_UNAVAILABLE = "temporal_unavailable"
OUTCOME_UNKNOWN = "outcome_unknown"

# The API answers within about five seconds whatever fails: a probe of Temporal first, then one
# call of at most `TEMPORAL_CALL`, or a database that refuses within its connect timeout.
TEMPORAL_PROBE = timedelta(seconds=1)
TEMPORAL_CALL = timedelta(seconds=3.5)
# The API's engine (api/app.py): a request waits little for a pooled connection, and a statement
# is cancelled by the server when it runs too long.
DATABASE_BOUNDS = Bounds(
    connect=timedelta(seconds=2),
    pool=timedelta(seconds=3),
    # Long enough for the heaviest report; a lock wait longer than this is an outage too.
    statement=timedelta(seconds=10),
)
# The API's client gives up on an unreachable server within the call's bound (the SDK's default
# retries an unavailable one for 10 s); the caller, told so, retries.
TEMPORAL_RETRY = RetryConfig(max_elapsed_time_millis=2000, max_retries=3)

# Temporal unreachable, overloaded or silent for now: a 503. Any other status is the server's
# considered answer to a call the API should not have made: a 500, unless the request may
# already have taken effect.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
}
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    sa.OperationalError,  # refused, lost, timed out (statement_timeout, lock_timeout)
    sa.InterfaceError,  # a connection that was closed under the session
    sa.TimeoutError,  # no free connection in the pool
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


class TemporalSilent(Exception):
    """A call to Temporal that got no answer within its bound."""


@dataclass(frozen=True)
class _Unsure:
    what: str
    idempotency_key: str | None
    ticket_no: str | None


@dataclass
class _Request:
    unsure: _Unsure | None = None
    database: Waits = field(default_factory=Waits)


_current: ContextVar[_Request | None] = ContextVar("aftersales_fault_request", default=None)


def may_take_effect(what: str, idempotency_key: str | None, ticket_no: str | None) -> None:
    """From here on this request may have done `what` (e.g. "the ticket's creation"): a fault
    answers `outcome_unknown`, not that the service was unavailable."""
    request = _current.get()
    if request is not None:
        request.unsure = _Unsure(what, idempotency_key, ticket_no)


async def bounded(call: Awaitable[T], within: timedelta = TEMPORAL_CALL) -> T:
    """`call`, given up after `within` (the SDK's own retries are not bounded by its timeout)."""
    try:
        async with asyncio.timeout(within.total_seconds()):
            return await call
    except TimeoutError as error:
        raise TemporalSilent(f"no answer within {within.total_seconds():g} s") from error


async def signal(temporal: Client, workflow_id: str, signal: Any, arg: Any) -> None:
    """Send `signal` to the workflow, bounded like every other call: one that gets no answer is
    `TemporalSilent`, a 503 unless the caller catches it. The engine's signals carry event ids
    the workflow deduplicates, so a resend after an unknown outcome never counts twice."""
    handle = temporal.get_workflow_handle(workflow_id)
    await bounded(handle.signal(signal, arg, rpc_timeout=TEMPORAL_CALL))


async def temporal_reachable(temporal: Client) -> None:
    """Ask Temporal, briefly, whether it answers at all: if not, a request that needs it is
    refused before it sends anything, and the caller knows nothing happened."""
    try:
        await bounded(_probe(temporal), TEMPORAL_PROBE * 2)
    except (RPCError, TemporalSilent) as error:
        log.warning("temporal unreachable: %s", error)
        raise unavailable(TEMPORAL_UNAVAILABLE, "Temporal does not answer") from error


async def _probe(temporal: Client) -> None:
    # Temporal closes each client connection after its maximum age (`frontend.
    # keepAliveMaxConnectionAge`, 5 minutes by default); a call sent as the connection goes fails
    # on the client's side (cancelled, or a transport error) without the server having answered.
    # The API's other calls go with the SDK's retries, which send such a call again; the probe
    # goes without (it must answer within its bound), and asks once more itself, on the
    # connection that replaces the old one. A server that is gone refuses that second ask too,
    # and one that let the first ask use up its time is not asked again.
    request = GetSystemInfoRequest()
    try:
        await temporal.workflow_service.get_system_info(
            request, retry=False, timeout=TEMPORAL_PROBE
        )
    except RPCError as error:
        if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise
        log.info("temporal probe failed on its connection (%s), asking again", error)
        await temporal.workflow_service.get_system_info(
            request, retry=False, timeout=TEMPORAL_PROBE
        )


def unavailable(code: str, detail: str) -> Problem:
    # Every 503 carries `Retry-After` (api/problems.py).
    return Problem(503, code, f"{detail}; nothing was done, try again later")


def outcome_unknown(unsure: _Unsure, cause: str) -> Problem:
    detail = f"{cause} while {unsure.what} was under way: it may or may not have taken effect. "
    if unsure.idempotency_key is not None:
        detail += (
            "Send the same request again with the same Idempotency-Key: it takes effect at most "
            "once and answers what really happened."
        )
    else:
        where = f"GET /v1/tickets/{unsure.ticket_no}" if unsure.ticket_no else "the ticket"
        detail += (
            f"No Idempotency-Key was sent, so sending it again could act twice: read {where} "
            "to learn whether it did."
        )
    extra: dict[str, object] = {
        "retry_with_same_idempotency_key": unsure.idempotency_key is not None
    }
    if unsure.ticket_no is not None:
        extra["ticket_no"] = unsure.ticket_no
    return Problem(503, OUTCOME_UNKNOWN, detail, extra=extra)


def _answer(request: Request, problem: Problem) -> JSONResponse:
    return problem_response(
        request,
        problem.status,
        problem.code,
        problem.detail,
        extra=problem.extra,
        headers=problem.headers,
    )


def _fault(request: Request, code: str, cause: str, error: Exception) -> JSONResponse:
    log.warning("%s %s: %s: %r", request.method, request.url.path, code, error)
    current = _current.get()
    if current is not None and current.unsure is not None:
        return _answer(request, outcome_unknown(current.unsure, cause))
    return _answer(request, unavailable(code, cause))


async def _database(request: Request, error: Exception) -> JSONResponse:
    reach = isinstance(error, DATABASE_FAULTS)
    if isinstance(error, sa.DBAPIError) and not reach and not error.connection_invalidated:
        raise error  # a fault of the request, not of the database's reach: a 500 answers
    cause = "the database did not answer"
    if isinstance(error, sa.TimeoutError):
        cause = "no database connection of the API's came free in time (it is busy)"
    return _fault(request, DATABASE_UNAVAILABLE, cause, error)


async def _temporal(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, RPCError) and error.status not in _UNAVAILABLE:
        current = _current.get()
        if current is None or current.unsure is None:
            raise error
    return _fault(request, TEMPORAL_UNAVAILABLE, "Temporal did not answer", error)


# How often a request still running looks whether it is stuck on the database.
_LOOK_EVERY = 0.25
_SILENCE = SILENCE.total_seconds()
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _RequestScope:
    """Gives each HTTP request the place where a service marks that it may take effect, and
    answers for a request stuck on a database that no longer answers (api/database_watch.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request()
        token = _current.set(request)
        watch(request.database)
        try:
            await self._watched(request, scope, receive, send)
        finally:
            _current.reset(token)

    async def _watched(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        answered = responding = False

        async def send_once(message: Message) -> None:
            nonlocal responding
            if answered:
                return  # the request was answered for; what it says after is dropped
            responding = True
            await send(message)

        async def handle() -> None:
            await self.app(scope, receive, send_once)

        handling = asyncio.create_task(handle())
        try:
            wait = await self._stuck_wait(request, scope, handling, lambda: responding)
        except BaseException:
            handling.cancel()  # the server is shutting down or the client went away
            raise
        if wait is None:
            return handling.result()
        answered = True
        handling.cancel()
        handling.add_done_callback(_abandoned)
        committing = wait.committing and scope["method"] not in _SAFE_METHODS
        answer = _answer(Request(scope), _stuck(request, committing))
        log.warning("%s %s: the database does not answer", scope["method"], scope["path"])
        await answer(scope, receive, send)

    @staticmethod
    async def _stuck_wait(
        request: _Request,
        scope: Scope,
        handling: asyncio.Task[None],
        responding: Callable[[], bool],
    ) -> Wait | None:
        """None once the request is handled; else the database wait it is stuck on, on a
        server that no longer answers, before any of its answer was sent."""
        probe: DatabaseProbe | None = getattr(scope["app"].state, "database_probe", None)
        while True:
            done, _ = await asyncio.wait({handling}, timeout=_LOOK_EVERY)
            if done:
                return None
            wait = request.database.longest()
            if responding() or wait is None or time.monotonic() - wait.since < _SILENCE:
                continue
            if probe is not None and await probe.answers():
                continue  # a slow statement: the server's statement timeout bounds it
            if not handling.done() and not responding():
                return wait


def _stuck(request: _Request, committing: bool) -> Problem:
    cause = "the database stopped answering"
    if request.unsure is not None:
        return outcome_unknown(request.unsure, cause)
    if committing:
        return Problem(
            503,
            OUTCOME_UNKNOWN,
            f"{cause} while the request's changes were being committed: they may or may not "
            "have been stored. Read them back once it answers again to learn which.",
            extra={"retry_with_same_idempotency_key": False},
        )
    return unavailable(DATABASE_UNAVAILABLE, cause)


def _abandoned(task: asyncio.Task[None]) -> None:
    """The abandoned handling ends as its connection gives up; its error was answered for."""
    if not task.cancelled() and task.exception() is not None:
        log.info("abandoned request ended: %r", task.exception())


def install(app: FastAPI) -> None:
    for fault in (*DATABASE_FAULTS, sa.DBAPIError):
        app.add_exception_handler(fault, _database)
    for fault in (RPCError, RPCTimeoutOrCancelledError, TemporalSilent):
        app.add_exception_handler(fault, _temporal)
    app.add_middleware(_RequestScope)
