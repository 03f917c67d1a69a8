"""A what-if run's workflow input, its activities and their payloads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.rules import RuleSet
from domain.what_if import WhatIfTotals

COUNT_WHAT_IF = "count_what_if"
RE_DECIDE_PAGE = "re_decide_page"
FINISH_WHAT_IF = "finish_what_if"
# The what-if workflow's query of how far it has come.
PROGRESS_QUERY = "progress"


class WhatIfRequest(BaseModel):
    run_id: str
    merchant_id: str
    rules: RuleSet
    period_from: datetime
    period_to: datetime
    page_size: int = 250


class WhatIfPage(BaseModel):
    request: WhatIfRequest
    offset: int
    # Totals of the pages before this one; the page adds its own and stores the sum.
    totals: WhatIfTotals


class WhatIfPageDone(BaseModel):
    tickets: int
    totals: WhatIfTotals


class WhatIfProgress(BaseModel):
    run_id: str
    done: int
    total: int | None
    finished: bool
    totals: WhatIfTotals
