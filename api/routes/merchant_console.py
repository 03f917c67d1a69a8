"""The returns desk: the merchant console page, which works through the merchant's own API key
on this API (tickets, a ticket's detail, approve, reject, bulk approve)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api import static_pages

router = APIRouter(tags=["merchant console"])

_ASSETS = {
    "pages.js": ("pages.js", "text/javascript"),
    "merchant.js": ("merchant.js", "text/javascript"),
    "merchant.css": ("merchant.css", "text/css"),
}


@router.get("/merchant", include_in_schema=False)
async def console() -> FileResponse:
    """The merchant console (it asks once for the shop's API key)."""
    return static_pages.page("merchant.html")


@router.get("/merchant/static/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    return static_pages.asset(name, _ASSETS)
