"""Consistent copies of the SQLite database while the bot runs (SQLite's online backup API)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.db.engine import SQLITE_BUSY_TIMEOUT_MS


class BackupError(Exception):
    """The backup could not be made; the message says why (no secrets in it)."""


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        raise BackupError("backup works on the SQLite database; for PostgreSQL use pg_dump")
    return Path(url.database)


def backup_sqlite(database_url: str, target: Path, *, pages_per_step: int = 1024) -> int:
    """Copy page by page; writers keep working between steps. Returns the number of pages."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise BackupError(f"no database file at {source_path}")
    target = target.expanduser()
    if target.resolve() == source_path.resolve():
        raise BackupError("the backup must go to another file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(
        f"file:{source_path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
    )
    try:
        destination = sqlite3.connect(partial)
        try:
            source.backup(destination, pages=pages_per_step)
            check = destination.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            # A self-contained file: restoring it needs no -wal companion.
            destination.execute("PRAGMA journal_mode=DELETE")
            pages = destination.execute("PRAGMA page_count").fetchone()[0]
        finally:
            destination.close()
    finally:
        source.close()
    partial.replace(target)
    return int(pages)
