"""Apply Alembic migrations programmatically (used by `run`, `db upgrade` and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from bot.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking (runs its own event loop): call it before the bot's loop starts, or in a thread."""
    command.upgrade(alembic_config(database_url), revision)
