"""Scale-out rehearsed with processes: two API processes behind a balancer and two worker processes,
each an OS process of its own, on one Temporal dev server and one PostgreSQL database.

What it proves: API and worker processes keep nothing a ticket needs. Tickets of every kind (refund
before shipment, refunds approved and rejected after delivery, returns shipped back with the
courier sandbox and inspected at the warehouse) go through both APIs in turn, and the courier and
payment sandboxes' webhooks through the same balancer. One API and one worker are SIGKILLed at
seeded moments while the tickets are under way (the worker not before it has taken a task), and
neither is restarted: requests cut on the dead API are sent again with their Idempotency-Key and
the balancer passes its closed port over, so the surviving API answers them; the dead worker's
workflow and activity tasks time out and the surviving worker takes them. At the end every ticket
is in the status its events imply (a refund before shipment decided after six of the buyer's
refunds is escalated to support for its risk, SPEC §5), and the fault suite's invariants hold
(reliability/checks.py): no difference between rows and workflows, one ticket per order, no refund
twice or above what was paid, ledger, timeline and provider in agreement. Its histories show that
both workers took tasks, the dead one before its death.

A Temporal dev server of its own and a database of its own (on the suite's PostgreSQL): ticket
numbers, which are workflow ids, start again in a new database, and the buyer's history, which
decides its risk, is this test's alone. SCALE_OUT_SEED replays another run's choices.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from contracts.search_attributes import ALL_KEYS
from persistence.db import Bounds, make_engine, make_session_factory
from reliability import checks
from reliability.balancer import Balancer
from reliability.fleet import ROOT, api_process, start_serving, worker_process
from reliability.flows import Flow
from reliability.harness import Stack
from reliability.runner import one_creation_per_order
from reliability.scale_out import Victims, rehearse, work_of
from reliability.traffic import Answers, render
from sandbox.courier import CourierConfig
from sandbox.courier import create_app as create_courier
from sandbox.payment_provider import ProviderConfig
from sandbox.payment_provider import create_app as create_provider
from settings import Settings
from stack.mailcatcher import catching
from stack.seed import seed
from stack.worker_health import identity
from tests.simulation.records import read_rows
from tests.support.database import fresh_database
from tests.support.servers import free_port, serving
from tests.support.temporal import dev_server_path

SEED = int(os.environ.get("SCALE_OUT_SEED", "20261201"))
TICKETS = 16
QUEUE = "aftersales"
PATIENT = timedelta(seconds=20)
# Settings the processes take from this test, not from whoever runs it.
_OURS = (
    "DATABASE_URL",
    "DATA_DIR",
    "TEMPORAL_",
    "PAYMENT_SANDBOX_",
    "COURIER_SANDBOX_",
    "STRIPE_",
    "NOTIFY_",
    "LIMITS_",
    "REFUND_",
    "DEADLINE_",
    "POLICY_",
    "WORKER_",
)


@pytest.fixture
def scale_out_database(database_url: str) -> Iterator[str]:
    with fresh_database(database_url) as url:
        yield url


@contextlib.asynccontextmanager
async def temporal_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def sandboxes(data_dir: Path, settings: Settings, api: str) -> AsyncIterator[dict[str, int]]:
    """The payment and courier sandboxes, their webhooks sent to `api`; where the fault suite's
    checks read their SQLite files."""
    for name in ("payment-sandbox", "courier-sandbox"):
        (data_dir / name).mkdir(parents=True)
    payments, couriers = settings.payment_sandbox, settings.courier_sandbox
    provider = ProviderConfig(
        db_path=data_dir / "payment-sandbox" / "payment_sandbox.sqlite3",
        api_key=payments.api_key.get_secret_value(),
        webhook_url=f"{api}/v1/webhooks/payments/sandbox",
        webhook_secret=payments.webhook_secret.get_secret_value(),
        settle_delays={"wallet": 0.2, "card": 0.4},
        webhook_backoff_initial=0.2,
        webhook_backoff_cap=1.0,
    )
    courier = CourierConfig(
        db_path=data_dir / "courier-sandbox" / "courier_sandbox.sqlite3",
        api_key=couriers.api_key.get_secret_value(),
        webhook_url=f"{api}/v1/webhooks/couriers/{{carrier}}",
        webhook_secret=couriers.webhook_secret.get_secret_value(),
        webhook_backoff_initial=0.2,
        webhook_backoff_cap=1.0,
    )
    ports = {"sandbox": free_port(), "courier": free_port(), "smtp": free_port()}
    async with (
        serving(create_provider(provider), ports["sandbox"]),
        serving(create_courier(courier), ports["courier"]),
        catching("127.0.0.1", ports["smtp"], data_dir / "mail"),
    ):
        yield ports


def process_env(
    database: str, temporal: str, data_dir: Path, ports: dict[str, int], settings: Settings
) -> dict[str, str]:
    """What every API and worker process is started with."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
    payments, couriers = settings.payment_sandbox, settings.courier_sandbox
    return inherited | {
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": temporal,
        "TEMPORAL_TASK_QUEUE": QUEUE,
        "DATA_DIR": str(data_dir),
        "PAYMENT_SANDBOX_URL": f"http://127.0.0.1:{ports['sandbox']}",
        "PAYMENT_SANDBOX_API_KEY": payments.api_key.get_secret_value(),
        "PAYMENT_SANDBOX_WEBHOOK_SECRET": payments.webhook_secret.get_secret_value(),
        "COURIER_SANDBOX_URL": f"http://127.0.0.1:{ports['courier']}",
        "COURIER_SANDBOX_API_KEY": couriers.api_key.get_secret_value(),
        "COURIER_SANDBOX_WEBHOOK_SECRET": couriers.webhook_secret.get_secret_value(),
        "NOTIFY_SMTP_PORT": str(ports["smtp"]),
        # Every call comes from 127.0.0.1 with a few keys; limits would only add 429s.
        "LIMITS_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


async def timelines(stack: Stack, flows: list[Flow]) -> list[str]:
    """Each ticket's steps, to read a failure by."""
    rows = await read_rows(stack.sessions, [flow.ticket_no for flow in flows if flow.ticket_no])
    return [
        f"{no} ({row.status}): " + " -> ".join(entry.event for entry in row.entries)
        for no, row in sorted(rows.items())
    ]


async def test_one_api_and_one_worker_killed_mid_run_leave_every_ticket_to_the_survivors(
    scale_out_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that holds settles within seconds; one that cannot fails within a minute.
    monkeypatch.setattr(checks, "SETTLE_BOUND", 60.0)
    rng = random.Random(SEED)
    data_dir, settings = tmp_path / "data", Settings()
    api_ports = [free_port(), free_port()]
    async with contextlib.AsyncExitStack() as exits:
        temporal = (await exits.enter_async_context(temporal_server())).client
        balancer = await exits.enter_async_context(Balancer(api_ports))
        ports = await exits.enter_async_context(sandboxes(data_dir, settings, balancer.url))
        address = temporal.service_client.config.target_host
        env = process_env(scale_out_database, address, data_dir, ports, settings)
        logs = data_dir / "logs"
        apis = {
            port: api_process(f"api-{n}", port, env, logs) for n, port in enumerate(api_ports, 1)
        }
        workers = [worker_process(f"worker-{n}", env, logs) for n in (1, 2)]
        for child in (*apis.values(), *workers):
            exits.push_async_callback(child.stop)
        keys = await seed(scale_out_database, {})
        await start_serving(apis, workers)
        # The checks' reads wait out a machine too busy to open a connection within 3 s.
        engine = make_engine(scale_out_database, pool_size=5, bounds=Bounds(connect=PATIENT))
        exits.push_async_callback(engine.dispose)
        stack = Stack(
            data_dir,
            ports | {"api": balancer.port},
            {label: entry["api_key"] for label, entry in keys.items()},
            engine,
            make_session_factory(engine),
            temporal,
            output=[],
        )
        everyone = [*apis.values(), *workers]
        dead_port, dead_worker = rng.choice(api_ports), rng.choice(workers)
        dead = [apis[dead_port], dead_worker]
        survivors = [child for child in everyone if child not in dead]
        victims = Victims(apis[dead_port], dead_port, dead_worker, survivors)

        answers = Answers()
        run = await rehearse(stack, rng, answers, TICKETS, balancer, victims)
        outcome = await checks.invariants(stack, run.flows, run.fault_ended)
        violations = run.violations + outcome.violations
        violations += await one_creation_per_order(stack, run)
        work = await work_of(temporal, [flow.ticket_no for flow in run.flows if flow.ticket_no])
        if violations:
            violations += await timelines(stack, run.flows)

    told = "; ".join(run.faults)
    assert not violations, f"seed {SEED}: {told}\n" + "\n".join(violations)
    for victim in dead:
        assert victim.returncode == -signal.SIGKILL, f"{victim.name} was not the one killed"
    assert all(balancer.carried[port] for port in api_ports), "both APIs carried calls"
    assert balancer.refused[dead_port] > 0, "no call was turned to the dead API after its death"
    for worker in workers:
        assert work.tasks[identity(worker.pid)] > 0, f"{worker.name} took no task: {work}"
    print(
        f"seed {SEED}: {told}; settled {outcome.settled_after:.1f} s after the traffic;"
        f" connections per API {dict(balancer.carried)}; tasks per worker {dict(work.tasks)};"
        f" answers since the first kill: {render(answers.during)}"
    )
