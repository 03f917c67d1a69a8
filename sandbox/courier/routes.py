"""The courier's tracking and return-label API, plus control endpoints tests and demos use to move
parcels and to make the label API fail."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from sandbox.courier import labels, outbox, parcels
from sandbox.courier.errors import CourierError
from sandbox.courier.runtime import CourierRuntime
from sandbox.courier.schemas import (
    AddEventRequest,
    AutopilotRequest,
    CreateLabelRequest,
    DeliveryObject,
    EventObject,
    LabelObject,
    LabelOutageObject,
    LabelOutageRequest,
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


def _carried(runtime: CourierRuntime, carrier: str) -> str:
    """`carrier` by its lower-case code, when this sandbox carries for it."""
    carrier = carrier.lower()
    if carrier not in runtime.config.carriers:
        raise CourierError(422, "unknown_carrier", f"this sandbox does not carry for {carrier!r}")
    return carrier


def _carrier(runtime: CourierRuntime, asked: str | None, tracking_no: str) -> str:
    """The parcel's carrier: the one it has, else its label's (a label's tracking number is a
    parcel the courier will carry, before its first scan), else the one asked for, else the first
    configured. Asking a label's parcel for another carrier is a mismatch, as for a parcel."""
    with runtime.db.reading() as conn:
        parcel = parcels.get(conn, tracking_no)
        labelled = None if parcel else labels.carrier_of(conn, tracking_no)
    known = parcel.carrier if parcel else labelled
    carrier = _carried(runtime, asked or known or runtime.config.carriers[0])
    if labelled is not None and carrier != labelled:
        raise CourierError(409, "carrier_mismatch", f"the parcel is carried by {labelled}")
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


@router.post("/v1/labels", status_code=201, response_model=LabelObject)
async def create_label(
    body: CreateLabelRequest,
    response: Response,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> LabelObject:
    """Issue a return label (201), or answer the one this Idempotency-Key already issued for the
    same request (200)."""
    if runtime.label_outage > 0:
        runtime.label_outage -= 1
        message = "the label service is temporarily unavailable"
        raise CourierError(503, "courier_unavailable", message, {"Retry-After": "1"})
    if not idempotency_key:
        raise CourierError(400, "idempotency_key_required", "send an Idempotency-Key header")
    carrier = _carried(runtime, body.carrier or runtime.config.carriers[0])
    try:
        with runtime.db.transaction() as conn:
            label, issued = labels.create(conn, idempotency_key, body, carrier, now=runtime.now())
    except labels.IdempotencyKeyReused:
        message = "this Idempotency-Key was used with another request"
        raise CourierError(409, "idempotency_key_reused", message) from None
    if not issued:
        response.status_code = 200
    return label


def _label(runtime: CourierRuntime, label_id: str) -> LabelObject:
    with runtime.db.reading() as conn:
        label = labels.get(conn, label_id)
    if label is None:
        raise CourierError(404, "label_not_found", f"no label {label_id}")
    return label


@router.get("/v1/labels/{label_id}", response_model=LabelObject)
async def get_label(label_id: str, runtime: RuntimeDep) -> LabelObject:
    return _label(runtime, label_id)


@router.get(
    "/v1/labels/{label_id}/document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The printable label."}},
)
async def label_document(label_id: str, runtime: RuntimeDep) -> Response:
    label = _label(runtime, label_id)
    return Response(
        labels.document(label),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{label.label_id}.pdf"'},
    )


@router.post("/control/labels/outage", response_model=LabelOutageObject)
async def label_outage(body: LabelOutageRequest, runtime: RuntimeDep) -> LabelOutageObject:
    """The next `requests` label requests answer 503 `courier_unavailable`, issuing nothing."""
    runtime.label_outage = body.requests
    return LabelOutageObject(requests=runtime.label_outage)


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
