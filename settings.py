"""Process settings, read from environment variables (and a `.env` file when present).

Durations accept ISO 8601 (`PT48H`, `P7D`) or plain seconds, so a demo or a test can shorten any
deadline to seconds. Nothing here is read by workflow code: the API snapshots the deadlines that
apply into each ticket's workflow input when the ticket is opened.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    AliasGenerator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.policy import Deadlines, OpeningRules, RefundRules


def _seconds_or_iso(value: object) -> object:
    """Plain seconds (`30`, `2.5`) become a number; ISO 8601 text is left to pydantic."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        return float(value)
    return value


def _split_durations(value: object) -> object:
    if isinstance(value, str):
        return [_seconds_or_iso(part.strip()) for part in value.split(",") if part.strip()]
    return value


def _split_thresholds(value: object) -> object:
    """`CNY=500000,USD=500000` (minor units) -> {"CNY": 500000, "USD": 500000}."""
    if isinstance(value, str):
        pairs = (part.split("=", 1) for part in value.split(",") if part.strip())
        return {code.strip().upper(): int(amount) for code, amount in pairs}
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]
ThresholdMap = Annotated[dict[str, int], NoDecode, BeforeValidator(_split_thresholds)]

_ENV = SettingsConfigDict(env_file=".env", extra="ignore")


# The variables of policy fields outside SPEC §10's `DEADLINE_<field>` and `POLICY_<field>` names.
_POLICY_VARIABLES = {
    "review_reminders": "REMINDERS_BEFORE_REVIEW_DEADLINE",
    "refund_shipping_on_merchant_fault": "REFUND_SHIPPING_ON_MERCHANT_FAULT",
}


def _policy_variable(name: str) -> str:
    """The environment variable README.md documents for a policy field's global default."""
    if name in _POLICY_VARIABLES:
        return _POLICY_VARIABLES[name]
    if name in Deadlines.model_fields:
        return f"DEADLINE_{name.upper()}"
    if name in OpeningRules.model_fields:
        return f"POLICY_{name.upper()}"
    raise LookupError(f"policy field {name} has no environment variable")


class PolicySettings(BaseSettings, RefundRules, OpeningRules, Deadlines):
    """Every merchant's policy unless it overrides a value, field for field; the per-currency
    second-approval thresholds are in `MoneySettings`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        enable_decoding=False,
        alias_generator=AliasGenerator(validation_alias=_policy_variable),
    )

    @field_validator("*", mode="before")
    @classmethod
    def _as_written(cls, value: object, info: ValidationInfo) -> object:
        """Durations in ISO 8601 or plain seconds, lists of them comma-separated (SPEC §10)."""
        annotation = cls.model_fields[str(info.field_name)].annotation
        if annotation is timedelta:
            return _seconds_or_iso(value)
        if annotation == list[timedelta]:
            return _split_durations(value)
        return value


class MoneySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFUND_", env_file=".env", extra="ignore")

    # Per-currency second-approval thresholds in minor units; currencies not listed use
    # 5,000 major units of their own currency (SPEC §4).
    second_approval_thresholds: ThresholdMap = Field(default_factory=dict)
    # How often the ticket asks the provider for a refund's status when no webhook came.
    status_poll_interval: Duration = timedelta(minutes=5)
    # How long a compensation coupon issued as a refund stays valid.
    coupon_validity: Duration = timedelta(days=90)


class PaymentSandboxSettings(BaseSettings):
    """The sandbox payment provider: a separate HTTP service the run command starts."""

    model_config = SettingsConfigDict(
        env_prefix="PAYMENT_SANDBOX_", env_file=".env", extra="ignore"
    )

    url: str = "http://127.0.0.1:8010"
    port: int = 8010
    api_key: SecretStr = SecretStr("sk_sandbox_local")
    webhook_secret: SecretStr = SecretStr("whsec_sandbox_local")
    webhook_tolerance: Duration = timedelta(minutes=5)


class StripeSettings(BaseSettings):
    """Stripe, `STRIPE_*`. Without an API key Stripe is not configured: no gateway is built; without
    a webhook secret its webhooks are refused (404)."""

    model_config = SettingsConfigDict(env_prefix="STRIPE_", env_file=".env", extra="ignore")

    api_key: SecretStr | None = None
    # Another Stripe-compatible server, e.g. localstripe (`http://127.0.0.1:8420`); None is Stripe.
    api_base: str | None = None
    # The endpoint's signing secret (`whsec_...`) from the Stripe dashboard.
    webhook_secret: SecretStr | None = None
    # How old a signed webhook may be; Stripe's own libraries default to five minutes.
    tolerance: Duration = timedelta(minutes=5)


def _split_codes(value: object) -> object:
    """`sf, YTO` -> ["sf", "yto"]."""
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    return value


CodeList = Annotated[list[str], NoDecode, BeforeValidator(_split_codes)]


class CourierSandboxSettings(BaseSettings):
    """The sandbox courier: a separate HTTP service the run command starts; it plays every
    carrier listed in `carriers`."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_SANDBOX_", env_file=".env", extra="ignore"
    )

    url: str = "http://127.0.0.1:8020"
    port: int = 8020
    api_key: SecretStr = SecretStr("ck_sandbox_local")
    webhook_secret: SecretStr = SecretStr("whsec_courier_local")
    webhook_tolerance: Duration = timedelta(minutes=5)
    carriers: CodeList = Field(default_factory=lambda: ["sf", "yto", "zto", "jd", "ems"])
    # How often the tracking activity asks the courier when no webhook came (first interval).
    poll_interval: Duration = timedelta(minutes=10)


