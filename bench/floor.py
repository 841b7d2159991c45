"""Benchmark 6: what every form step pays at the least, part by part (issue 15's CPU target).

bench/e2e.py compares the bot's CPU per update with aiogram's form example. The example keeps its
form in memory and makes one Bot API call per update; a step of ours must also run its unit of
work (bot/pipeline/unit_of_work.py: the first read, the form state and the handled mark written,
commit) and makes two calls per update on average (a press: its answer and an edit; a typed
answer: the new form message and the old one's buttons taken off). This measures those parts
alone, in one process, in CPU time of the measuring thread (``time.thread_time``):

1. **unit of work**: a session, the unit's first read (user, form state, handled mark), a form
   state written and the update marked handled, commit, close — exactly as an update runs it,
   on a copy of the `users` demo database (SQLAlchemy's async session, our SQLite driver);
2. **of which SQLite**: the time spent inside sqlite3 in those statements and the commit;
   and, for comparison, the same statements (compiled by SQLAlchemy once) and the commit on a
   plain ``sqlite3`` connection, synchronously: the best a hot path on the raw driver could do;
3. **a Bot API call, ours**: an editMessageText with a 6-button keyboard through the bot's own
   ``create_bot`` (JSON body, request middlewares), Telegram's reply echoing the keyboard;
4. **a Bot API call, the example's**: a sendMessage with a reply keyboard through a stock
   aiogram ``Bot`` (its form-encoded session), as examples/finite_state_machine.py sends.

The Bot API stand-in (tests/fake_bot_api.py) runs in a thread of its own, so its CPU is not
counted. "Floor beyond the example" = (1) + 2 × (3) − (4): what a step of ours costs more than
the example's step before any routing, handler, query of its own, text or keyboard. With
``--example-ms`` (the example's CPU per update from bench/e2e.py on the same machine) it is also
given as a ratio.

    .venv/bin/python -m bench.floor
    .venv/bin/python -m bench.floor --example-ms 1.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from sqlalchemy import select
from sqlalchemy.dialects import sqlite as sqlite_dialect

import bot.db.sqlite_driver as sqlite_driver
from bench.common import (
    USERS,
    copy_dataset,
    describe_machine,
    machine,
    median,
    save,
    sqlite_url,
    table,
)
from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.db.storage import DatabaseStorage, _upsert
from bot.dispatcher import create_bot
from bot.pipeline.unit_of_work import _FIRST, UnitOfWork, _mark_handled_statement, current_unit
from bot.ui.markup import Keyboard
from models import Role, User
from tests.fake_bot_api import FakeBotAPI
from tests.telegram import TOKEN

CALLS_PER_UPDATE = 2.0  # the /report flow: 10 Bot API calls in 5 updates (BENCHMARKS §4)
DRAFT = {
    "draft": {
        "key": "3f1c0e6a9b2d4c5e",
        "school_id": 17,
        "item_id": 412,
        "title": "Урок цифры в 5-х классах",
        "direction": "digital",
        "mark": "done",
        "held_on": None,
        "description": "Провели урок для 5А и 5Б",
        "links": ["https://school.ru/news/412"],
        "files": [],
    },
    "form_msg": 1042,
}


class SqliteClock:
    """Thread CPU spent inside sqlite3 by the driver's statements and commits."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        originals = sqlite_driver._execute, sqlite_driver._commit

        def timed(function: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any) -> Any:
                started = time.thread_time()
                try:
                    return function(*args)
                finally:
                    self.seconds += time.thread_time() - started

            return run

        sqlite_driver._execute = timed(originals[0])
        sqlite_driver._commit = timed(originals[1])
        try:
            yield
        finally:
            sqlite_driver._execute, sqlite_driver._commit = originals


