"""The pages the API serves itself (scan station, dashboard): their files and the headers they
are served with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi.responses import FileResponse

from api.problems import Problem

STATIC = Path(__file__).resolve().parent / "static"
# Everything a page needs comes from this API: no inline script, no other origin.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def page(name: str) -> FileResponse:
    """A page of STATIC, as HTML."""
    return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)


def asset(name: str, assets: Mapping[str, tuple[str, str]]) -> FileResponse:
    """One of a page's own files, by the name the page asks for: (path in STATIC, media type)."""
    known = assets.get(name)
    if known is None:
        raise Problem(404, "not_found", f"no asset {name}")
    path, media_type = known
    return FileResponse(STATIC / path, media_type=media_type, headers=PAGE_HEADERS)
