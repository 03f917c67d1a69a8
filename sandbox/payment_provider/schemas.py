"""The sandbox's wire format: request bodies, the refund and payout objects, rules and webhook
events."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

RefundState = Literal["pending", "succeeded", "failed", "reversed"]
# `fail` and `reverse_after_success` decide how a movement settles; the others how the provider
# answers its creation request (`REQUEST_OUTCOMES`).
RuleOutcome = Literal["fail", "reverse_after_success", "http_503", "http_500", "slow", "timeout"]
REQUEST_OUTCOMES: tuple[RuleOutcome, ...] = ("http_503", "http_500", "slow", "timeout")
# Whether a request answered by `http_500` or `timeout` makes its refund or payout: at once,
# before the answer; only once the delay is over, as a provider still working on it after its
# caller gave up; or not at all.
RuleActs = Literal["before", "after_delay", "never"]
# Seconds a `slow` or `timeout` rule holds the answer when the rule gives none: a slow answer
# still comes within the engine's 10 s client timeout, a timed-out one comes after it.
DEFAULT_DELAYS: dict[str, float] = {"slow": 3.0, "timeout": 15.0}
DEFAULT_ACTS: dict[str, RuleActs] = {"http_500": "never", "timeout": "before"}
EventType = Literal[
    "refund.succeeded",
    "refund.failed",
    "refund.reversed",
    "payout.succeeded",
    "payout.failed",
    "payout.reversed",
]


def _fingerprint(request: BaseModel) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CreateRefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_reference: str = Field(min_length=1, max_length=255)
    payment_method: str = Field(min_length=1, max_length=64)
    amount: StrictInt = Field(gt=0, description="Minor units of `currency`; never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = Field(default=None, max_length=500)
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_created_at: datetime | None = None

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell a replay from a reused idempotency key."""
        return _fingerprint(self)


class RefundObject(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    status: RefundState
    amount: int
    currency: str
    payment_reference: str
    payment_method: str
    reason: str | None
    metadata: dict[str, str]
    failure_reason: str | None
    idempotency_key: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RefundObject:
        return cls(
            id=row["id"],
            status=row["status"],
            amount=row["amount"],
            currency=row["currency"],
            payment_reference=row["payment_reference"],
            payment_method=row["payment_method"],
            reason=row["reason"],
            metadata=json.loads(row["metadata"]),
            failure_reason=row["failure_reason"],
            idempotency_key=row["idempotency_key"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
        )


class RefundList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RefundObject]


class PayoutAccount(BaseModel):
    """The account as sent; the provider checks it (`invalid_account`) before anything else."""

    model_config = ConfigDict(extra="forbid")

    holder_name: str
    iban: str


class CreatePayoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(gt=0, description="Minor units of `currency`; never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    account: PayoutAccount
    reference: str = Field(min_length=1, max_length=255, description="e.g. the order id.")
    metadata: dict[str, str] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell a replay from a reused idempotency key.
        Callers pass the account as the provider stores it, so `de89 3704 ...` replays
        `DE893704...`."""
        return _fingerprint(self)


class PayoutObject(BaseModel):
    """A bank transfer to the buyer. The IBAN never leaves the provider: only its last four."""

    id: str
    object: Literal["payout"] = "payout"
    status: RefundState
    amount: int
    currency: str
    reference: str
    account_holder: str
    account_last4: str
    metadata: dict[str, str]
    failure_reason: str | None
    idempotency_key: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PayoutObject:
        return cls(
            id=row["id"],
            status=row["status"],
            amount=row["amount"],
            currency=row["currency"],
            reference=row["reference"],
            account_holder=row["account_holder"],
            account_last4=row["iban"][-4:],
            metadata=json.loads(row["metadata"]),
            failure_reason=row["failure_reason"],
            idempotency_key=row["idempotency_key"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
        )


class RuleRequest(BaseModel):
    """A failure rule. `delay` (seconds) is how long a `slow` or `timeout` rule holds the answer;
    `acts` whether an `http_500` or `timeout` request makes its refund or payout nonetheless."""

    model_config = ConfigDict(extra="forbid")

    match_payment_reference: str | None = None
    outcome: RuleOutcome
    reason: str | None = None
    times: int | None = Field(default=None, gt=0, description="Omitted: applies until cleared.")
    delay: float | None = Field(default=None, ge=0, le=300)
    acts: RuleActs | None = None

    @model_validator(mode="after")
    def _fits_outcome(self) -> RuleRequest:
        if self.delay is not None and self.outcome not in DEFAULT_DELAYS:
            raise ValueError(f"delay applies to {' and '.join(DEFAULT_DELAYS)} rules only")
        if self.acts is not None and self.outcome not in DEFAULT_ACTS:
            raise ValueError(f"acts applies to {' and '.join(DEFAULT_ACTS)} rules only")
        if self.outcome in DEFAULT_DELAYS and self.delay is None:
            self.delay = DEFAULT_DELAYS[self.outcome]
        if self.outcome in DEFAULT_ACTS and self.acts is None:
            self.acts = DEFAULT_ACTS[self.outcome]
        return self


class RuleObject(BaseModel):
    id: str
    match_payment_reference: str | None
    outcome: RuleOutcome
    reason: str | None
    times_remaining: int | None
    delay: float | None = None
    acts: RuleActs | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RuleObject:
        return cls(
            id=row["id"],
            match_payment_reference=row["match_payment_reference"],
            outcome=row["outcome"],
            reason=row["reason"],
            times_remaining=row["times_remaining"],
            delay=row["delay"],
            acts=row["acts"],
        )


class WebhookEvent(BaseModel):
    id: str
    type: EventType
    created: int
    data: Annotated[RefundObject | PayoutObject, Field(discriminator="object")]


class ErrorBody(BaseModel):
    code: str
    message: str
