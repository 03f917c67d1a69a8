"""`python -m stack.keys issue|list|rotate|expire|revoke ...`: API keys by hand (SPEC §11).

The same rules as support's `/v1/keys`, against the database the settings name: `DATABASE_URL`,
or else the embedded PostgreSQL of `make dev` in DATA_DIR. A plain key is printed once, by issue
and rotate, on a line of its own; the database keeps only its SHA-256. Exit status 1 when the
request is refused (the reason is printed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role
from api.problems import Problem
from api.schemas.keys import ExpireKeyBody, IssueKeyBody, RotateKeyBody
from api.services import keys as service
from persistence.db import make_engine, make_session_factory
from persistence.models import ApiKey
from settings import Settings, get_settings
from stack.consistency import database_url

_PAGE = 200


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m stack.keys", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="issue a key and print it once")
    issue.add_argument("--role", required=True, choices=[str(role) for role in Role])
    issue.add_argument("--subject", help="the buyer, merchant or warehouse the key acts for")
    issue.add_argument("--label", required=True, help="who holds the key")
    issue.add_argument("--expires-at", help="ISO 8601 with an offset")
    listing = commands.add_parser("list", help="list keys, newest first (never a secret)")
    listing.add_argument("--role", choices=[str(role) for role in Role])
    listing.add_argument("--subject")
    rotate = commands.add_parser("rotate", help="issue a successor, print it once")
    rotate.add_argument("key_id", type=int)
    rotate.add_argument(
        "--overlap", help="how long the old key works on: ISO 8601 or seconds (default: settings)"
    )
    rotate.add_argument("--expires-at", help="when the new key stops working")
    expire = commands.add_parser("expire", help="set when a key stops working")
    expire.add_argument("key_id", type=int)
    expire.add_argument("--at", required=True, help="ISO 8601 with an offset, or now")
    revoke = commands.add_parser("revoke", help="end a key at once")
    revoke.add_argument("key_id", type=int)
    return top


async def _apply(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> str:
    """What the API would do with the same request; the API's bodies check the arguments."""
    now = datetime.now(UTC)
    if args.command == "issue":
        body = IssueKeyBody(
            role=args.role, subject_id=args.subject, label=args.label, expires_at=args.expires_at
        )
        issued = await service.issue(
            session, body.role, body.subject_id, body.label, body.expires_at, now
        )
        return _shown_once("issued", issued, now)
    if args.command == "rotate":
        rotation = RotateKeyBody(overlap=args.overlap, expires_at=args.expires_at)
        overlap = rotation.overlap
        if overlap is None:
            overlap = settings.auth.key_rotation_overlap
        issued, previous = await service.rotate(
            session, args.key_id, overlap, rotation.expires_at, now
        )
        return f"{_shown_once('rotated', issued, now)}\nprevious: {_line(previous, now)}"
    if args.command == "expire":
        at = now if args.at == "now" else ExpireKeyBody(at=args.at).at
        return _line(await service.expire(session, args.key_id, at, now), now)
    if args.command == "revoke":
        return _line(await service.revoke(session, args.key_id, now), now)
    return await _listing(session, args, now)


async def _listing(session: AsyncSession, args: argparse.Namespace, now: datetime) -> str:
    lines, before = [], None
    while True:
        rows = await service.page(
            session,
            role=Role(args.role) if args.role else None,
            subject_id=args.subject,
            limit=_PAGE,
            before=before,
        )
        lines += [_line(row, now) for row in rows]
        if len(rows) < _PAGE:
            break
        before = rows[-1].key_id
    return "\n".join(lines) if lines else "no keys"


def _shown_once(verb: str, issued: service.IssuedKey, now: datetime) -> str:
    return f"{verb}: {_line(issued.row, now)}\nkey (shown once, store it now):\n{issued.plain}"


def _line(row: ApiKey, now: datetime) -> str:
    def at(moment: datetime | None) -> str:
        return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else "-"

    rotated = f" rotated_from={row.rotated_from}" if row.rotated_from else ""
    return (
        f"{row.key_id}  {row.prefix}…  {row.role}:{row.subject_id or '-'}  "
        f"{service.status_of(row, now)}  created={at(row.created_at)} "
        f"expires={at(row.expires_at)} revoked={at(row.revoked_at)} "
        f"last_used={at(row.last_used_at)}{rotated}  {row.label!r}"
    )


async def run(settings: Settings, argv: Sequence[str] | None = None) -> int:
    """Settings → engine and session factory → one transaction → the printed answer."""
    args = parser().parse_args(argv)
    with database_url(settings) as url:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_session_factory(engine).begin() as session:
                output = await _apply(session, args, settings)
        except Problem as refused:
            print(f"refused ({refused.code}): {refused.detail}", file=sys.stderr)
            return 1
        except ValidationError as invalid:
            for error in invalid.errors():
                where = ".".join(str(part) for part in error["loc"])
                print(f"invalid {where}: {error['msg']}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
    print(output, flush=True)
    return 0


def main() -> int:
    return asyncio.run(run(get_settings()))


if __name__ == "__main__":
    sys.exit(main())
