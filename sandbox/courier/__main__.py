"""Run the sandbox courier:

    python -m sandbox.courier --host 127.0.0.1 --port 8020 --data-dir DIR \
        --webhook-url http://127.0.0.1:8000/v1/webhooks/couriers/{carrier}

`{carrier}` in the webhook URL becomes the parcel's carrier code. The API key, webhook secret and
carriers come from `COURIER_SANDBOX_API_KEY`, `COURIER_SANDBOX_WEBHOOK_SECRET` and
`COURIER_SANDBOX_CARRIERS` (comma-separated).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from observability import logs
from sandbox.courier.app import create_app
from sandbox.courier.config import DEFAULT_AUTOPILOT_DELAYS, DEFAULT_CARRIERS, CourierConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.courier", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--webhook-url", default=None, help="where tracking events are POSTed")
    parser.add_argument(
        "--autopilot-delays",
        type=lambda text: tuple(float(part) for part in text.split(",")),
        default=DEFAULT_AUTOPILOT_DELAYS,
        metavar="S1,S2,S3",
        help="seconds before picked_up, in_transit, delivered on autopilot",
    )
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logged = logs.configure_from_environment(args.log_level)
    carriers = os.environ.get("COURIER_SANDBOX_CARRIERS", ",".join(DEFAULT_CARRIERS))
    config = CourierConfig(
        db_path=args.data_dir / "courier_sandbox.sqlite3",
        api_key=os.environ.get("COURIER_SANDBOX_API_KEY", "ck_sandbox_local"),
        webhook_url=args.webhook_url,
        webhook_secret=os.environ.get("COURIER_SANDBOX_WEBHOOK_SECRET", "whsec_courier_local"),
        carriers=tuple(code.strip().lower() for code in carriers.split(",") if code.strip()),
        autopilot_delays=args.autopilot_delays,
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
