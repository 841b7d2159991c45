"""SQLAlchemy's aiosqlite adapter: statements run on the event loop, waits in aiosqlite's thread.

aiosqlite runs the sqlite3 connection in a thread of its own and every call on it is a trip
there and back (a queue, a future, a wake-up of the event loop): ~40 µs of CPU each on these
machines. SQLAlchemy's adapter makes 3–4 such trips per statement — open a cursor, execute,
fetch the rows, close the cursor — and a form step runs 10–20 statements (bench/form_steps.py).
Here a statement is one function run in that thread which does all four and hands back the
description, the rows, the row count and the last row id.

**Inline** (the bot's main engine, ``dbapi(inline=True)``): even one trip costs more than the
statements of an update take in SQLite (~0.9 ms for all of them, bench/e2e.py): the trips, the
event loop's wake-ups and the greenlet hand-offs were ~20 % of an update's CPU. So a statement,
a commit and a rollback run right on the event loop, on the same sqlite3 connection, and only
what may wait goes to aiosqlite's thread:

* Only SQLite's locks can make a statement wait, and the connection's own busy timeout is 0:
  a statement that finds the database locked (``BEGIN IMMEDIATE`` while another connection or
  process writes) fails at once with SQLITE_BUSY, without having done anything, and is run
  again in the thread with the full busy timeout (``SQLITE_BUSY_TIMEOUT_MS``), so the loop never
  waits on a lock. Under WAL nothing else waits: readers never block, nor are blocked by, the
  one writer, and an update's transaction never waits on Telegram (bot/pipeline/unit_of_work.py).
* The WAL is copied back into the database (a checkpoint: page copies and an fsync) in the
  thread too: the inline connections don't checkpoint on commit (``wal_autocheckpoint=0``);
  every ``CHECKPOINT_EVERY`` commits one passive checkpoint runs in the thread.
* A long read — an export, a document — goes through the read-only engine, whose connections
  keep every call in the thread (``dbapi()``): the loop serves other users meanwhile.

One connection is never used from both threads at once: a trip to the thread is awaited by the
session that owns the connection, under the adapter's per-connection mutex, and an inline
statement is taken only when that mutex is free.

Only the buffered cursor and the connection's commit and rollback change. Streaming
(server-side) cursors, connection set-up and error translation stay SQLAlchemy's. Used through
``create_async_engine(..., module=dbapi(...))``; the URL stays ``sqlite+aiosqlite``.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from threading import Thread
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

logger = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_EVERY = 500
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """Runs in aiosqlite's thread: the whole statement, cursor opened and closed."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _busy(error: BaseException) -> bool:
    """SQLITE_BUSY (any extended code): the statement found the database locked, did nothing."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.OperationalError) and code is not None and code & 0xFF == 5


def _waiting(function: Any, connection: sqlite3.Connection, *args: Any) -> Any:
    """Runs in aiosqlite's thread: ``function`` with the busy timeout, then 0 again."""
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    try:
        return function(connection, *args)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _checkpoint(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _executemany(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return None, None, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and counts come back in one trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    # Nothing to close in the database thread: the sqlite3 cursor is closed there already.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows: collections.deque[Any] = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        adapt = cast(OneTripConnection, self._adapt_connection)
        self._take(await adapt._run(_execute, operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        adapt = cast(OneTripConnection, self._adapt_connection)
        self._take(await adapt._run(_executemany, operation, seq_of_parameters))

    def _take(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()

    def nextset(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_inline",)
    # SQLAlchemy's adapter builds cursors from this attribute (README, «Library patches»).
    _cursor_cls = OneTripCursor  # type: ignore[assignment]
    _commits = 0  # inline commits in this process, for the periodic checkpoint

    def __init__(self, dbapi: Any, connection: Any, inline: bool = False) -> None:
        super().__init__(dbapi, connection)
        self._inline = inline

    async def _run(self, function: Any, *args: Any, in_thread: bool = False) -> Any:
        """``function(sqlite3 connection, *args)``: inline when it can (module docstring),
        else — not inline, the connection busy in the thread, the database locked, or
        ``in_thread`` — in aiosqlite's thread, one trip, waiting for the lock up to the busy
        timeout."""
        connection = cast(aiosqlite.Connection, self._connection)
        if self._inline and not in_thread and not self._execute_mutex.locked():
            if not connection._running or connection._connection is None:
                raise ValueError("Connection closed")
            try:
                return function(connection._conn, *args)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
        if self._inline:
            # This connection's busy timeout is 0: in the thread it waits for the lock.
            function = partial(_waiting, function)
        async with self._execute_mutex:
            # aiosqlite's private hand-off to its thread is untyped (README, «Library patches»).
            return await connection._execute(  # type: ignore[no-untyped-call]
                function, connection._conn, *args
            )

    async def _end(self, how: str) -> None:
        await self._run(_commit if how == "commit" else _rollback)
        if how == "commit":
            OneTripConnection._commits += 1
            if OneTripConnection._commits % CHECKPOINT_EVERY == 0:
                try:
                    await self._run(_checkpoint, in_thread=True)
                except Exception:
                    # The commit is done: a checkpoint that failed is tried again 500 later.
                    logger.warning("WAL checkpoint failed", exc_info=True)

    def _finish(self, how: str, stock: Callable[[], None]) -> None:
        """Commit or roll back inline (SQLAlchemy's ``stock`` way when not inline or closed)."""
        if not self._inline or cast(aiosqlite.Connection, self._connection)._connection is None:
            stock()
            return
        try:
            await_(self._end(how))
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        self._finish("commit", super().commit)

    def rollback(self) -> None:
        self._finish("rollback", super().rollback)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim handing out ``OneTripConnection``s."""

    def __init__(self, aiosqlite: Any, sqlite: Any, *, inline: bool = False) -> None:
        super().__init__(aiosqlite, sqlite)
        self.inline = inline

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if not creator_fn:
            # As SQLAlchemy does: the database thread must not keep the process alive.
            if isinstance(connection, Thread):
                connection.daemon = True
            else:
                connection._thread.daemon = True
        return OneTripConnection(self, await_(connection), self.inline)


def dbapi(*, inline: bool = False) -> OneTripDBAPI:
    """The shim; ``inline=True``: statements on the event loop (the module docstring)."""
    return OneTripDBAPI(aiosqlite, sqlite3, inline=inline)
