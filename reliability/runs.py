"""What a scenario is and what it hands back to the runner."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from reliability.flows import Flow
from reliability.harness import Stack
from reliability.traffic import Answers


@dataclass
class Run:
    flows: list[Flow]
    faults: list[str] = field(default_factory=list)
    fault_ended: float = 0.0  # monotonic time the last fault was over
    recovery: float | None = None  # seconds from the fault's start until serving again
    violations: list[str] = field(default_factory=list)  # the scenario's own checks


Body = Callable[[Stack, random.Random, Answers, int], Awaitable[Run]]


@dataclass(frozen=True)
class Scenario:
    name: str
    tickets: int
    body: Body
    env: dict[str, str] = field(default_factory=dict)
    provider_proxy: bool = False  # the engine reaches the payment sandbox through a proxy
