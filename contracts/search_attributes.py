"""The custom search attributes of SPEC §9, as typed keys."""

from temporalio.common import SearchAttributeKey

TICKET_STATUS = SearchAttributeKey.for_keyword("TicketStatus")
TICKET_TYPE = SearchAttributeKey.for_keyword("TicketType")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
BUYER_ID = SearchAttributeKey.for_keyword("BuyerId")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")
DEADLINE_AT = SearchAttributeKey.for_datetime("DeadlineAt")
REFUND_AMOUNT = SearchAttributeKey.for_int("RefundAmount")
ESCALATED = SearchAttributeKey.for_bool("Escalated")

ALL_KEYS = (
    TICKET_STATUS,
    TICKET_TYPE,
    ORDER_ID,
    MERCHANT_ID,
    BUYER_ID,
    RISK_LEVEL,
    DEADLINE_AT,
    REFUND_AMOUNT,
    ESCALATED,
)
