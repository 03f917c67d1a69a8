"""The buyer's prepaid return label, as a PDF to print or show at a drop-off point."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.services.return_labels import return_label_pdf
from api.visibility import TICKET_READERS, TicketPart

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]
PDF = "application/pdf"
# Whoever sees a ticket's parcels: the buyer who prints it, the merchant, the warehouse, support.
LabelReader = Annotated[
    Principal, Depends(require(*sorted(TICKET_READERS[TicketPart.shipments], key=list(Role).index)))
]


@router.get(
    "/{ticket_no}/return-label",
    response_class=Response,
    responses={
        200: {
            "description": "the label: ticket number, both addresses, a Code 128 barcode of "
            "the tracking number and the drop-off QR code",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        },
        403: {"description": "a platform key reads no parcels (`forbidden_role`)"},
        404: {
            "description": "no ticket `ticket_no` of yours (`ticket_not_found`), or it has no "
            "return label (`return_label_not_found`)"
        },
    },
)
async def get_return_label(
    ticket_no: TicketNo, session: SessionDep, principal: LabelReader
) -> Response:
    document = await return_label_pdf(session, ticket_no, principal)
    return Response(
        document,
        media_type=PDF,
        headers={
            "Content-Disposition": f'inline; filename="return-label-{ticket_no}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
