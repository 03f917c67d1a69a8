"""Text the database can store: PostgreSQL refuses NUL in text, and UTF-8 has no lone surrogates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text cannot contain the NUL character (U+0000)"
    return "text cannot contain a lone surrogate (U+D800 to U+DFFF)"


def refuse_unstorable(value: Any) -> Any:
    """Raise ValueError when any text in `value` (nested lists and mappings too) is unstorable."""
    if isinstance(value, str):
        reason = unstorable_reason(value)
        if reason is not None:
            raise ValueError(reason)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            refuse_unstorable(key)
            refuse_unstorable(item)
    elif isinstance(value, BaseModel):
        # A nested model of `domain` (a bank account) is walked like a mapping.
        refuse_unstorable(value.__dict__)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_unstorable(item)
    return value


StorableText = Annotated[str, AfterValidator(refuse_unstorable)]
"""Text a pydantic field takes only if the database can store it."""


def storable_copy(value: Any) -> Any:
    """`value` with every unstorable character of its text (nested too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {storable_copy(key): storable_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_copy(item) for item in value]
    return value
