"""localstripe (PyPI: a fake Stripe API server on aiohttp) as a subprocess on a free local port.

localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle after every write;
the runner below turns that off, so parallel runs neither share state nor trip over a file another
user owns. Every start is from scratch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

import httpx

from tests.support.servers import free_port

_RUNNER = """
import sys
import localstripe.resources
localstripe.resources.Store.dump_to_disk = lambda self: None
from localstripe import server
sys.argv = ["localstripe", "--port", sys.argv[1], "--from-scratch"]
server.start()
"""


@dataclass
class LocalStripe:
    url: str
    process: asyncio.subprocess.Process
    # Its access log: a file, not a pipe, since a pipe nobody reads fills up and blocks it.
    log: IO[bytes]

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@contextlib.asynccontextmanager
async def running_localstripe(startup_seconds: float = 30.0) -> AsyncIterator[LocalStripe]:
    port = free_port()
    with tempfile.TemporaryFile(prefix="localstripe-") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _RUNNER, str(port), stdout=log, stderr=log
        )
        server = LocalStripe(url=f"http://127.0.0.1:{port}", process=process, log=log)
        try:
            try:
                async with asyncio.timeout(startup_seconds):
                    await _wait_until_up(server)
            except TimeoutError:
                raise RuntimeError(f"localstripe did not start: {server.log_tail()}") from None
            yield server
        finally:
            await server.stop()


async def _wait_until_up(server: LocalStripe) -> None:
    async with httpx.AsyncClient() as http:
        while True:
            if server.process.returncode is not None:
                raise RuntimeError(f"localstripe exited: {server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                # Any HTTP answer (401 without a key) means it is serving.
                await http.get(server.url + "/v1/balance", timeout=1)
                return
            await asyncio.sleep(0.05)
