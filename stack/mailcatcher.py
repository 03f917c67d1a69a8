"""`python -m stack.mailcatcher`: a local SMTP sink that keeps every mail as an `.eml` file.

The run command starts it so notification mail can be read in `<data dir>/mail`; tests start
`catching()` in their own event loop and read `MailSink.messages`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope

from observability.logs import configure_from_environment

log = logging.getLogger("aftersales.mailcatcher")


class MailSink:
    """An aiosmtpd handler: parses each mail, keeps it, and writes it to `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        # File numbers continue after what an earlier run left in the directory.
        existing = sorted(directory.glob("*.eml")) if directory and directory.is_dir() else []
        self._numbered = int(existing[-1].stem) if existing else 0

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw or "").encode()
        message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))
        self.messages.append(message)
        if self.directory is not None:
            self._numbered += 1
            path = self.directory / f"{self._numbered:06d}.eml"
            await asyncio.to_thread(_write, path, data)
        return "250 Message accepted for delivery"

    def by_message_id(self, message_id: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["Message-ID"] == message_id]


@asynccontextmanager
async def catching(
    host: str = "127.0.0.1", port: int = 8025, directory: Path | None = None
) -> AsyncIterator[MailSink]:
    """Serve SMTP on `host:port` in the running event loop until the block ends."""
    sink = MailSink(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="mailcatcher.local", enable_SMTPUTF8=True), host, port
    )
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _serve(host: str, port: int, directory: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with catching(host, port, directory):
        log.info("SMTP on %s:%d, mail kept in %s", host, port, directory)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack.mailcatcher", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True, help="where .eml files are written")
    args = parser.parse_args(argv)
    configure_from_environment()
    asyncio.run(_serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
