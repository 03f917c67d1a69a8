from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Seconds from creation until a refund settles, per payment method; unknown methods use "other".
DEFAULT_SETTLE_DELAYS: dict[str, float] = {"wallet": 1.0, "card": 3.0, "bank": 5.0, "other": 3.0}
# Seconds from creation until a payout (a bank transfer to the buyer) settles.
DEFAULT_PAYOUT_SETTLE_DELAY = 5.0


@dataclass(frozen=True)
class ProviderConfig:
    db_path: Path | str
    api_key: str
    webhook_url: str | None
    webhook_secret: str
    settle_delays: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SETTLE_DELAYS))
    payout_settle_delay: float = DEFAULT_PAYOUT_SETTLE_DELAY
    refund_window_days: int = 180
    # Seconds from a `reverse_after_success` refund or payout succeeding to the bank returning it.
    reverse_delay: float = 1.0
    webhook_backoff_initial: float = 0.5
    webhook_backoff_cap: float = 30.0
    webhook_timeout: float = 10.0

    def settle_delay(self, payment_method: str) -> float:
        if payment_method in self.settle_delays:
            return self.settle_delays[payment_method]
        if "other" in self.settle_delays:
            return self.settle_delays["other"]
        return DEFAULT_SETTLE_DELAYS.get(payment_method, DEFAULT_SETTLE_DELAYS["other"])

    def webhook_backoff(self, attempts: int) -> float:
        """Delay before the next delivery after `attempts` failed ones: doubling, capped."""
        exponent = min(max(attempts - 1, 0), 32)
        return float(min(self.webhook_backoff_initial * 2**exponent, self.webhook_backoff_cap))
