"""The payment sandbox answering refunds badly, through its control API's request rules: 500
(before or after making the refund), slowly but within the engine's client timeout, and past it
(the refund made before, after the delay, or never). Every refund must still be made exactly once.
"""

from __future__ import annotations

import inspect
import random
import time
from collections import Counter
from typing import Any

import contracts as c
from adapters.sandbox_client import SandboxClient
from reliability.checks import settle
from reliability.flows import Flow, new_orders, open_tickets, reviewed, traffic
from reliability.harness import Stack
from reliability.runs import Run
from reliability.traffic import Answers

# The payment adapter's HTTP timeout as the worker builds it (adapters/sandbox_client.py).
CLIENT_TIMEOUT: float = inspect.signature(SandboxClient.__init__).parameters["timeout"].default
TIMEOUT_ACTS = ("before", "after_delay", "never")


async def _add_rules(stack: Stack, *rules: dict[str, Any]) -> None:
    async with stack.sandbox() as sandbox:
        for rule in rules:
            answer = await sandbox.post("/v1/control/rules", json=rule)
            assert answer.status_code == 201, answer.text


async def _rules_left(stack: Stack) -> list[dict[str, Any]]:
    async with stack.sandbox() as sandbox:
        answer = await sandbox.get("/v1/control/rules")
        assert answer.status_code == 200, answer.text
        left: list[dict[str, Any]] = answer.json()
        return left


async def _clear_rules(stack: Stack) -> None:
    async with stack.sandbox() as sandbox:
        assert (await sandbox.delete("/v1/control/rules")).status_code == 204


async def refund_attempts(stack: Stack, flows: list[Flow]) -> Counter[int]:
    """How many attempts each refund call (the execute_refund activity) took, from the tickets'
    workflow histories: attempt 1 is a call answered the first time."""
    attempts: Counter[int] = Counter()
    for flow in flows:
        history = await stack.temporal.get_workflow_handle(flow.ticket_no).fetch_history()
        refunds = {
            event.event_id
            for event in history.events
            if event.activity_task_scheduled_event_attributes.activity_type.name == c.EXECUTE_REFUND
        }
        for event in history.events:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in refunds:
                attempts[started.attempt] += 1
    return attempts


def _attempts_text(attempts: Counter[int]) -> str:
    """`refund attempts: 1 x10, 2 x20`: ten refund calls answered at the first attempt, twenty
    at the second."""
    shown = ", ".join(f"{attempt} x{n}" for attempt, n in sorted(attempts.items()))
    return f"refund attempts: {shown or 'none'}"


async def answering_500(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """The provider answers 500 to the first refund requests: a third of them before doing
    anything, a third after making the refund (it failed between its commit and its answer)."""
    share = count // 3
    rules = [
        {"outcome": "http_500", "acts": "never", "times": share},
        {"outcome": "http_500", "acts": "before", "times": share},
    ]
    await _add_rules(stack, *rules)
    answers.fault_started()
    flows = await traffic(stack, rng, answers, count, rng.uniform(0.2, 0.5))
    ended = time.monotonic()
    await settle(stack, flows, ended)  # bounded; the runner's checks say what is off
    answers.fault_ended()
    left = {rule["acts"]: rule["times_remaining"] for rule in await _rules_left(stack)}
    never, before = (share - left.get(acts, 0) for acts in ("never", "before"))
    await _clear_rules(stack)
    injected = [
        f"provider 500 x{never} before acting, 500 x{before} after making the refund",
        _attempts_text(await refund_attempts(stack, flows)),
    ]
    return Run(flows, injected, ended)


async def slow(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Every refund request answered after a delay below the engine's client timeout: the refund
    is made, late, and the call that waited for it is not retried."""
    delay = round(rng.uniform(0.4, 0.8) * CLIENT_TIMEOUT, 1)
    await _add_rules(stack, {"outcome": "slow", "delay": delay})
    answers.fault_started()
    flows = await traffic(stack, rng, answers, count, rng.uniform(0.2, 0.5))
    ended = time.monotonic()
    await settle(stack, flows, ended)  # bounded; the runner's checks say what is off
    answers.fault_ended()
    await _clear_rules(stack)
    injected = [
        f"provider answers every refund after {delay:.1f} s (client timeout"
        f" {CLIENT_TIMEOUT:.0f} s)",
        # More than one attempt would mean a slow answer was taken for a failure.
        _attempts_text(await refund_attempts(stack, flows)),
    ]
    return Run(flows, injected, ended)


async def timing_out(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Each order's first refund request held past the engine's client timeout (by a delay drawn
    per order), the provider making the refund at once, only after the delay (while or after the
    engine retries under the same key), or never."""
    flows = await new_orders(stack, answers, rng, count, rng.uniform(0.2, 0.5))
    # The engine retries about 1 s after its timeout: some delays end before that, most after.
    chosen = [
        (rng.choice(TIMEOUT_ACTS), round(rng.uniform(0.5, 4.0) + CLIENT_TIMEOUT, 1)) for _ in flows
    ]
    await _add_rules(
        stack,
        *(
            {
                "match_payment_reference": flow.order.reference,
                "outcome": "timeout",
                "acts": acts,
                "delay": delay,
                "times": 1,
            }
            for flow, (acts, delay) in zip(flows, chosen, strict=True)
        ),
    )
    answers.fault_started()
    await open_tickets(stack, answers, flows)
    await reviewed(stack, answers, flows)
    ended = time.monotonic()
    await settle(stack, flows, ended)  # bounded; the runner's checks say what is off
    answers.fault_ended()
    held = count - len(await _rules_left(stack))
    await _clear_rules(stack)
    by_acts = Counter(acts for acts, _ in chosen)
    delays = [delay for _, delay in chosen]
    injected = [
        f"provider held {held} refund answers {min(delays):.1f}-{max(delays):.1f} s (client"
        f" timeout {CLIENT_TIMEOUT:.0f} s): refund made at once x{by_acts['before']}, after the"
        f" delay x{by_acts['after_delay']}, never x{by_acts['never']}",
        _attempts_text(await refund_attempts(stack, flows)),
    ]
    return Run(flows, injected, ended)
