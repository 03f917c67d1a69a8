"""Brings the engine up on embedded defaults, keeps it up, and takes it down again, in order."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from settings import Settings
from stack import temporal_dev
from stack.banner import banner, read_demo_keys
from stack.errors import StackError
from stack.ports import require_free
from stack.postgres import EmbeddedPostgres
from stack.postmaster import Postmaster
from stack.processes import Child, say
from stack.supervisor import Supervisor
from stack.temporal_admin import ensure_namespace_and_search_attributes
from stack.worker_health import identity, polls_of

READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Plan:
    data_dir: Path
    api_port: int
    sandbox_port: int
    courier_port: int
    smtp_port: int
    namespace: str
    task_queue: str
    temporal_port: int
    ui_port: int
    ui_url: str
    temporal_address: str | None  # None: start the embedded dev server
    database_url: str | None  # None: start the embedded PostgreSQL
    worker_processes: int
    worker_metrics_address: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Plan:
        external_temporal = "temporal_address" in settings.model_fields_set
        return cls(
            data_dir=settings.data_dir.resolve(),
            api_port=settings.api_port,
            sandbox_port=settings.payment_sandbox.port,
            courier_port=settings.courier_sandbox.port,
            smtp_port=settings.notify.smtp_port,
            namespace=settings.temporal_namespace,
            task_queue=settings.temporal_task_queue,
            temporal_port=settings.temporal_dev_port,
            ui_port=settings.temporal_ui_port,
            ui_url=settings.ui_url,
            temporal_address=settings.temporal_address if external_temporal else None,
            database_url=settings.database_url,
            worker_processes=settings.worker_processes,
            worker_metrics_address=settings.worker_metrics_address,
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def log(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    @property
    def workers(self) -> list[tuple[str, str | None]]:
        """Each worker process's name and the address it serves its metrics on."""
        addresses = metrics_addresses(self.worker_metrics_address, self.worker_processes)
        return list(zip(worker_names(self.worker_processes), addresses, strict=True))


def worker_names(count: int) -> list[str]:
    """`worker`, then `worker-2`, `worker-3`…: the first keeps the name of a single worker."""
    return ["worker", *(f"worker-{number}" for number in range(2, count + 1))]


def metrics_addresses(address: str | None, count: int) -> list[str | None]:
    """WORKER_METRICS_ADDRESS for each of `count` worker processes: the first serves on its
    port, each next one on the next port (port 0: each on a port of its own choosing)."""
    if address is None:
        return [None] * count
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise StackError(f"WORKER_METRICS_ADDRESS={address!r} is not host:port")
    first = int(port)
    if first == 0:
        return [address] * count
    if first + count - 1 > 65535:
        raise StackError(
            f"WORKER_METRICS_ADDRESS={address!r}: {count} worker processes need ports "
            f"{first} to {first + count - 1}"
        )
    return [f"{host}:{first + offset}" for offset in range(count)]


