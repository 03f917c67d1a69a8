"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import SessionDep, TemporalDep
from api.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep, temporal: TemporalDep) -> dict[str, str]:
    """Ready when both PostgreSQL and Temporal answer."""
    try:
        await session.execute(text("SELECT 1"))
    except Exception as error:
        raise Problem(503, "database_unavailable", str(error)) from error
    try:
        await temporal.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=5)
        )
    except Exception as error:
        raise Problem(503, "temporal_unavailable", str(error)) from error
    return {"status": "ready", "database": "ok", "temporal": "ok"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
