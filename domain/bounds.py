"""How large a count or a number the engine takes: what an order holds and what its columns fit."""

from __future__ import annotations

from typing import Final

# An order line's quantity, and the lines of one order (a ticket names at most 100 of them).
MAX_LINE_QUANTITY: Final = 10_000
MAX_ORDER_LINES: Final = 500
# Versions and key ids are PostgreSQL INTEGERs; other row ids (cursors, notification ids) BIGINTs.
MAX_INTEGER: Final = 2**31 - 1
MAX_VERSION: Final = MAX_INTEGER
MAX_ROW_ID: Final = 2**63 - 1
# Product tags on one order line.
MAX_LINE_TAGS: Final = 20
