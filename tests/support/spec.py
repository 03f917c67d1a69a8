"""Facts of SPEC.md written out once, as the tests' independent reference."""

from temporalio.common import SearchAttributeIndexedValueType as SAType

# SPEC §9: the custom search attributes and their types.
SEARCH_ATTRIBUTES = {
    "TicketStatus": SAType.KEYWORD,
    "TicketType": SAType.KEYWORD,
    "OrderId": SAType.KEYWORD,
    "MerchantId": SAType.KEYWORD,
    "BuyerId": SAType.KEYWORD,
    "RiskLevel": SAType.KEYWORD,
    "DeadlineAt": SAType.DATETIME,
    "RefundAmount": SAType.INT,
    "Escalated": SAType.BOOL,
}
