"""Data the database refuses is a final failure: an activity retried with it would fail for ever."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.exc import StatementError
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

import contracts as c


class UnstorableDataIsFinal(Interceptor):
    """Turns a data error of any activity (SQLSTATE class 22, text that cannot be encoded) into a
    non-retryable `UnstorableData` failure, so the workflow decides what happens instead."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except StatementError as error:
            if not isinstance(error.orig, psycopg.DataError | UnicodeError):
                raise
            raise ApplicationError(
                f"the database cannot store this step: {error.orig}".strip(),
                type=c.UNSTORABLE_DATA,
                non_retryable=True,
            ) from error
