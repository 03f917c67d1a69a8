"""Process settings, read from environment variables (and a `.env` file when present).

Durations accept ISO 8601 (`PT48H`, `P7D`) or plain seconds, so a demo or a test can shorten any
deadline to seconds. Nothing here is read by workflow code: the API snapshots the deadlines that
apply into each ticket's workflow input when the ticket is opened.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self, get_origin

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from limits import parse_many
from pydantic import (
    AfterValidator,
    AliasGenerator,
    BeforeValidator,
    ByteSize,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.policy import Deadlines, OpeningRules, RefundRules, ReturnShipping


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
    "return_labels": "RETURN_LABELS",
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


class PolicySettings(BaseSettings, ReturnShipping, RefundRules, OpeningRules, Deadlines):
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
        if get_origin(annotation) is list:
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
    # The carrier that books return parcels and issues their labels.
    label_carrier: str = "sf"


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


def _pem_public_key(value: object) -> object:
    """A PEM written on one line with `\\n` escapes (as in a `.env` file) is a PEM too."""
    if isinstance(value, str):
        return value.strip().replace("\\n", "\n") or None
    return value


def _check_public_key(pem: str) -> None:
    """Refuse at start-up a key the buyer tokens could never be verified with."""
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("AUTH_JWT_PUBLIC_KEY is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return
    if isinstance(key, ed25519.Ed25519PublicKey):
        return
    raise ValueError("AUTH_JWT_PUBLIC_KEY must be RSA (2048 bits or more), EC P-256 or Ed25519")


class AuthSettings(BaseSettings):
    """API keys and the buyer tokens the platform signs (SPEC §8), `AUTH_*`. Buyer tokens are
    accepted only when the platform's public key or its JWKS URL is set (one, not both), and
    then an audience is required."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    # The platform's public key, PEM (RSA → RS256, EC P-256 → ES256, Ed25519 → EdDSA).
    jwt_public_key: Annotated[str | None, BeforeValidator(_pem_public_key)] = None
    # Or where the platform publishes its keys; tokens name theirs by `kid`.
    jwks_url: str | None = None
    # The `aud` every token must carry, and the `iss` when set.
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # A token valid for longer than this (`exp` - `iat`) is refused, however it is signed.
    jwt_max_lifetime: Duration = timedelta(hours=1)
    # Clock difference tolerated on `exp`, `nbf` and `iat`.
    jwt_leeway: Duration = timedelta(seconds=30)
    # How long a fetched JWKS document is used before it is fetched again.
    jwks_cache_lifespan: Duration = timedelta(minutes=5)
    # How long a rotated key keeps working next to its successor, unless the rotation says.
    key_rotation_overlap: Duration = timedelta(hours=24)

    @model_validator(mode="after")
    def _buyer_tokens_verifiable(self) -> Self:
        if self.jwt_public_key and self.jwks_url:
            raise ValueError("set AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL, not both")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise ValueError("AUTH_JWKS_URL must be an http(s) URL")
        if self.jwt_public_key:
            _check_public_key(self.jwt_public_key)
        if (self.jwt_public_key or self.jwks_url) and not self.jwt_audience:
            raise ValueError("buyer tokens need AUTH_JWT_AUDIENCE, the audience they must name")
        if self.jwt_max_lifetime <= timedelta(0) or self.jwt_leeway < timedelta(0):
            raise ValueError("AUTH_JWT_MAX_LIFETIME must be positive, AUTH_JWT_LEEWAY not negative")
        if self.key_rotation_overlap < timedelta(0):
            raise ValueError("AUTH_KEY_ROTATION_OVERLAP must not be negative")
        return self

    @property
    def buyer_tokens(self) -> bool:
        return bool(self.jwt_public_key or self.jwks_url)


def _rates(value: str) -> str:
    """Rate limits in the `limits` notation; a typo fails at start-up, not at the first call."""
    if any(item.amount < 1 for item in parse_many(value)):
        raise ValueError(f"{value!r}: a rate limit lets at least one request through")
    return value


