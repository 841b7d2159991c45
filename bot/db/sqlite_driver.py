"""SQLAlchemy's aiosqlite adapter with one trip to the database thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own and every call on it is a trip
there and back (a queue, a future, a wake-up of the event loop): ~40 µs of CPU each on these
machines. SQLAlchemy's adapter makes 3–4 such trips per statement — open a cursor, execute,
fetch the rows, close the cursor — and a form step runs 10–20 statements (bench/form_steps.py).
Here a statement is one function run in that thread which does all four and hands back the
description, the rows, the row count and the last row id.

Only the buffered cursor changes. Streaming (server-side) cursors, transactions, connection
set-up and error translation stay SQLAlchemy's. Used through ``create_async_engine(...,
module=dbapi())``; the URL stays ``sqlite+aiosqlite``.
"""

from __future__ import annotations

import collections
import sqlite3
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
        async with self._adapt_connection._execute_mutex:
            connection = cast(aiosqlite.Connection, self._connection)
            # aiosqlite's private hand-off to its thread is untyped (README, «Library patches»).
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _execute, connection._conn, operation, parameters
            )
        self._take(outcome)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            connection = cast(aiosqlite.Connection, self._connection)
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _executemany, connection._conn, operation, seq_of_parameters
            )
        self._take(outcome)

    def _take(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()

    def nextset(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    # SQLAlchemy's adapter builds cursors from this attribute (README, «Library patches»).
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim handing out ``OneTripConnection``s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if not creator_fn:
            # As SQLAlchemy does: the database thread must not keep the process alive.
            if isinstance(connection, Thread):
                connection.daemon = True
            else:
                connection._thread.daemon = True
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