async def _cpu_each(step: Callable[[int], Awaitable[Any]], count: int) -> float:
    """Median over 5 batches of the thread CPU seconds per call of `step`."""
    for number in range(min(200, count)):
        await step(-1 - number)
    batches = []
    for batch in range(5):
        started = time.thread_time()
        for number in range(count):
            await step(batch * count + number)
        batches.append((time.thread_time() - started) / count)
    return median(batches)


async def unit_of_work(url: str, count: int) -> tuple[float, float]:
    """(CPU per unit of work, of which inside SQLite), in seconds."""
    engine = create_engine(url)
    factory = create_session_factory(engine)
    storage = DatabaseStorage(factory)
    try:
        async with factory() as session:
            telegram_ids = list(
                await session.scalars(
                    select(User.telegram_id).where(User.role == Role.TEACHER).limit(50)
                )
            )
        first_update = 10_000_000

        async def step(number: int) -> None:
            telegram_id = telegram_ids[number % len(telegram_ids)]
            key = f"{TOKEN.split(':')[0]}:{telegram_id}:{telegram_id}:default"
            async with factory() as session:
                unit = UnitOfWork(session, first_update + number + 1000, storage)
                token = current_unit.set(unit)
                try:
                    user, handled = await unit.load(telegram_id, key)
                    assert user is not None and not handled
                    entry = unit.fsm[key]
                    entry.state, entry.data, entry.dirty = "ReportForm:mark", dict(DRAFT), True
                    await unit.commit()
                finally:
                    current_unit.reset(token)

        clock = SqliteClock()
        with clock.installed():
            each = await _cpu_each(step, count)
        # The clock ran through the warm-up too: scale by the calls it saw.
        calls = 5 * count + min(200, count)
        return each, clock.seconds / calls
    finally:
        await engine.dispose()


def raw_unit_of_work(path: Path, count: int) -> float:
    """CPU per unit of work with the same statements on a plain sqlite3 connection."""
    dialect = sqlite_dialect.dialect(paramstyle="named")
    first, upsert, mark = (
        statement.compile(dialect=dialect)
        for statement in (_FIRST, _upsert("sqlite"), _mark_handled_statement("sqlite"))
    )
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    telegram_ids = [
        row[0]
        for row in connection.execute("SELECT telegram_id FROM users WHERE role = 'teacher'")
    ][:50]
    data = json.dumps(DRAFT, ensure_ascii=False)

    def step(number: int) -> None:
        telegram_id = telegram_ids[number % len(telegram_ids)]
        key = f"{TOKEN.split(':')[0]}:{telegram_id}:{telegram_id}:default"
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
        update_id = 20_000_000 + number + 1000
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            first.string,
            first.construct_params(
                {"telegram_id": telegram_id, "fsm_key": key, "update_id": update_id}
            ),
        ).fetchall()
        params = {"key": key, "state": "ReportForm:mark", "data": data, "now": now}
        connection.execute(upsert.string, upsert.construct_params(params))
        connection.execute(
            mark.string, mark.construct_params({"update_id": update_id, "now": now})
        )
        connection.execute("COMMIT")

    try:
        for number in range(min(200, count)):
            step(-1 - number)
        batches = []
        for batch in range(5):
            started = time.thread_time()
            for number in range(count):
                step(batch * count + number)
            batches.append((time.thread_time() - started) / count)
        return median(batches)
    finally:
        connection.close()