class Stack:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATA_DIR": str(plan.data_dir)}
        self.children: list[Child] = []
        self.postgres: EmbeddedPostgres | None = None
        self.supervisor = Supervisor(plan.data_dir / "pids.json")
        self.temporal: Client | None = None

    @property
    def stopping(self) -> bool:
        return self.supervisor.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self.supervisor.stopping = value

    async def start(self) -> None:
        plan = self.plan
        (plan.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        require_free(self._ports())
        self._require_free_metrics_ports()
        await self._start_temporal()
        self._start_postgres()
        self.env.setdefault("PAYMENT_SANDBOX_URL", f"http://127.0.0.1:{plan.sandbox_port}")
        self.env.setdefault("COURIER_SANDBOX_URL", f"http://127.0.0.1:{plan.courier_port}")
        python = sys.executable
        await self._run_once("migrate", [python, "-m", "persistence.migrate"])
        await self._run_once("seed", [python, "-m", "stack.seed"])
        webhook = f"{plan.api_url}/v1/webhooks/payments/sandbox"
        await self._spawn(
            "payment-sandbox",
            [
                *(python, "-m", "sandbox.payment_provider"),
                *("--host", "127.0.0.1", "--port", str(plan.sandbox_port)),
                *("--data-dir", str(plan.data_dir / "payment-sandbox"), "--webhook-url", webhook),
            ],
        )
        # `{carrier}` is filled in by the courier sandbox for each parcel's carrier.
        courier_webhook = f"{plan.api_url}/v1/webhooks/couriers/{{carrier}}"
        await self._spawn(
            "courier-sandbox",
            [
                *(python, "-m", "sandbox.courier"),
                *("--host", "127.0.0.1", "--port", str(plan.courier_port)),
                *("--data-dir", str(plan.data_dir / "courier-sandbox")),
                *("--webhook-url", courier_webhook),
            ],
        )
        # A local SMTP sink: every mail the engine sends lands in DATA_DIR/mail as an .eml file.
        await self._spawn(
            "mailcatcher",
            [
                *(python, "-m", "stack.mailcatcher"),
                *("--host", "127.0.0.1", "--port", str(plan.smtp_port)),
                *("--dir", str(plan.data_dir / "mail")),
            ],
        )
        for name, metrics in plan.workers:
            extra = {} if metrics is None else {"WORKER_METRICS_ADDRESS": metrics}
            await self._spawn(name, [python, "worker.py"], extra)
        await self._spawn(
            "api",
            [
                *(python, "-m", "uvicorn", "api.app:create_app", "--factory"),
                *("--host", "127.0.0.1", "--port", str(plan.api_port)),
            ],
        )
        await self._wait_until_ready()
        keys_path = plan.data_dir / "demo-keys.json"
        print(banner(plan.api_url, plan.ui_url, keys_path, read_demo_keys(keys_path)), flush=True)

    async def watch(self) -> None:
        """Return never; raise when the supervisor gives up on a child that keeps dying."""
        raise await self.supervisor.failure()

    async def stop(self) -> None:
        """Restarts end first; then children in reverse start order (API first, Temporal last),
        then PostgreSQL."""
        await self.supervisor.stop()
        if not self.children and self.postgres is None:
            return
        for child in reversed(self.children):
            if child.returncode is None:
                say(f"stopping {child.name}")
            await child.stop(grace=10.0)
        self.children.clear()
        if self.postgres is not None:
            say("stopping postgres")
            self.postgres.stop()
            self.postgres = None
        self.supervisor.forget_pids()
        say("stopped")

    def _ports(self) -> dict[str, int]:
        ports = {
            "API": self.plan.api_port,
            "payment sandbox": self.plan.sandbox_port,
            "courier sandbox": self.plan.courier_port,
            "SMTP sink": self.plan.smtp_port,
        }
        if self.plan.temporal_address is None:
            ports |= {"Temporal gRPC": self.plan.temporal_port, "Temporal UI": self.plan.ui_port}
        return ports

    def _require_free_metrics_ports(self) -> None:
        """Worker processes serve their metrics on ports one after the other: all free first."""
        served = [(name, address) for name, address in self.plan.workers if address is not None]
        if not served:
            return
        host = served[0][1].rpartition(":")[0]
        ports = {f"{name} metrics": int(address.rpartition(":")[2]) for name, address in served}
        if not host.startswith("[") and all(ports.values()):  # IPv6 and port 0 are not checked
            require_free(ports, host)

    async def _start_temporal(self) -> None:
        plan = self.plan
        server = None
        address = plan.temporal_address
        if address is None:
            address = temporal_dev.address(plan.temporal_port)
            server = temporal_dev.dev_server(
                plan.data_dir, plan.namespace, plan.temporal_port, plan.ui_port, self.env
            )
            say(f"starting Temporal dev server on {address} (log: {server.log_path})")
            await server.start()
            self.children.append(server)
            self.supervisor.supervise(server)
        # The supervisor restarts a dev server that dies while starting, or gives up on it.
        client = await self.supervisor.unless_gave_up(
            temporal_dev.wait_until_serving(None, address, plan.namespace)
        )
        added = await ensure_namespace_and_search_attributes(client, plan.namespace)
        self.temporal = client
        say(f"Temporal ready at {address}, namespace {plan.namespace!r}" + _added(added))
        self.env["TEMPORAL_ADDRESS"] = address

    def _start_postgres(self) -> None:
        if self.plan.database_url is not None:
            say("using the PostgreSQL at DATABASE_URL")
            self.env["DATABASE_URL"] = self.plan.database_url
            return
        pgdata = self.plan.data_dir / "postgres"
        say(f"starting embedded PostgreSQL in {pgdata}")
        self.postgres = EmbeddedPostgres(pgdata)
        self.postgres.start()
        self.supervisor.supervise(Postmaster(pgdata))
        if self.postgres.ensure_database():
            say("created database 'aftersales'")
        self.env["DATABASE_URL"] = self.postgres.sqlalchemy_url()

    async def _run_once(self, name: str, argv: list[str]) -> None:
        say(f"running {name}")
        child = Child(name, argv, env=self.env, log_path=self.plan.log(name), echo=False)
        await child.start()
        self.children.append(child)
        code = await child.wait()
        self.children.remove(child)
        if code != 0:
            raise StackError(
                f"{name} failed with exit code {code}; its output "
                f"(also in {child.log_path}):\n{child.tail(200)}"
            )

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        child = Child(name, argv, env=self.env | (env or {}), log_path=self.plan.log(name))
        await child.start()
        self.children.append(child)
        self.supervisor.supervise(child)

    async def _wait_until_ready(self) -> None:
        """Until the API answers /readyz and every worker process polls the task queue."""
        deadline = time.monotonic() + READY_TIMEOUT
        url = f"{self.plan.api_url}/readyz"
        say(f"waiting for {url}")
        if not await self.supervisor.unless_gave_up(_answers_200(url, READY_TIMEOUT)):
            raise StackError(
                f"{url} did not answer 200 within {READY_TIMEOUT:.0f} s\n{self._tails()}"
            )
        count = self.plan.worker_processes
        say(f"waiting for {count} worker process{'es' if count > 1 else ''} to poll")
        missing = await self.supervisor.unless_gave_up(self._workers_polling(deadline))
        if missing:
            raise StackError(
                f"worker processes not polling within {READY_TIMEOUT:.0f} s: "
                f"{'; '.join(missing)}\n{self._tails()}"
            )

    async def _workers_polling(self, deadline: float) -> list[str]:
        """What is still missing at the deadline; empty once every worker process polls. Each
        one's identity is read again at every look, so a worker restarted meanwhile counts."""
        assert self.temporal is not None
        names = {name for name, _ in self.plan.workers}
        while True:
            wanted = [identity(c.pid) for c in self.children if c.name in names]
            try:
                missing = await polls_of(self.temporal, self.plan.task_queue, wanted)
            except RPCError as err:  # Temporal restarting: ask again
                missing = [f"Temporal: {err}"]
            if not missing or time.monotonic() > deadline:
                return missing
            await asyncio.sleep(0.5)

    def _tails(self) -> str:
        return "\n".join(
            f"--- {child.name} ({child.log_path}) ---\n{child.tail()}" for child in self.children
        )


async def _answers_200(url: str, patience: float) -> bool:
    deadline = time.monotonic() + patience
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    return False


def _added(names: list[str]) -> str:
    return f"; registered search attributes {', '.join(names)}" if names else ""
