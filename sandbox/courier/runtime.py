"""What the routes and the background loops of one running courier share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sandbox.courier.config import CourierConfig
from sandbox.courier.db import Database


@dataclass
class CourierRuntime:
    config: CourierConfig
    db: Database
    # Set when an event was written or a plan added, to cut a loop's sleep short.
    deliver_wake: asyncio.Event = field(default_factory=asyncio.Event)
    autopilot_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # How many of the next label requests answer 503, as set by `POST /control/labels/outage`.
    label_outage: int = 0

    @staticmethod
    def now() -> float:
        return time.time()
