"""The sandbox SMS provider: messages land in a JSON-lines outbox that tests and people read.

It behaves like a provider: each message gets an id, and a reference already seen returns the
message sent for it instead of sending again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class SandboxSms:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._lock = asyncio.Lock()

    async def send(self, to: str, text: str, reference: str) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._append, to, text, reference)

    async def messages(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read)

    def _read(self) -> list[dict[str, Any]]:
        if not self.outbox.exists():
            return []
        with self.outbox.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def _append(self, to: str, text: str, reference: str) -> str:
        for earlier in self._read():
            if earlier["reference"] == reference:
                return str(earlier["id"])
        message = {
            "id": f"sms_{uuid.uuid4().hex[:16]}",
            "to": to,
            "text": text,
            "reference": reference,
            "at": datetime.now(UTC).isoformat(),
        }
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as out:
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
        return str(message["id"])
