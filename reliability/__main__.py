"""`python -m reliability [--only TEXT] [--seed N]`: every scenario, then docs/RELIABILITY.md.
Exit status 1 when any invariant was violated."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from reliability.report import write
from reliability.runner import Result, run_scenario
from reliability.scenarios import SCENARIOS


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("RELIABILITY_SEED", "0")))
    args = parser.parse_args(argv)
    base = args.seed or int(time.time()) % 100_000
    print(f"fault suite, base seed {base}", flush=True)
    started = time.monotonic()
    results: list[Result] = []
    for index, scenario in enumerate(SCENARIOS):
        if args.only and args.only.lower() not in scenario.name.lower():
            continue
        results.append(await run_scenario(scenario, base + index))
    took = time.monotonic() - started
    doc = write(results, base, took)
    violations = sum(len(r.violations) for r in results)
    print(f"{violations} invariant violation(s) in {took / 60:.1f} min; table in {doc}", flush=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
