"""The read-path section's figures and its markdown: each listing's latencies with the plans of
its statements, with the listing's indexes and without them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from bench.read_cases import Caller, Case
from bench.read_plans import Plan
from bench.read_seed import Seeded

GOAL = 0.050  # seconds, p99 of one page
PAGE = 20  # the API's default page size, as callers get it without `limit`
LISTING_INDEXES = "0006"  # the migration that adds the listing's indexes
WARM_UP = 10  # requests per case before the timed ones


@dataclass(frozen=True)
class Page:
    """One page of a case: the requests for it (each with the cursor that reaches it)."""

    case: Case
    number: int
    last: bool  # the list ended here, before the page asked for
    asks: list[tuple[Caller, dict[str, str]]]
    after: tuple[datetime, str] | None  # the first ask's last row of the page before

    @property
    def label(self) -> str:
        return f"{self.number} (last)" if self.last else str(self.number)


@dataclass(frozen=True)
class Timed:
    page: Page
    latencies: list[float]
    plans: list[Plan]
    cpu: dict[str, float]  # CPU seconds of the API process and of PostgreSQL, all requests
    answers: Counter[int] = field(default_factory=Counter)  # requests by status code

    def cpu_ms(self, part: str) -> float:
        return self.cpu.get(part, 0.0) / len(self.latencies) * 1000

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Measured:
    seeded: Seeded
    pages: tuple[int, ...]  # pages timed of each list
    followed: int  # requests sent following cursors to them
    floor: list[float]  # seconds of each `GET /healthz`: HTTP and the framework alone
    with_indexes: list[Timed]
    without: list[Timed]
    listing_indexes: list[str]  # the indexes the migration adds
    phases: dict[str, float]  # seconds
    seconds: float


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _table(timed: list[Timed], *, with_count: bool) -> list[str]:
    lines = [
        "| caller | filter | page | "
        + ("tickets matching | " if with_count else "requests | ")
        + "p50 | p99 | max | p99 / 50 ms | CPU per request: API, PostgreSQL "
        "| the tickets query uses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in timed:
        page = t.page
        plan = t.plans[0].verdict()
        counted = f"{page.case.matching:,}" if with_count else str(len(t.latencies))
        failed = {code: n for code, n in sorted(t.answers.items()) if code != 200}
        if failed:
            counted += " (" + ", ".join(f"{n} answered {code}" for code, n in failed.items()) + ")"
        ratio = t.quantile(0.99) / GOAL
        lines.append(
            f"| {page.case.who} | {page.case.filter} | {page.label} | {counted} | "
            f"{_ms(t.quantile(0.5))} | {_ms(t.quantile(0.99))} | {_ms(max(t.latencies))} | "
            f"{'**' if ratio > 1 else ''}{ratio:.2f}{'**' if ratio > 1 else ''} | "
            f"{t.cpu_ms('api'):.1f} ms, {t.cpu_ms('postgres'):.1f} ms | {plan} |"
        )
    return lines


def _plans_block(timed: list[Timed], title: str) -> list[str]:
    lines = ["<details>", f"<summary>{title}</summary>", ""]
    for t in _first_and_deepest(timed):
        page = t.page
        lines += [f"{page.case.who}, {page.case.filter}, page {page.label}:", "", "```text"]
        lines += t.plans[0].compact()
        lines += ["```", ""]
    lines += ["</details>", ""]
    return lines


def _indexes_table(measured: Measured) -> list[str]:
    seeded = measured.seeded
    lines = ["| index | built in | size | bytes per ticket |", "|---|---|---|---|"]
    for name, size in seeded.ticket_indexes.items():
        added = f" (migration {LISTING_INDEXES})" if name in measured.listing_indexes else ""
        built = seeded.steps.get(f"index {name}")
        lines.append(
            f"| `{name}`{added} | {'' if built is None else f'{built:.1f} s'} | "
            f"{size / 2**20:,.1f} MiB | {size / seeded.spread.tickets:.0f} |"
        )
    return lines


def _first_and_deepest(timed: list[Timed]) -> list[Timed]:
    """Each case's first page and its deepest: the pages between are planned alike."""
    by_case: dict[int, list[Timed]] = {}
    for t in timed:
        by_case.setdefault(id(t.page.case), []).append(t)
    return [t for group in by_case.values() for t in [group[0], *group[1:][-1:]]]


def report(measured: Measured) -> list[str]:
    after, before = measured.with_indexes, measured.without
    return [
        f"## Reading tickets: `GET /v1/tickets` over {measured.seeded.spread.tickets:,} tickets",
        "",
        _method(measured),
        "",
        *_figures(measured),
        "",
        f"With the schema as migrated (the listing's indexes of migration {LISTING_INDEXES}):",
        "",
        *_table(after, with_count=True),
        "",
        "Without them (dropped, every other index and migration kept; same data, same run, "
        "first pages, no warm-up; requests for at most 3 s per case (two at least), so p99 is "
        "the slowest of few):",
        "",
        *_table(before, with_count=False),
        "",
        "The tickets table's indexes, as seeded (built two at a time; the primary key as the "
        "rows went in):",
        "",
        *_indexes_table(measured),
        "",
        *_plans_block(after, "Plans with the listing's indexes"),
        *_plans_block(before, "Plans without them"),
        "<details>",
        "<summary>The statements one listing sends (a merchant's queue, by cursor)</summary>",
        "",
        "```sql",
        *_statements(after),
        "```",
        "",
        "</details>",
        "",
    ]


