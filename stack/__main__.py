"""`python -m stack`: run the engine on embedded defaults until Ctrl-C or SIGTERM, restarting a
child that dies (stack/supervisor.py); exit 1 when one keeps dying or the start fails."""

from __future__ import annotations

import asyncio
import signal
import sys
import traceback

from settings import get_settings
from stack.errors import StackError
from stack.launcher import Plan, Stack
from stack.processes import say


async def run() -> int:
    stack = Stack(Plan.from_settings(get_settings()))
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stack.stopping:
            return  # already on the way down; the children get their own SIGTERM in order
        stack.stopping = True
        say(f"{signum.name} received, stopping")
        main.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)

    exit_code = 0
    try:
        await stack.start()
        await stack.watch()
    except asyncio.CancelledError:
        main.uncancel()  # a requested stop, not a failure
    except StackError as err:
        say(str(err))
        exit_code = 1
    except Exception:
        traceback.print_exc()
        exit_code = 1
    finally:
        await stack.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(asyncio.run(run()))
