"""The courier's tracking API, plus control endpoints tests and demos use to move parcels."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from sandbox.courier import outbox, parcels
from sandbox.courier.errors import CourierError
from sandbox.courier.runtime import CourierRuntime
from sandbox.courier.schemas import (
    AddEventRequest,
    AutopilotRequest,
    DeliveryObject,
    EventObject,
    ParcelObject,
    PlanObject,
)


def _runtime(request: Request) -> CourierRuntime:
    runtime: CourierRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[CourierRuntime, Depends(_runtime)]


def _authenticate(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    expected = runtime.config.api_key.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise CourierError(
            401, "unauthorized", "a valid API key is required", {"WWW-Authenticate": "Bearer"}
        )


router = APIRouter(dependencies=[Depends(_authenticate)])


def _carrier(runtime: CourierRuntime, asked: str | None, tracking_no: str) -> str:
    """The parcel's carrier: the one it has, else the one asked for, else the first configured."""
    with runtime.db.reading() as conn:
        parcel = parcels.get(conn, tracking_no)
    carrier = (asked or (parcel.carrier if parcel else runtime.config.carriers[0])).lower()
    if carrier not in runtime.config.carriers:
        raise CourierError(422, "unknown_carrier", f"this sandbox does not carry for {carrier!r}")
    return carrier


@router.get("/v1/parcels/{tracking_no}", response_model=ParcelObject)
async def get_parcel(
    tracking_no: str, runtime: RuntimeDep, carrier: str | None = None
) -> ParcelObject:
    with runtime.db.reading() as conn:
        parcel = parcels.get(conn, tracking_no)
    if parcel is None or (carrier is not None and carrier.lower() != parcel.carrier):
        raise CourierError(404, "parcel_not_found", f"no parcel {tracking_no}")
    return parcel


@router.post("/control/parcels/{tracking_no}/events", status_code=201, response_model=EventObject)
async def add_event(tracking_no: str, body: AddEventRequest, runtime: RuntimeDep) -> EventObject:
    carrier = _carrier(runtime, body.carrier, tracking_no)
    try:
        with runtime.db.transaction() as conn:
            event = parcels.add_event(
                conn,
                tracking_no,
                carrier,
                body.status,
                now=runtime.now(),
                description=body.description,
                location=body.location,
            )
    except parcels.ParcelClosed as closed:
        raise CourierError(409, "parcel_closed", f"the parcel is already {closed}") from None
    except parcels.CarrierMismatch as other:
        raise CourierError(409, "carrier_mismatch", f"the parcel is carried by {other}") from None
    runtime.deliver_wake.set()
    return event


@router.post(
    "/control/parcels/{tracking_no}/autopilot",
    status_code=202,
    response_model=list[PlanObject],
)
async def autopilot(
    tracking_no: str, body: AutopilotRequest, runtime: RuntimeDep
) -> list[PlanObject]:
    carrier = _carrier(runtime, body.carrier, tracking_no)
    delays = body.delays or list(runtime.config.autopilot_delays)
    with runtime.db.transaction() as conn:
        plans = parcels.plan_autopilot(conn, tracking_no, carrier, delays, runtime.now())
    runtime.autopilot_wake.set()
    return plans


@router.get("/control/parcels/{tracking_no}/deliveries", response_model=list[DeliveryObject])
async def deliveries(tracking_no: str, runtime: RuntimeDep) -> list[DeliveryObject]:
    with runtime.db.reading() as conn:
        return outbox.of_parcel(conn, tracking_no)
