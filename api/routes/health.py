"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api import faults
from api.deps import SessionDep, TemporalDep
from api.faults import DATABASE_FAULTS, DATABASE_UNAVAILABLE

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep, temporal: TemporalDep) -> dict[str, str]:
    """Ready when both PostgreSQL and Temporal answer, each within a few seconds."""
    try:
        await session.execute(text("SELECT 1"))
    except DATABASE_FAULTS as error:
        raise faults.unavailable(DATABASE_UNAVAILABLE, "the database does not answer") from error
    await faults.temporal_reachable(temporal)
    return {"status": "ready", "database": "ok", "temporal": "ok"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
