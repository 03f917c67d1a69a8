"""Run the sandbox payment provider:

    python -m sandbox.payment_provider --host 127.0.0.1 --port 8010 --data-dir DIR --webhook-url URL

The API key and webhook secret come from `PAYMENT_SANDBOX_API_KEY` and
`PAYMENT_SANDBOX_WEBHOOK_SECRET`; the payouts' settlement delay from `--payout-settle-delay`, else
`PAYMENT_SANDBOX_PAYOUT_SETTLE_DELAY`. uvicorn turns SIGINT/SIGTERM into a graceful shutdown:
requests in flight finish, the background loops stop, and anything unfinished resumes at the next
start.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from observability import logs
from sandbox.payment_provider.app import create_app
from sandbox.payment_provider.config import (
    DEFAULT_PAYOUT_SETTLE_DELAY,
    DEFAULT_SETTLE_DELAYS,
    ProviderConfig,
)


def _settle_delay(text: str) -> tuple[str, float]:
    method, sep, seconds = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected METHOD=SECONDS, e.g. card=0.5")
    return method.strip(), float(seconds)


def _delays_from_environment() -> dict[str, float]:
    """`PAYMENT_SANDBOX_SETTLE_DELAYS=wallet=1,card=3`: the run command's way to set them."""
    text = os.environ.get("PAYMENT_SANDBOX_SETTLE_DELAYS", "")
    return dict(_settle_delay(item.strip()) for item in text.split(",") if item.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.payment_provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument(
        "--webhook-url", default=None, help="where refund and payout events are POSTed"
    )
    parser.add_argument(
        "--settle-delay",
        type=_settle_delay,
        action="append",
        default=[],
        metavar="METHOD=SECONDS",
        help="override a payment method's settlement delay (repeatable)",
    )
    parser.add_argument(
        "--payout-settle-delay",
        type=float,
        # argparse applies `type` to a string default, so a bad environment value is reported.
        default=os.environ.get("PAYMENT_SANDBOX_PAYOUT_SETTLE_DELAY", DEFAULT_PAYOUT_SETTLE_DELAY),
        metavar="SECONDS",
        help="seconds until a bank-transfer payout settles",
    )
    parser.add_argument("--refund-window-days", type=int, default=180)
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    # uvicorn configures only its own loggers; this shows the provider's webhook retries too.
    logged = logs.configure_from_environment(args.log_level)
    config = ProviderConfig(
        db_path=args.data_dir / "payment_sandbox.sqlite3",
        api_key=os.environ.get("PAYMENT_SANDBOX_API_KEY", "sk_sandbox_local"),
        webhook_url=args.webhook_url,
        webhook_secret=os.environ.get("PAYMENT_SANDBOX_WEBHOOK_SECRET", "whsec_sandbox_local"),
        settle_delays={
            **DEFAULT_SETTLE_DELAYS,
            **_delays_from_environment(),
            **dict(args.settle_delay),
        },
        payout_settle_delay=args.payout_settle_delay,
        refund_window_days=args.refund_window_days,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=logs.serve_logging(logged),
    )


if __name__ == "__main__":
    main()
