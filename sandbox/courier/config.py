from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CARRIERS = ("sf", "yto", "zto", "jd", "ems")
# Seconds before picked_up, then in_transit, then delivered, when a parcel runs on autopilot.
DEFAULT_AUTOPILOT_DELAYS = (2.0, 5.0, 5.0)


@dataclass(frozen=True)
class CourierConfig:
    db_path: Path | str
    api_key: str
    # Where events are POSTed; `{carrier}` in it is replaced by the parcel's carrier code.
    webhook_url: str | None
    webhook_secret: str
    carriers: tuple[str, ...] = DEFAULT_CARRIERS
    webhook_backoff_initial: float = 0.5
    webhook_backoff_cap: float = 30.0
    webhook_timeout: float = 10.0
    autopilot_delays: tuple[float, ...] = field(default=DEFAULT_AUTOPILOT_DELAYS)

    def webhook_for(self, carrier: str) -> str | None:
        if self.webhook_url is None:
            return None
        return self.webhook_url.replace("{carrier}", carrier)

    def webhook_backoff(self, attempts: int) -> float:
        """Delay before the next delivery after `attempts` failed ones: doubling, capped."""
        exponent = min(max(attempts - 1, 0), 32)
        return float(min(self.webhook_backoff_initial * 2**exponent, self.webhook_backoff_cap))
