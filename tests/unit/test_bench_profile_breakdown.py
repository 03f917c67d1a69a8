"""The worker's sampled stacks sorted into its parts, as `make bench --profile` reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile_breakdown import OTHER, breakdown, table

STACKS = """\
_execute_activity (temporalio/worker/_activity.py:712);execute (sqlalchemy/engine/base.py:1) 6
greenlet_spawn (sqlalchemy/util/_concurrency_py3k.py:1);wait (psycopg/connection_async.py:1) 4
_execute_activity (temporalio/worker/_activity.py:712);create_refund (httpx/_client.py:1) 2
_execute_activity (temporalio/worker/_activity.py:712);model_validate (pydantic/main.py:1) 3
_handle_activation (temporalio/worker/_workflow.py:310);transition (workflows/ticket_record.py:90) 3
poll (temporalio/bridge/worker.py:1) 1
select (selectors.py:451) 1
 5
"""


def test_each_sample_goes_to_the_first_part_its_stack_names(tmp_path: Path) -> None:
    collapsed = tmp_path / "worker.txt"
    collapsed.write_text(STACKS)

    total, shares = breakdown(collapsed)

    assert total == 20  # the 5 samples without a Python stack are left out
    assert shares == {
        "activities: SQL (SQLAlchemy, psycopg)": pytest.approx(0.5),
        "activities: HTTP and SMTP to third parties": pytest.approx(0.1),
        "activities: our code, payload conversion": pytest.approx(0.15),
        "workflows: our code and the SDK's workflow side": pytest.approx(0.15),
        "Temporal SDK core bridge (polling, completing tasks)": pytest.approx(0.05),
        OTHER: pytest.approx(0.05),
    }
    assert "| activities: SQL (SQLAlchemy, psycopg) | 50.0 % |" in table(collapsed)