Rates = Annotated[str, AfterValidator(_rates)]


class LimitSettings(BaseSettings):
    """Request limits (SPEC §8), `LIMITS_*`: body size (413), rates per API key, per client
    address and for webhooks, and the failed-authentication throttle (429). Rates use the
    `limits` notation: `600/minute`, `20 per 5 minutes`, `10/second;600/minute`."""

    model_config = SettingsConfigDict(env_prefix="LIMITS_", env_file=".env", extra="ignore")

    # Off turns off the rate limits and the throttle; the body limit always applies.
    enabled: bool = True
    # `2MiB`, `512KiB` or bytes. The largest order the schemas accept (500 lines with
    # 500-character titles) is 0.9 MB of Chinese as UTF-8 and 1.7 MB `\u`-escaped.
    body_max_bytes: ByteSize = ByteSize(2 * 1024 * 1024)
    per_key: Rates = "600/minute"
    # Every call from one address, whatever key it carries (webhooks excepted).
    per_ip: Rates = "1200/minute"
    # Webhooks, per sending address: providers and couriers send bursts and retry.
    webhooks: Rates = "6000/minute"
    # 401 answers per address; past it the address is refused before any key is checked.
    failed_auth: Rates = "20/minute"
    # `memory://` counts in this process only; API processes that scale out share
    # `redis://host:6379/0` (needs the `redis` package).
    storage_uri: str = "memory://"


class BulkSettings(BaseSettings):
    """Bulk actions, `BULK_*`: how a run shares the engine. Each ticket's action is an Update;
    a run sends `batch_size` tickets per activity and keeps `in_flight` activities going, so it
    never has more than `in_flight` Updates waiting at once, and starts at most `rate` tickets a
    second: each approved ticket goes on to its own work (a refund, mails), which the run's pace
    bounds."""

    model_config = SettingsConfigDict(env_prefix="BULK_", env_file=".env", extra="ignore")

    batch_size: int = Field(default=10, ge=1, le=100)
    in_flight: int = Field(default=2, ge=1, le=16)
    rate: float = Field(default=2.0, gt=0, le=1000)


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
    # One JSON object per line (`json`), or the plain lines people read in a terminal (`text`).
    log_format: Literal["json", "text"] = "json"
    # Traces go by OTLP over HTTP to this collector (`http://collector:4318`; `/v1/traces` is
    # appended) or to the traces endpoint given in full; neither set: no span is made at all.
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    # The `service.name` of the spans; unset: `aftersales-api` or `aftersales-worker`.
    otel_service_name: str | None = None
    # How often the worker's Temporal Schedule runs the consistency check (SPEC §11).
    consistency_check_every: Duration = timedelta(minutes=15)
    # Where the worker serves the Temporal SDK's Prometheus metrics (failed workflow tasks and
    # activities among them); unset: not served.
    worker_metrics_address: str | None = None
    # Run workflow code in the Temporal SDK's sandbox (worker.workflow_runner says what it costs).
    workflow_sandbox: bool = False
    # Worker processes the run command starts (`worker`, `worker-2`, …), each polling the task
    # queue and restarted on its own; more than the machine has cores only adds contention.
    worker_processes: int = Field(default=1, ge=1, le=16)

    policy: PolicySettings = Field(default_factory=PolicySettings)
    money: MoneySettings = Field(default_factory=MoneySettings)
    payment_sandbox: PaymentSandboxSettings = Field(default_factory=PaymentSandboxSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    courier_sandbox: CourierSandboxSettings = Field(default_factory=CourierSandboxSettings)
    notify: NotificationSettings = Field(default_factory=NotificationSettings)
    rates: RatesSettings = Field(default_factory=RatesSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    bulk: BulkSettings = Field(default_factory=BulkSettings)

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
