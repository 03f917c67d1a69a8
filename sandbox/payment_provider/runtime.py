"""What the routes and the background loops of one running provider share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sandbox.payment_provider.config import ProviderConfig
from sandbox.payment_provider.db import Database


@dataclass
class ProviderRuntime:
    config: ProviderConfig
    db: Database
    # Set when a refund may have become due, or an event was written, to cut a loop's sleep short.
    settle_wake: asyncio.Event = field(default_factory=asyncio.Event)
    deliver_wake: asyncio.Event = field(default_factory=asyncio.Event)

    @staticmethod
    def now() -> float:
        return time.time()
