"""Benchmark 1: form step throughput through the real dispatcher, against a bare echo bot.

The bot: ``bot.dispatcher.create_dispatcher`` exactly as ``main.py run`` builds it (database FSM
storage, every middleware, default throttling) on a SQLite copy of a demo database; every step
of the 5-step /report flow (/report → roadmap item → «done» → text with a link → «Отправить»)
is committed to the file. The echo: a bare aiogram Dispatcher with in-memory FSM whose handlers
answer a message with its text and a button press with an empty answer. Both are fed the same
updates through ``Dispatcher.feed_update`` with the same fake Telegram at the session boundary
(tests/telegram.py: aiogram's own request and response code runs, no network), alternating
rounds in one run.

    .venv/bin/python -m bench.form_steps            # 300 users' flows (1,500 updates) a round
    .venv/bin/python -m bench.form_steps --full     # 3,000 users' flows (15,000 updates) a round

Each flow is a different registered user's (the demo database of 100 schools, or of 2,000 with
--full), so the default per-user throttling (4 updates/s, burst 12) stays on as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.types import CallbackQuery, Message, Update
from sqlalchemy import func, select

from bench.common import (
    SMALL,
    USERS,
    DataSet,
    copy_dataset,
    describe_machine,
    machine,
    median,
    save,
    sqlite_url,
    table,
    verdict,
)
from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.dispatcher import create_bot, create_dispatcher
from bot.i18n import create_i18n
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from models import ActivityReport, FsmRecord, RoadmapItem, Role, User
from tests.telegram import TOKEN, RecordingSession, UpdateFactory

TARGET_RATIO = 0.5
STEPS = 5


@dataclass(frozen=True)
class Reporter:
    telegram_id: int
    item_id: int


async def reporters(url: str) -> list[Reporter]:
    """Staff of the demo database with one roadmap item of their school each."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            first_item = (
                select(RoadmapItem.school_id, func.min(RoadmapItem.id).label("item_id"))
                .group_by(RoadmapItem.school_id)
                .subquery()
            )
            rows = await session.execute(
                select(User.telegram_id, first_item.c.item_id)
                .join(first_item, first_item.c.school_id == User.school_id)
                .where(User.role.in_([Role.TEACHER, Role.COORDINATOR]))
                .order_by(User.id)
            )
            return [Reporter(t, i) for t, i in rows]
    finally:
        await engine.dispose()


def flow(factory: UpdateFactory, who: Reporter, number: int) -> list[Update]:
    user = factory.user(who.telegram_id)
    return [
        factory.message(user, "/report"),
        factory.callback(user, ReportItem(item_id=who.item_id).pack()),
        factory.callback(user, ReportMark(mark="done").pack()),
        factory.message(
            user, f"Провели урок для 5А и 5Б, фото: https://school.ru/n/{who.telegram_id}-{number}"
        ),
        factory.callback(user, ReportNav(action="submit").pack()),
    ]


def echo_dispatcher() -> Dispatcher:
    """aiogram's echo bot, plus an answer to button presses; default in-memory FSM storage."""
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()

    dp = Dispatcher()
    dp.include_router(router)
    return dp


@dataclass
class Round:
    kind: str
    mode: str
    updates: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def _drive(
    feed: Callable[[Update], Awaitable[Any]], plans: list[list[Update]], mode: str
) -> None:
    if mode == "sequential":
        for plan in plans:
            for update in plan:
                await feed(update)
        return

    async def one_user(plan: list[Update]) -> None:
        for update in plan:
            await feed(update)

    await asyncio.gather(*(one_user(plan) for plan in plans))


def _plans(people: list[Reporter], flows: int, mode: str) -> list[list[Update]]:
    """Per user, their flows one after another; `flows` flows in all."""
    factory = UpdateFactory()
    per_user: dict[int, list[Update]] = {}
    for number in range(flows):
        who = people[number % len(people)]
        per_user.setdefault(who.telegram_id, []).extend(flow(factory, who, number))
    return list(per_user.values())


