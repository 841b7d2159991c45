"""Engine and session factory; SQLite gets WAL, enforced foreign keys and a busy timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.db import sqlite_driver

SQLITE_BUSY_TIMEOUT_MS = sqlite_driver.SQLITE_BUSY_TIMEOUT_MS
# Execution option for a transaction that only reads (see `begin_read_only`).
READ_ONLY_OPTION = "sqlite_read_only_transaction"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """The bot's engine; `read_only=True` for long readers such as exports (see below)."""
    if not url.startswith("sqlite"):
        if read_only:
            kwargs.setdefault("execution_options", {"postgresql_readonly": True})
        return create_async_engine(url, pool_pre_ping=True, **kwargs)

    _ensure_sqlite_dir(url)
    if make_url(url).get_driver_name() == "aiosqlite":
        # The main engine runs statements on the event loop and only waits for locks in
        # aiosqlite's thread; the read-only engine's long reads stay in the thread, one trip
        # per statement (bot/db/sqlite_driver.py).
        kwargs.setdefault("module", sqlite_driver.dbapi(inline=not read_only))
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below), so the driver must not open transactions on its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Inline: a locked database fails at once and the statement waits in the thread.
        inline = getattr(dbapi_connection, "_inline", False)
        cursor.execute(f"PRAGMA busy_timeout={0 if inline else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if inline:
            # Checkpoints (page copies, an fsync) run in the thread, not in an inline commit.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes fails at once with «database is locked» when another writer got in between,
        # while an immediate one simply waits for the busy timeout. A read-only engine needs
        # no lock at all: under WAL its plain BEGIN reads a snapshot and never blocks writers,
        # so a minutes-long export doesn't stop the bot. Nor does a read-only transaction of
        # the main engine (`begin_read_only`), which then doesn't queue behind them either.
        deferred = read_only or conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


async def begin_read_only(session: AsyncSession) -> None:
    """Start the session's transaction as one that only reads: on SQLite a WAL snapshot that
    neither takes nor waits for the write lock. The session must not write afterwards."""
    await session.connection(execution_options={READ_ONLY_OPTION: True})


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
