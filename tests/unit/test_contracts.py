"""Every payload the workflow exchanges must decode in a fresh worker process, before anything
else has built it (a forward reference left unresolved fails there and only there)."""

from __future__ import annotations

import subprocess
import sys

_CHECK = """
import inspect
from pydantic import BaseModel
import contracts as c
models = [m for _, m in inspect.getmembers(c, inspect.isclass)
          if issubclass(m, BaseModel) and m.__module__.startswith(c.__name__ + ".")]
incomplete = [m.__name__ for m in models if not m.__pydantic_complete__]
print(len(models), ",".join(incomplete))
"""


def test_every_contract_is_complete_as_soon_as_the_module_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHECK], capture_output=True, text=True, check=True
    )
    count, _, incomplete = done.stdout.strip().partition(" ")
    assert int(count) > 20
    assert incomplete == ""
