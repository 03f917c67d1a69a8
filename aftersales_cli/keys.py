"""`aftersales keys issue | list | rotate | expire | revoke`: `python -m stack.keys` itself.

Each command hands its arguments to `stack.keys.run`, which applies the same rules as support's
`/v1/keys`, prints a plain key once (issue, rotate) and answers 1 for a refusal, 2 for a usage
error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from aftersales_cli import runtime
from api.auth import Role
from stack import keys

app = typer.Typer(
    help="API keys by hand (SPEC §11).", no_args_is_help=True, rich_markup_mode="markdown"
)

KeyId = Annotated[int, typer.Argument(metavar="KEY_ID")]
ExpiresAt = Annotated[str | None, typer.Option("--expires-at", help="ISO 8601 with an offset")]


def _keys(command: str, *positional: str, **options: str | None) -> None:
    """Options left out (None) are not passed; each one given is `--name=value`, so a value that
    starts with a dash stays a value."""
    args = [command, *positional]
    args += [
        f"--{name.replace('_', '-')}={value}"
        for name, value in options.items()
        if value is not None
    ]
    try:
        code = asyncio.run(keys.run(runtime.settings(), args))
    except RuntimeError as missing:
        # No DATABASE_URL, and no embedded PostgreSQL in DATA_DIR that starts.
        problem = runtime.no_database(missing)
        runtime.err().print(f"unavailable ({problem.code}): {problem.detail}", markup=False)
        code = runtime.PROBLEMS
    raise typer.Exit(code)


@app.command()
def issue(
    role: Annotated[Role, typer.Option("--role")],
    label: Annotated[str, typer.Option("--label", help="who holds the key")],
    subject: Annotated[
        str | None, typer.Option("--subject", help="the buyer, merchant or warehouse it acts for")
    ] = None,
    expires_at: ExpiresAt = None,
) -> None:
    """Issue a key and print it once."""
    _keys("issue", role=role, label=label, subject=subject, expires_at=expires_at)


@app.command("list")
def listing(
    role: Annotated[Role | None, typer.Option("--role")] = None,
    subject: Annotated[str | None, typer.Option("--subject")] = None,
) -> None:
    """List keys, newest first (never a secret)."""
    _keys("list", role=role, subject=subject)


@app.command()
def rotate(
    key_id: KeyId,
    overlap: Annotated[
        str | None,
        typer.Option("--overlap", help="how long the old key works on: ISO 8601 or seconds"),
    ] = None,
    expires_at: ExpiresAt = None,
) -> None:
    """Issue a successor and print it once; the old key works on for the overlap."""
    _keys("rotate", str(key_id), overlap=overlap, expires_at=expires_at)


@app.command()
def expire(
    key_id: KeyId,
    at: Annotated[str, typer.Option("--at", help="ISO 8601 with an offset, or now")],
) -> None:
    """Set when a key stops working."""
    _keys("expire", str(key_id), at=at)


@app.command()
def revoke(key_id: KeyId) -> None:
    """End a key at once."""
    _keys("revoke", str(key_id))
