"""The worker process: the composition root for workflows and activities."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.refunds import RefundActivities
from activities.risk import RiskActivities
from activities.tickets import TicketActivities
from adapters.payments.port import PaymentGateway
from adapters.payments.sandbox import SandboxPaymentGateway
from persistence.db import make_engine, make_session_factory
from settings import Settings, get_settings
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.worker")


def build_worker(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    gateways: Mapping[str, PaymentGateway],
) -> Worker:
    tickets = TicketActivities(sessions)
    refunds = RefundActivities(sessions, gateways)
    risk = RiskActivities(sessions)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[TicketWorkflow],
        activities=[
            tickets.record_transition,
            refunds.grant_refund,
            refunds.execute_refund,
            refunds.check_refund,
            refunds.settle_refund,
            refunds.void_grant,
            risk.assess_risk,
        ],
    )


async def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    engine = make_engine(settings.require_database_url())
    sessions = make_session_factory(engine)
    sandbox = SandboxPaymentGateway(
        settings.payment_sandbox.url, settings.payment_sandbox.api_key.get_secret_value()
    )
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    worker = build_worker(client, settings, sessions, {sandbox.name: sandbox})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("worker polling task queue %s", settings.temporal_task_queue)
        await stop.wait()
    await sandbox.aclose()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