def _method(measured: Measured) -> str:
    spread = measured.seeded.spread
    unfiltered = [
        t.page.case
        for t in measured.with_indexes
        if t.page.case.filter == "none" and t.page.number == 1
    ]
    merchants = [c.matching for c in unfiltered if c.asks[0][0].role == "merchant"]
    buyers = [c.matching for c in unfiltered if c.asks[0][0].role == "buyer"]
    return (
        f"{spread.tickets:,} tickets of {spread.merchants:,} merchants (the biggest has "
        f"{merchants[0]:,}, the median one {merchants[-1]:,}) and {spread.buyers:,} buyers "
        f"(the one with most has {buyers[0]:,}), created over a year, each on an order of its "
        "own with its line (the amounts, breakdowns and frozen policies the engine itself "
        "computes), seeded by set-based SQL into a database of their own on the stack's "
        "PostgreSQL (`bench/read_seed.py`), analysed, and read by an API process of its own "
        "(`uvicorn api.app:create_app --factory`, request limits off as on the stack). Each "
        "caller lists with its own API key as the API scopes it (support: everyone's "
        "tickets; a merchant, a buyer, a warehouse: their own), "
        f"{PAGE} tickets a page (the default). Pages {', '.join(map(str, measured.pages))} "
        "of each list are reached by following `next_cursor` from page 1 "
        f"({measured.followed:,} requests in all); a lookup by `ticket_no` or `order_id` "
        f"takes a different one for each request. Each case: {WARM_UP} requests to warm up, "
        f"then {len(measured.with_indexes[0].latencies)} one after the other over HTTP, each "
        "timed from send to the whole answer read (authentication, the listing and its "
        "tickets' lines, JSON); CPU: user and system seconds of the API process and of "
        "PostgreSQL (its postmaster and backends) over the timed requests, divided by them. "
        "Plans: `EXPLAIN (ANALYZE, BUFFERS)` of the statements "
        "`persistence.tickets.list_tickets` sent for the case's first request, caught as "
        "SQLAlchemy handed them to the driver and explained with the same parameters."
    )


def _figures(measured: Measured) -> list[str]:
    seeded, spread = measured.seeded, measured.seeded.spread
    after, before = measured.with_indexes, measured.without
    worst = max(after, key=lambda t: t.quantile(0.99))
    worst_before = max(before, key=lambda t: t.quantile(0.99))
    lines_plan = after[0].plans[1].verdict() if len(after[0].plans) > 1 else "none"
    floor = Timed(after[0].page, measured.floor, [], {})
    phases = ", ".join(
        f"{name} {seeded.steps[name]:.1f} s"
        for name in ("draws", "inserts", "indexes", "foreign keys", "analyze")
    )
    on_indexes = all(not t.plans[0].seq_scans for t in after)
    return [
        f"- Seeded in {seeded.seconds:.0f} s ({phases}; inserts and index builds two at a "
        "time; each index's build below).",
        f"- Database: {seeded.database_bytes / 2**20:,.0f} MiB, "
        f"{seeded.database_bytes / spread.tickets / 1024:.1f} KiB per ticket; the tickets table "
        f"with its TOAST and indexes {seeded.ticket_table_bytes / 2**20:,.0f} MiB, "
        f"{seeded.ticket_table_bytes / spread.tickets / 1024:.1f} KiB per ticket.",
        f"- Worst p99: **{_ms(worst.quantile(0.99))}** ({worst.page.case.who}, "
        f"{worst.page.case.filter}, page {worst.page.label}), "
        f"{worst.quantile(0.99) / GOAL:.2f} of the 50 ms goal; without the listing's indexes "
        f"{_ms(worst_before.quantile(0.99))} ({worst_before.page.case.who}, "
        f"{worst_before.page.case.filter}).",
        f"- Every tickets query on an index: {'yes' if on_indexes else '**no**'}. Each page "
        f"also loads its tickets' lines: {lines_plan}.",
        f"- The floor, `GET /healthz` (no key, no database) from the same client: p50 "
        f"{_ms(floor.quantile(0.5))}, p99 {_ms(floor.quantile(0.99))} over "
        f"{len(floor.latencies)} requests.",
        f"- Section measured in {measured.seconds:.0f} s: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in measured.phases.items())
        + ".",
    ]


def _statements(timed: list[Timed]) -> list[str]:
    for t in timed:
        caller, params = t.page.asks[0]
        if caller.role == "merchant" and "status" in params and t.page.after is not None:
            return _sql(t.plans)
    return _sql(timed[0].plans)


def _sql(plans: list[Plan]) -> list[str]:
    return [line.rstrip() for plan in plans for line in (plan.statement + ";").splitlines()]
