"""The library internals our patches rely on (README, «Library patches»): one test per patch.

Each test checks that the private attributes, classes and signatures a patch uses are still
there and still behave as the patch assumes, and says what to do when they are not. Run it before
raising a cap in pyproject.toml. The patches' behaviour is tested beside their own code (the
README's table names those tests too).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from typing import Any, cast

import aiosqlite
import pytest
from aiogram import Router
from aiogram.dispatcher.event.handler import CallableObject, FilterObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message
from openpyxl.cell import WriteOnlyCell

# types-openpyxl leaves out the private _set_attributes the export's row writer calls.
from openpyxl.cell._writer import _set_attributes, etree_write_cell  # type: ignore[attr-defined]
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from sqlalchemy.connectors.asyncio import (
    AsyncAdapt_dbapi_connection,
    AsyncAdapt_dbapi_cursor,
    AsyncIODBAPIConnection,
)
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import concurrency

from bot.pipeline import telegram_retry
from exports import xlsx_writer

CHANGED = (
    "{library} changed shape under {patch}: {what}. Adapt the patch (or drop it if {library} now"
    " does the same), re-measure, then move the cap in pyproject.toml."
)


def _fail_unless(condition: object, library: str, patch: str, what: str) -> None:
    if not condition:
        pytest.fail(CHANGED.format(library=library, patch=patch, what=what), pytrace=False)


def _has(owner: Any, name: str, library: str, patch: str) -> None:
    _fail_unless(hasattr(owner, name), library, patch, f"{owner!r} has no {name!r}")


def _params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- bot/dispatcher.py: synchronous filters run on the event loop -------------------------


async def test_aiogram_filter_objects_for_run_sync_filters_inline() -> None:
    patch = "bot/dispatcher.py run_sync_filters_inline"
    router = Router()
    router.message.filter(lambda message: True)

    @router.message(lambda message: True)
    async def handler(message: Any) -> None: ...

    observer = router.observers["message"]
    _fail_unless(isinstance(observer, TelegramEventObserver), "aiogram", patch, "observers")
    _fail_unless(list(router.chain_tail) == [router], "aiogram", patch, "Router.chain_tail")
    _has(observer, "_handler", "aiogram", patch)
    _fail_unless(
        isinstance(observer._handler, HandlerObject)
        and isinstance(observer._handler.filters, list)
        and isinstance(observer.handlers[0], HandlerObject)
        and isinstance(observer.handlers[0].filters, list),
        "aiogram",
        patch,
        "an observer's own filters in ._handler.filters, its handlers' in .handlers[i].filters",
    )
    handler_filters = observer.handlers[0].filters
    assert handler_filters is not None  # checked to be a list just above
    event_filter = handler_filters[0]
    _fail_unless(isinstance(event_filter, FilterObject), "aiogram", patch, "FilterObject")
    fields = {"callback", "awaitable", "params", "varkw"}
    _fail_unless(
        fields <= set(CallableObject.__dataclass_fields__),
        "aiogram",
        patch,
        f"CallableObject's fields are no longer {sorted(fields)}",
    )

    # The assumption behind the patch: `awaitable` alone decides between a worker thread and
    # the event loop, and callback/awaitable can be swapped after the parameters were read.
    threads: list[int] = []

    def sync_check(message: str) -> bool:
        threads.append(threading.get_ident())
        return True

    sync = FilterObject(callback=sync_check)
    _fail_unless(sync.awaitable is False, "aiogram", patch, "a sync callable is not awaitable")
    await sync.call("hi", bot=None)
    _fail_unless(
        threads[-1] != threading.get_ident(),
        "aiogram",
        patch,
        "a synchronous filter no longer runs in a worker thread (the patch may be unneeded)",
    )

    async def inline(*args: Any, **kwargs: Any) -> Any:
        return sync_check(*args, **kwargs)

    sync.callback, sync.awaitable = inline, True
    await sync.call("hi", bot=None)  # `bot` is filtered out by the params read at creation
    _fail_unless(
        threads[-1] == threading.get_ident(),
        "aiogram",
        patch,
        "FilterObject.call ignores a swapped callback/awaitable",
    )


# --- bot/pipeline/telegram_retry.py: parametrized Response models kept alive --------------------


def test_pydantic_generic_cache_for_keep_response_type() -> None:
    patch = "bot/pipeline/telegram_retry.py _keep_response_type"
    _has(SendMessage, "__returning__", "aiogram", patch)
    _fail_unless(SendMessage.__returning__ is Message, "aiogram", patch, "__returning__")
    held = Response[Message]
    _fail_unless(
        Response[Message] is held,
        "pydantic",
        patch,
        "a parametrized model held by a reference is no longer reused from the cache",
    )
    telegram_retry._keep_response_type(SendMessage(chat_id=1, text="shape"))
    _fail_unless(
        telegram_retry._RESPONSE_TYPES[SendMessage] is Response[Message],
        "pydantic",
        patch,
        "the kept model is not the one aiogram's Response[Message] gives back",
    )
    from pydantic._internal import _generics

    _fail_unless(
        hasattr(_generics, "_GENERIC_TYPES_CACHE"),
        "pydantic",
        patch,
        "pydantic's generic-model cache moved (check whether it is still weak)",
    )


# --- bot/db/sqlite_driver.py: one trip to aiosqlite's thread per statement ------------------


async def test_sqlalchemy_and_aiosqlite_adapter_for_one_trip_driver() -> None:
    patch = "bot/db/sqlite_driver.py"
    _fail_unless(
        issubclass(AsyncAdapt_aiosqlite_cursor, AsyncAdapt_dbapi_cursor),
        "SQLAlchemy",
        patch,
        "the aiosqlite cursor no longer derives from AsyncAdapt_dbapi_cursor",
    )
    slots = set(AsyncAdapt_dbapi_cursor.__slots__)
    needed = {"_adapt_connection", "_connection", "_cursor", "_rows", "_soft_closed_memoized"}
    _fail_unless(needed <= slots, "SQLAlchemy", patch, f"cursor slots {sorted(needed - slots)}")
    for name, params in {
        "_execute_async": ["self", "operation", "parameters"],
        "_executemany_async": ["self", "operation", "seq_of_parameters"],
    }.items():
        method = getattr(AsyncAdapt_aiosqlite_cursor, name, None)
        _fail_unless(
            method is not None and _params(method) == params,
            "SQLAlchemy",
            patch,
            f"cursor.{name}{tuple(params[1:])}",
        )
    _fail_unless(
        AsyncAdapt_aiosqlite_cursor._awaitable_cursor_close is True,
        "SQLAlchemy",
        patch,
        "_awaitable_cursor_close",
    )
    _fail_unless(
        AsyncAdapt_aiosqlite_connection._cursor_cls is AsyncAdapt_aiosqlite_cursor,
        "SQLAlchemy",
        patch,
        "the connection no longer makes its buffered cursors from _cursor_cls",
    )
    _has(AsyncAdapt_aiosqlite_dbapi, "connect", "SQLAlchemy", patch)
    # Inline statements, commits and rollbacks: the per-connection mutex (is a trip to the
    # thread in flight?) and the adapter's error translation.
    _fail_unless(
        "_execute_mutex" in AsyncAdapt_dbapi_connection.__slots__,
        "SQLAlchemy",
        patch,
        "the connection's _execute_mutex",
    )
    for name in ("commit", "rollback", "_handle_exception"):
        _has(AsyncAdapt_aiosqlite_connection, name, "SQLAlchemy", patch)
    _has(concurrency, "await_", "SQLAlchemy", patch)

    # aiosqlite: a function run in its thread on the sqlite3 connection, and that thread.
    _fail_unless(
        inspect.iscoroutinefunction(aiosqlite.Connection._execute),
        "aiosqlite",
        patch,
        "Connection._execute(fn, *args) is gone",
    )
    connection = await aiosqlite.connect(":memory:")
    try:
        _fail_unless(
            isinstance(connection._conn, sqlite3.Connection),
            "aiosqlite",
            patch,
            "Connection._conn is not the sqlite3 connection",
        )
        _fail_unless(
            isinstance(connection, threading.Thread)
            or isinstance(getattr(connection, "_thread", None), threading.Thread),
            "aiosqlite",
            patch,
            "the database thread is neither the connection nor its _thread",
        )
        ran_in: list[int] = []

        def run(conn: sqlite3.Connection, value: int) -> list[Any]:
            ran_in.append(threading.get_ident())
            return conn.execute("SELECT ?", (value,)).fetchall()

        rows = await connection._execute(run, connection._conn, 7)
        _fail_unless(
            rows == [(7,)] and ran_in[0] != threading.get_ident(),
            "aiosqlite",
            patch,
            "Connection._execute no longer runs fn(*args) in the database thread",
        )
        # Inline statements check these before touching the sqlite3 connection themselves.
        _fail_unless(
            connection._running is True and connection._connection is connection._conn,
            "aiosqlite",
            patch,
            "Connection._running / ._connection (is it open?) moved",
        )
        # SQLAlchemy's protocol is stricter than the aiosqlite connection it adapts in
        # production (aiosqlite's cursor() is an awaitable context manager).
        adapted = cast(AsyncIODBAPIConnection, connection)
        mutex = AsyncAdapt_aiosqlite_connection(
            AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3), adapted
        )
        _fail_unless(
            isinstance(mutex._execute_mutex, asyncio.Lock) and mutex._connection is adapted,
            "SQLAlchemy",
            patch,
            "the adapted connection's _execute_mutex / _connection",
        )
    finally:
        await connection.close()


# --- exports/xlsx_writer.py: openpyxl's writer, default cell format, compact hyperlinks ---------


def test_openpyxl_write_only_internals_for_the_export() -> None:
    patch = "exports/xlsx_writer.py"
    # _alignments, _fonts, _cell_styles: the wrapped default format; StyleArray.quotePrefix
    workbook, quoted = xlsx_writer.new_workbook()
    cell_styles = workbook._cell_styles  # type: ignore[attr-defined]  # private, not in the stubs
    _fail_unless(
        isinstance(cell_styles, IndexedList)
        and isinstance(cell_styles[0], StyleArray)
        and cell_styles[0].alignmentId != 0
        and cell_styles[0].fontId != 0
        and quoted.quotePrefix == 1,
        "openpyxl",
        patch,
        "Workbook._cell_styles / _alignments (the default cell format)",
    )
    ws = workbook.create_sheet("shape")
    _fail_unless(isinstance(ws, WriteOnlyWorksheet), "openpyxl", patch, "WriteOnlyWorksheet")
    _fail_unless(ws._writer is None, "openpyxl", patch, "WriteOnlyWorksheet._writer")
    for name in ("write_top", "write_row", "write_hyperlinks"):
        _has(WorksheetWriter, name, "openpyxl", patch)
    _fail_unless(
        _params(WorksheetWriter.write_row) == ["self", "xf", "row", "row_idx"],
        "openpyxl",
        patch,
        "WorksheetWriter.write_row(xf, row, row_idx)",
    )
    _fail_unless(
        _params(etree_write_cell)[:4] == ["xf", "worksheet", "cell", "styled"],
        "openpyxl",
        patch,
        "etree_write_cell(xf, worksheet, cell, styled)",
    )

    # What the row writer reads from a cell, and what _set_attributes hands back.
    cell = WriteOnlyCell(ws, "текст")
    for name in ("_value", "_comment", "_style", "has_style", "data_type"):
        _has(cell, name, "openpyxl", patch)
    value, attributes = _set_attributes(cell, False)
    _fail_unless(
        value == "текст" and attributes == {"r": "A1", "t": "inlineStr"},
        "openpyxl",
        patch,
        f"_set_attributes(cell, styled) -> (value, attributes), got {(value, attributes)!r}",
    )

    # Hyperlinks are collected through ws._hyperlinks.append, which _CompactLinks stands in for.
    writer = xlsx_writer.SheetWriter(ws)
    for name in ("_rels", "xf", "ws"):
        _has(writer, name, "openpyxl", patch)
    ws._writer = writer
    writer.write_top()
    linked = WriteOnlyCell(ws, "ссылка")
    linked.hyperlink = "https://example.org/a"
    _set_attributes(linked, True)
    _fail_unless(
        ws._hyperlinks.pairs == [("A1", "https://example.org/a")],
        "openpyxl",
        patch,
        "_set_attributes no longer collects hyperlinks with worksheet._hyperlinks.append",
    )

    # The text row writer needs et_xmlfile's output function; without it every row silently
    # falls back to openpyxl's slower path.
    seen: list[bool] = []
    write_row = xlsx_writer.SheetWriter.write_row

    def spy(self: xlsx_writer.SheetWriter, xf: Any, row: Any, row_idx: int) -> None:
        seen.append(callable(getattr(xf, "_file", None)))
        write_row(self, xf, row, row_idx)

    sheet = xlsx_writer.new_workbook()[0].create_sheet("rows")
    probe = xlsx_writer.SheetWriter(sheet)
    probe.write_row = spy.__get__(probe)  # type: ignore[method-assign]
    sheet._writer = probe
    probe.write_top()
    sheet.append(["a", 1])
    sheet.close()
    _fail_unless(
        seen == [True] or not _et_xmlfile_in_use(),
        "openpyxl",
        patch,
        "the row stream is no longer et_xmlfile's writer with a callable _file",
    )


def _et_xmlfile_in_use() -> bool:
    from openpyxl.xml import LXML

    return not LXML