class NotificationSettings(BaseSettings):
    """Where notifications go (SPEC §7), `NOTIFY_*`: SMTP, finance, the shop's order system."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", env_file=".env", extra="ignore")

    # The run command starts a local SMTP sink (stack/mailcatcher.py) on this port.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "After-sales <aftersales@shop.example>"
    smtp_timeout: Duration = timedelta(seconds=10)
    finance_email: str | None = "finance@shop.example"
    finance_locale: str = "zh-CN"
    # The shop's order system, told of every change of an order's after-sales status.
    order_system_webhook_url: str | None = None
    # Signs every outbound webhook (merchants and the order system).
    webhook_secret: SecretStr = SecretStr("whsec_notify_local")
    webhook_timeout: Duration = timedelta(seconds=10)
    # The sandbox SMS provider's outbox (JSON lines); default DATA_DIR/sms/outbox.jsonl.
    sms_sandbox_outbox: Path | None = None


class RatesSettings(BaseSettings):
    """Exchange rates for refunds to balance in another currency (SPEC §4), `RATES_*`."""

    model_config = SettingsConfigDict(env_prefix="RATES_", env_file=".env", extra="ignore")

    # Units per one USD, `EUR=0.92,JPY=151.2`, replacing the sandbox's built-in table whole;
    # empty keeps the built-in table.
    sandbox_table: str = ""
    # The date the table's rates are of; None keeps the built-in table's date.
    sandbox_as_of: date | None = None


class Settings(BaseSettings):
    model_config = _ENV

    database_url: str | None = None
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "aftersales"
    # Ports of the embedded Temporal dev server the run command starts (no TEMPORAL_ADDRESS).
    temporal_dev_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_ui_url: str | None = None
    api_port: int = 8000
    data_dir: Path = Path(".data")
    log_level: str = "INFO"
    # How often the worker's Temporal Schedule runs the consistency check (SPEC §11).
    consistency_check_every: Duration = timedelta(minutes=15)

    policy: PolicySettings = Field(default_factory=PolicySettings)
    money: MoneySettings = Field(default_factory=MoneySettings)
    payment_sandbox: PaymentSandboxSettings = Field(default_factory=PaymentSandboxSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    courier_sandbox: CourierSandboxSettings = Field(default_factory=CourierSandboxSettings)
    notify: NotificationSettings = Field(default_factory=NotificationSettings)
    rates: RatesSettings = Field(default_factory=RatesSettings)

    @property
    def ui_url(self) -> str:
        return self.temporal_ui_url or f"http://localhost:{self.temporal_ui_port}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set; the run command sets it to its embedded PostgreSQL"
            )
        return self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