@contextmanager
def stand_in() -> Iterator[str]:
    """The Bot API stand-in in a thread (and event loop) of its own; yields its URL."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        api = FakeBotAPI(TOKEN)
        loop.run_until_complete(api.start())
        holder.update(api=api, loop=loop)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(api.stop())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield holder["api"].url
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)


async def bot_api_calls(url: str, count: int) -> tuple[float, float]:
    """(CPU per call of ours, per call of a stock aiogram Bot as the example), in seconds."""
    settings = Settings(_env_file=None, bot_token=TOKEN, telegram_api_url=url)
    ours = create_bot(settings)
    keyboard = Keyboard()
    for number, label in enumerate(("✅ Проведено", "◐ Частично", "✖ Не проведено")):
        keyboard.button(text=label, callback_data=f"rm:{number}")
    for action, label in (("back", "← Назад"), ("cancel", "Отмена"), ("skip", "Пропустить")):
        keyboard.button(text=label, callback_data=f"rn:{action}")
    markup = keyboard.adjust(3, 3).as_markup()
    text = "<b>Урок цифры в 5-х классах</b>\nКак прошло мероприятие?\n" + "Шаг 2 из 5 " * 8
    stock = Bot(token=TOKEN)
    stock.session.api = ours.session.api
    menu = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Python"), KeyboardButton(text="Go")]],
        resize_keyboard=True,
    )
    try:

        async def edit(_number: int) -> None:
            await ours.edit_message_text(
                text=text, chat_id=7, message_id=1042, reply_markup=markup
            )

        async def send(_number: int) -> None:
            await stock.send_message(
                chat_id=7, text="Cool! Now tell me the language you like", reply_markup=menu
            )

        return await _cpu_each(edit, count), await _cpu_each(send, count)
    finally:
        await ours.session.close()
        await stock.session.close()


async def main_async(count: int, example_ms: float | None) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        db = copy_dataset(USERS, Path(tmp) / "floor.sqlite3")
        unit, inside_sqlite = await unit_of_work(sqlite_url(db), count)
        raw = raw_unit_of_work(db, count)
    with stand_in() as url:
        ours, stock = await bot_api_calls(url, count)
    beyond = unit + CALLS_PER_UPDATE * ours - stock
    result: dict[str, Any] = {
        "count_per_batch": count,
        "unit_of_work_ms": round(unit * 1000, 3),
        "of_which_sqlite_ms": round(inside_sqlite * 1000, 3),
        "raw_sqlite3_unit_of_work_ms": round(raw * 1000, 3),
        "bot_api_call_ours_ms": round(ours * 1000, 3),
        "bot_api_call_stock_ms": round(stock * 1000, 3),
        "calls_per_update": CALLS_PER_UPDATE,
        "floor_beyond_example_ms": round(beyond * 1000, 3),
    }
    if example_ms is not None:
        result["example_ms"] = example_ms
        result["floor_ratio"] = round((example_ms + beyond * 1000) / example_ms, 2)
    return result


def report(result: dict[str, Any]) -> str:
    rows = [
        [
            "unit of work (session, first read, form state, handled mark, commit)",
            "1",
            f"{result['unit_of_work_ms']:.3f}",
        ],
        ["— of which inside SQLite", "", f"{result['of_which_sqlite_ms']:.3f}"],
        [
            "the same statements on a plain sqlite3 connection (for comparison)",
            "",
            f"{result['raw_sqlite3_unit_of_work_ms']:.3f}",
        ],
        [
            "Bot API call, ours (JSON, keyboard echoed back)",
            f"{result['calls_per_update']:g}",
            f"{result['bot_api_call_ours_ms']:.3f}",
        ],
        [
            "Bot API call, stock aiogram (the example's)",
            "1 (example)",
            f"{result['bot_api_call_stock_ms']:.3f}",
        ],
    ]
    lines = [table(["part", "per update", "CPU ms each"], rows)]
    lines.append(
        f"* floor beyond the example per update: {result['floor_beyond_example_ms']:.3f} ms"
    )
    if "floor_ratio" in result:
        lines.append(
            f"* with the example at {result['example_ms']} ms per update: a step of ours costs "
            f"at least {result['floor_ratio']}× the example's before routing, handlers, their "
            "queries, texts and keyboards"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="calls per batch (5 batches)")
    parser.add_argument("--example-ms", type=float, help="the example's CPU ms per update (e2e)")
    args = parser.parse_args(argv)
    info = machine()
    print(describe_machine(info), flush=True)
    result = asyncio.run(main_async(args.count, args.example_ms))
    print(report(result))
    path = save("floor", {"machine": info, "result": result})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
