"""`python -m persistence.migrate`: bring the database at DATABASE_URL to the newest schema."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from persistence.db import sqlalchemy_url

_INI = Path(__file__).with_name("alembic.ini")
log = logging.getLogger("aftersales.migrate")


def alembic_config(database_url: str) -> Config:
    config = Config(str(_INI))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_async(database_url: str) -> None:
    """Alembic's env starts its own event loop, so run it off the caller's loop."""
    await asyncio.to_thread(upgrade, database_url)


def main() -> None:
    from observability.logs import configure_from_environment

    settings = configure_from_environment()
    upgrade(settings.require_database_url())
    log.info("database schema is up to date")


if __name__ == "__main__":
    main()