async def run_round(
    kind: str, mode: str, flows: int, workdir: Path, index: int, data: DataSet = USERS
) -> Round:
    db = copy_dataset(data, workdir / f"round-{index}.sqlite3")
    url = sqlite_url(db)
    people = await reporters(url)
    plans = _plans(people, flows, mode)
    warmup = _plans(people[-5:], 5, mode)
    recorder = RecordingSession()
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=url,
        timezone="Europe/Moscow",
        default_locale="ru",
        bot_username="school_reports_bot",
    )
    engine = create_engine(url)
    if kind == "bot":
        dp = create_dispatcher(settings, create_session_factory(engine), create_i18n("ru"))
        bot = create_bot(settings, session=recorder)
    else:
        dp = echo_dispatcher()
        bot = Bot(token=TOKEN, session=recorder)

    async def feed(update: Update) -> Any:
        result = await dp.feed_update(bot, update)
        if len(recorder.requests) > 10_000:
            recorder.requests.clear()
        return result

    try:
        await _drive(feed, warmup, "sequential")
        gc.collect()
        updates = sum(len(p) for p in plans)
        cpu = time.process_time()
        started = time.perf_counter()
        await _drive(feed, plans, mode)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if kind == "bot":
            async with create_session_factory(engine)() as session:
                stored = await session.scalar(select(func.count()).select_from(ActivityReport))
                drafts = await session.scalar(select(func.count()).select_from(FsmRecord))
            expected = data.reports + flows + 5
            if stored != expected or drafts:
                raise RuntimeError(f"reports {stored} (expected {expected}), drafts left {drafts}")
        return Round(kind, mode, updates, seconds, cpu)
    finally:
        await engine.dispose()
        _remove(workdir, f"round-{index}.sqlite3*")


def _remove(workdir: Path, pattern: str) -> None:
    for path in workdir.glob(pattern):
        path.unlink()


async def main_async(flows: int, rounds: int, data: DataSet) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    results: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-form-") as tmp:
        workdir = Path(tmp)
        index = 0
        for _ in range(rounds):
            for mode in ("sequential", "concurrent"):
                for kind in ("echo", "bot"):
                    index += 1
                    result = await run_round(kind, mode, flows, workdir, index, data)
                    results.append(result)
                    print(
                        f"{kind:4} {mode:10} {result.updates} updates in {result.seconds:.2f} s "
                        f"= {result.rate:,.0f}/s (CPU {result.cpu_seconds:.2f} s)",
                        flush=True,
                    )
    summary = []
    for mode in ("sequential", "concurrent"):
        echo = median([r.rate for r in results if r.kind == "echo" and r.mode == mode])
        bot = median([r.rate for r in results if r.kind == "bot" and r.mode == mode])
        echo_cpu = median(
            [r.cpu_seconds / r.updates for r in results if r.kind == "echo" and r.mode == mode]
        )
        bot_cpu = median(
            [r.cpu_seconds / r.updates for r in results if r.kind == "bot" and r.mode == mode]
        )
        summary.append(
            {
                "mode": mode,
                "echo_updates_per_s": round(echo, 1),
                "bot_updates_per_s": round(bot, 1),
                "ratio": round(bot / echo, 4),
                "echo_cpu_ms_per_update": round(echo_cpu * 1000, 3),
                "bot_cpu_ms_per_update": round(bot_cpu * 1000, 3),
                "target_ratio": TARGET_RATIO,
                "met": bot / echo >= TARGET_RATIO,
            }
        )
    return {
        "data": {"schools": data.schools, "reports": data.reports, "file": data.path.name},
        "flows_per_round": flows,
        "updates_per_round": flows * STEPS,
        "rounds": rounds,
        "runs": [r.__dict__ | {"rate": round(r.rate, 1)} for r in results],
        "summary": summary,
    }


def report(payload: dict[str, Any]) -> str:
    rows = [
        [
            s["mode"],
            f"{s['echo_updates_per_s']:,.0f}",
            f"{s['bot_updates_per_s']:,.0f}",
            f"{s['ratio']:.3f}",
            f"{s['echo_cpu_ms_per_update']:.3f}",
            f"{s['bot_cpu_ms_per_update']:.3f}",
            f"≥ {TARGET_RATIO} — {verdict(s['met'])}",
        ]
        for s in payload["summary"]
    ]
    return table(
        [
            "mode",
            "echo updates/s",
            "bot updates/s",
            "bot / echo",
            "echo CPU ms/update",
            "bot CPU ms/update",
            "target",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="3,000 flows per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind and mode")
    args = parser.parse_args(argv)
    # One flow per registered user: the default throttling (4 updates/s, burst 12) stays on.
    flows, data = (3_000, SMALL) if args.full else (300, USERS)
    info = machine()
    print(describe_machine(info), flush=True)
    payload = asyncio.run(main_async(flows, args.rounds, data))
    path = save("form_steps" + ("_full" if args.full else ""), payload)
    print(report(payload))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
