"""Warehouse inbound: the scan API and the scan station page that uses it (SPEC §6, §8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from api import static_pages
from api.auth import Principal, Role
from api.deps import SessionDep, TemporalDep, require
from api.problems import Problem
from api.schemas.scans import ScanAnswer, ScanBody
from api.services.scans import scan_parcel

router = APIRouter(tags=["warehouse"])
WarehouseDep = Annotated[Principal, Depends(require(Role.warehouse))]

_ASSETS = {
    "pages.js": ("pages.js", "text/javascript"),
    "station.js": ("station.js", "text/javascript"),
    "station.css": ("station.css", "text/css"),
}


@router.post(
    "/v1/warehouse/scans",
    response_model=ScanAnswer,
    responses={403: {"description": "only a warehouse key may scan"}},
)
async def scan(
    payload: ScanBody, session: SessionDep, temporal: TemporalDep, principal: WarehouseDep
) -> ScanAnswer:
    """A parcel scanned at the warehouse, by its return tracking number or the ticket number on
    its slip: the ticket found and what to do with the parcel. A parcel on its way back while
    the ticket waits for it is checked in by the scan (the check-in deadline starts)."""
    if not principal.subject_id:
        raise Problem(403, "forbidden_role", "this warehouse key names no warehouse")
    return await scan_parcel(
        session, temporal, principal.subject_id, f"api-key:{principal.key_id}", payload.code
    )


@router.get("/warehouse/station", include_in_schema=False)
async def station() -> FileResponse:
    """The scan station page for warehouse staff (it asks for the warehouse's API key)."""
    return static_pages.page("station.html")


@router.get("/warehouse/static/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    return static_pages.asset(name, _ASSETS)
