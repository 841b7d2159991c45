"""The update pipeline: short transactions, crash at every await, redelivery, polling, locks.

A crash is simulated by ``Crash``, a BaseException that nothing in the bot catches: no error
router, no commit after it, as when a process is killed. It is raised at the k-th *point* of an
update — before each SQL statement, before each commit, before each Bot API call — for every k
until the update runs through; then the same update (same ``update_id``) is delivered again to
a new dispatcher over the same database, as Telegram does after a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.methods import GetUpdates, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, Message, Update
from aiogram.utils.backoff import BackoffConfig
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.storage import DatabaseStorage
from bot.dispatcher import create_bot, create_dispatcher
from bot.pipeline.locks import RedisLockIsolation, redis_client
from bot.pipeline.polling import InboxPolling
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from bot.ui.states import ReportForm
from models import ActivityReport, FsmRecord, Mark, RoadmapItem, TelegramUpdate
from tests.conftest import Harness, World
from tests.services import redis_prefix, scale_redis  # noqa: F401
from tests.telegram import BOT_ID, RecordingSession, UpdateFactory

LINK_TEXT = "Провели урок для 5А и 5Б, фото: https://vk.com/wall-1_2"


@pytest.fixture
async def item(session_factory, world: World) -> RoadmapItem:
    async with session_factory() as session, session.begin():
        row = RoadmapItem(
            school_id=world.school_a.id, number="1", title="Урок цифры в 5-х классах", position=1
        )
        session.add(row)
    return row


class Crash(BaseException):
    """The process dies here."""


class Points:
    """Counts the points an update passes and crashes at the chosen one."""

    def __init__(self) -> None:
        self.crash_at: int | None = None
        self.passed: list[str] = []

    def __call__(self, name: str) -> None:
        if self.crash_at is None:
            return
        self.passed.append(name)
        if len(self.passed) == self.crash_at:
            raise Crash(name)


class CrashingSession(RecordingSession):
    def __init__(self, points: Points) -> None:
        super().__init__()
        self.points = points

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: Any = None
    ) -> Any:
        self.points(f"api {type(method).__name__}")
        return await super().make_request(bot, method, timeout)


@pytest.fixture
def points(engine: AsyncEngine) -> Iterator[Points]:
    points = Points()

    def before_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        points(f"sql {statement.split()[0]}")

    def before_commit(conn: Any) -> None:
        points("commit")

    event.listen(engine.sync_engine, "before_cursor_execute", before_statement)
    event.listen(engine.sync_engine, "commit", before_commit)
    yield points
    event.remove(engine.sync_engine, "before_cursor_execute", before_statement)
    event.remove(engine.sync_engine, "commit", before_commit)


def new_harness(settings, session_factory, i18n, session=None, isolation=None) -> Harness:
    recorder = session or RecordingSession()
    return Harness(
        dp=create_dispatcher(settings, session_factory, i18n, events_isolation=isolation),
        bot=create_bot(settings, session=recorder),
        recorder=recorder,
        updates=UpdateFactory(),
    )


async def report_count(session_factory) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count(ActivityReport.id))) or 0)


async def form_of(session_factory, user_id: int) -> tuple[str | None, dict[str, Any]]:
    key = DefaultKeyBuilder(with_destiny=True).build(
        StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)
    )
    async with session_factory() as session:
        record = await session.get(FsmRecord, key)
        if record is None:
            return None, {}
        # Without what differs from one draft to the next: its random key and the clock.
        data = {k: v for k, v in record.data.items() if k != "touched"}
        if isinstance(data.get("draft"), dict):
            data["draft"] = {k: v for k, v in data["draft"].items() if k != "key"}
        return record.state, data


Step = Callable[[Harness], Update]


async def crash_everywhere(
    settings,
    session_factory,
    i18n,
    points: Points,
    prepare: Callable[[Harness], Any],
    step: Step,
    isolation: Callable[[], Any] = lambda: None,
) -> list[tuple[str, int, tuple[str | None, dict[str, Any]], list[str]]]:
    """For k = 1, 2, …: prepare a fresh form, crash the step at its k-th point, redeliver it.

    Returns, per k, where it crashed, the reports added, the form left and the texts the
    redelivery sent; the last entry is the run that passed every point (no crash).
    """
    outcomes = []
    for k in itertools.count(1):
        normal = new_harness(settings, session_factory, i18n, isolation=isolation())
        await prepare(normal)
        before = await report_count(session_factory)
        update = step(normal)

        crashing = new_harness(
            settings, session_factory, i18n, CrashingSession(points), isolation=isolation()
        )
        points.passed, points.crash_at = [], k
        crashed: str | None = None
        try:
            await crashing.dp.feed_update(crashing.bot, update)
        except Crash as crash:
            crashed = str(crash)
        finally:
            points.crash_at = None

        restarted = new_harness(settings, session_factory, i18n, isolation=isolation())
        sent = await restarted.feed(update)
        incoming = update.event
        assert isinstance(incoming, Message | CallbackQuery) and incoming.from_user is not None
        teacher_id = incoming.from_user.id
        outcomes.append(
            (
                crashed or "none",
                await report_count(session_factory) - before,
                await form_of(session_factory, teacher_id),
                [m.text for m in sent if isinstance(m, SendMessage)],
            )
        )
        if crashed is None:
            return outcomes
        assert k < 60, "the update never ran through"
    raise AssertionError("unreachable")


async def to_card(harness: Harness, teacher, item_id: int) -> None:
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=item_id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    await harness.send(teacher, LINK_TEXT)


@pytest.fixture(params=["database", "redis"])
def isolation(request) -> Callable[[], Any]:
    """The per-user lock: in-process, or in Redis (form state is in the database for both)."""
    if request.param == "database":
        return lambda: None
    url = request.getfixturevalue("scale_redis")
    prefix = request.getfixturevalue("redis_prefix")
    builder = DefaultKeyBuilder(prefix=prefix, with_destiny=True)
    return lambda: RedisLockIsolation(redis_client(url, 10), builder, ttl=2.0)


async def test_submit_survives_a_crash_at_every_point(
    settings, session_factory, i18n, points, world: World, item, tg, isolation
):
    teacher = tg.user(world.teacher.telegram_id)
    outcomes = await crash_everywhere(
        settings,
        session_factory,
        i18n,
        points,
        prepare=lambda h: to_card(h, teacher, item.id),
        step=lambda h: h.updates.callback(teacher, ReportNav(action="submit").pack()),
        isolation=isolation,
    )
    where = [crashed for crashed, *_ in outcomes]
    # The crashes covered the whole update: statements, the commit and the replies after it.
    assert "commit" in where and "sql INSERT" in where
    assert any(w.startswith("api ") for w in where[where.index("commit") :])
    for crashed, added, form, _sent in outcomes:
        assert added == 1, crashed  # exactly one report, whatever the crash
        assert form == (None, {}), crashed  # and the draft is gone with it
    confirmed_again = [sent for crashed, _, _, sent in outcomes if crashed == "commit"]
    assert confirmed_again and all(confirmed_again), "a crash before the commit: redone"


def without_form_msg(form: Any) -> Any:
    state, data = form
    return state, {k: v for k, v in data.items() if k != "form_msg"}


@pytest.mark.parametrize("step", ["start", "description"])
async def test_a_step_survives_a_crash_at_every_point(
    settings, session_factory, i18n, points, world: World, item, tg, isolation, step
):
    """A step applied twice would show: /report again offers to resume, a text twice…"""
    teacher = tg.user(world.teacher.telegram_id)

    async def prepare(harness: Harness) -> None:
        await harness.send(teacher, "/cancel")  # the previous round's draft
        if step == "description":
            await harness.send(teacher, "/report")
            await harness.click(teacher, ReportItem(item_id=item.id).pack())
            await harness.click(teacher, ReportMark(mark="done").pack())

    def update(harness: Harness) -> Update:
        return harness.updates.message(teacher, "/report" if step == "start" else LINK_TEXT)

    outcomes = await crash_everywhere(
        settings, session_factory, i18n, points, prepare, update, isolation=isolation
    )
    *crashes, (_, _, reference, _) = outcomes
    if step == "start":
        assert reference[0] == ReportForm.activity.state
    else:
        assert reference[0] == ReportForm.summary.state
        assert reference[1]["draft"]["mark"] == Mark.DONE.value
    assert "commit" in [crashed for crashed, *_ in crashes]
    assert any(crashed.startswith("api ") for crashed, *_ in crashes)
    for crashed, added, form, _sent in crashes:
        assert added == 0, crashed
        # The new form message's id is written after Telegram returns it: not part of the step.
        assert without_form_msg(form) == without_form_msg(reference), crashed
        # one step ahead, never two, never behind


async def test_no_transaction_is_open_during_bot_api_calls_of_a_typical_report(
    harness: Harness, engine: AsyncEngine, world: World, item, tg
):
    """The typical report: one transaction per update and fewer than six statements."""
    statements: list[str] = []
    commits: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split())[:140])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    teacher = tg.user(world.teacher.telegram_id)
    per_update = []
    steps = [
        lambda: harness.send(teacher, "/report"),
        lambda: harness.click(teacher, ReportItem(item_id=item.id).pack()),
        lambda: harness.click(teacher, ReportMark(mark="done").pack()),
        lambda: harness.send(teacher, LINK_TEXT),
        lambda: harness.click(teacher, ReportNav(action="submit").pack()),
    ]
    for step in steps:
        statements.clear()
        commits.clear()
        await step()
        queries = [s for s in statements if s.split()[0] not in {"BEGIN", "COMMIT", "ROLLBACK"}]
        per_update.append((len(queries), len(commits)))
    # A typed answer's new form message has an id only once Telegram returns it: that id is
    # written in a second short transaction (handlers/report/card.py `show`); buttons: one.
    typed = {0, 3}
    assert all(c == (2 if i in typed else 1) for i, (_, c) in enumerate(per_update)), per_update
    # Three are the pipeline's own: the first read (user, form, handled mark), the form's
    # upsert and the handled mark (and the form message id's upsert after a typed answer).
    # «Отправить» also writes the report, its evidence and audit.
    *steps_, submit = [q for q, _ in per_update]
    assert all(q <= 5 + (i in typed) for i, q in enumerate(steps_)) and submit <= 9, per_update
    assert sum(q for q, _ in per_update) / len(per_update) < 6, per_update
    # (the autouse fixture fails the test if any Bot API call went out inside a transaction)


async def test_the_next_step_does_not_wait_for_the_previous_press_to_be_answered(
    harness: Harness,
    recorder: RecordingSession,
    world: World,
    item,
    tg,
    monkeypatch,
    session_factory,
):
    """The press is answered after the user's lock is released: with Telegram 150–250 ms away
    the user's next update (sent as soon as the new screen arrived) must not queue behind it."""
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    held = asyncio.Event()
    release = asyncio.Event()
    make_request = recorder.make_request

    async def slow_answers(bot, method, timeout=None):
        if type(method).__name__ == "AnswerCallbackQuery" and not held.is_set():
            held.set()
            await release.wait()  # Telegram hasn't answered the first press yet
        return await make_request(bot, method, timeout)

    monkeypatch.setattr(recorder, "make_request", slow_answers)
    press = asyncio.create_task(
        harness.dp.feed_update(
            harness.bot, harness.updates.callback(teacher, ReportItem(item_id=item.id).pack())
        )
    )
    await held.wait()  # the press's screen is out; its answer is on its way
    assert not press.done()
    next_step = asyncio.create_task(
        harness.dp.feed_update(
            harness.bot, harness.updates.callback(teacher, ReportMark(mark="done").pack())
        )
    )
    for _ in range(10_000):  # only the event loop's own turns: no I/O in this test session
        if next_step.done():
            break
        await asyncio.sleep(0)
    assert next_step.done(), "the next step waited for the previous press's answer"
    assert not press.done()
    release.set()
    await asyncio.gather(press, next_step)
    async with session_factory() as session:
        states = (await session.scalars(select(FsmRecord.state))).all()
    assert states == [ReportForm.description.state]  # both steps applied, in order
    answered = [m for m in recorder.drain() if type(m).__name__ == "AnswerCallbackQuery"]
    assert len(answered) == 2  # each press answered once


async def test_the_confirmation_and_the_cards_buttons_go_out_side_by_side(
    harness: Harness,
    recorder: RecordingSession,
    world: World,
    item,
    tg,
    monkeypatch,
    session_factory,
):
    """«Отправить»: the card loses its buttons and the confirmation is sent in one round trip,
    not two in a row (the user's next step waited for both)."""
    teacher = tg.user(world.teacher.telegram_id)
    await to_card(harness, teacher, item.id)
    held = asyncio.Event()
    release = asyncio.Event()
    make_request = recorder.make_request

    async def slow_edits(bot, method, timeout=None):
        if type(method).__name__ == "EditMessageReplyMarkup":
            held.set()
            await release.wait()  # Telegram hasn't answered the edit yet
        return await make_request(bot, method, timeout)

    monkeypatch.setattr(recorder, "make_request", slow_edits)
    recorder.drain()
    submit = asyncio.create_task(
        harness.dp.feed_update(
            harness.bot, harness.updates.callback(teacher, ReportNav(action="submit").pack())
        )
    )
    await held.wait()
    for _ in range(10_000):
        if any(isinstance(m, SendMessage) for m in recorder.requests):
            break
        await asyncio.sleep(0)
    sent = [m for m in recorder.requests if isinstance(m, SendMessage)]
    assert len(sent) == 1 and not submit.done(), "the confirmation waited for the edit"
    release.set()
    await submit
    assert await report_count(session_factory) == 1


async def test_a_redelivered_update_has_no_second_effect(
    harness: Harness, session_factory, world: World, item, tg
):
    teacher = tg.user(world.teacher.telegram_id)
    await to_card(harness, teacher, item.id)
    submit = harness.updates.callback(teacher, ReportNav(action="submit").pack())
    assert await harness.feed(submit)
    assert await harness.feed(submit) == []  # the same update_id: dropped, nothing said
    assert await report_count(session_factory) == 1
    async with session_factory() as session:
        mark = await session.get(TelegramUpdate, submit.update_id)
        assert mark is not None and mark.handled_at is not None and mark.payload is None


# --- polling ----------------------------------------------------------------------------------


def batch(*updates: Update) -> list[dict[str, Any]]:
    return [u.model_dump(mode="json", exclude_unset=True) for u in updates]


async def test_polling_records_a_batch_before_confirming_it_and_replays_after_a_crash(
    settings, session_factory, i18n, points, world: World, item, tg
):
    teacher = tg.user(world.teacher.telegram_id)
    prepared = new_harness(settings, session_factory, i18n)
    await to_card(prepared, teacher, item.id)
    submit = prepared.updates.callback(teacher, ReportNav(action="submit").pack())

    # The first process takes the batch, records it, and dies inside the handler.
    crashing = new_harness(settings, session_factory, i18n, CrashingSession(points))
    crashing.recorder.add_result(batch(submit))
    polling = InboxPolling(crashing.dp, crashing.bot, session_factory, polling_timeout=0)
    await polling.poll_once()
    points.passed, points.crash_at = [], 1  # the handler's first statement
    handling = list(polling._in_flight.values())
    assert len(handling) == 1
    (outcome,) = await asyncio.gather(*handling, return_exceptions=True)
    points.crash_at = None
    assert isinstance(outcome, Crash)
    (get_updates,) = [r for r in crashing.recorder.drain() if isinstance(r, GetUpdates)]
    assert get_updates.offset is None
    assert polling.offset == submit.update_id + 1  # confirmed with the next call, once recorded
    assert await report_count(session_factory) == 0

    # The restarted process handles what was recorded and not handled, exactly once.
    restarted = new_harness(settings, session_factory, i18n)
    again = InboxPolling(restarted.dp, restarted.bot, session_factory, polling_timeout=0)
    assert await again.replay() == 1
    await asyncio.gather(*again._in_flight.values())
    assert await report_count(session_factory) == 1
    assert await again.replay() == 0  # the unit of work marked it handled
    restarted.recorder.add_result(batch(submit))  # Telegram sends it once more: no effect
    await again.poll_once()
    await asyncio.gather(*again._in_flight.values())
    assert await report_count(session_factory) == 1


async def test_polling_does_not_confirm_a_batch_it_could_not_record(
    settings, session_factory, i18n, engine: AsyncEngine, world: World, tg
):
    teacher = tg.user(world.teacher.telegram_id)
    harness = new_harness(settings, session_factory, i18n)
    update = harness.updates.message(teacher, "/help")
    harness.recorder.add_result(batch(update))
    harness.recorder.add_result(batch(update))
    failures = [1]

    def fail_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO telegram_updates") and failures:
            failures.pop()
            raise RuntimeError("disk full")

    event.listen(engine.sync_engine, "before_cursor_execute", fail_once)
    polling = InboxPolling(harness.dp, harness.bot, session_factory, polling_timeout=0)
    polling.backoff = BackoffConfig(min_delay=0.0, max_delay=0.01, factor=1.1, jitter=0.0)
    await polling.poll_once()
    await asyncio.gather(*polling._in_flight.values())
    offsets = [r.offset for r in harness.recorder.drain() if isinstance(r, GetUpdates)]
    assert offsets == [None, None]  # the failed batch was fetched again, not confirmed
    assert polling.offset == update.update_id + 1


async def test_polling_marks_updates_that_only_read_once_they_are_handled(
    settings, session_factory, i18n, world: World, tg
):
    teacher = tg.user(world.teacher.telegram_id)
    harness = new_harness(settings, session_factory, i18n)
    update = harness.updates.message(teacher, "/help")
    harness.recorder.add_result(batch(update))
    polling = InboxPolling(harness.dp, harness.bot, session_factory, polling_timeout=0)
    await polling.poll_once()
    await asyncio.gather(*polling._in_flight.values())
    harness.recorder.add_result([])
    await polling.poll_once()  # the next round records that /help was handled
    async with session_factory() as session:
        mark = await session.get(TelegramUpdate, update.update_id)
        assert mark is not None and mark.handled_at is not None
    assert await InboxPolling(harness.dp, harness.bot, session_factory).replay() == 0


# --- the per-user lock in Redis -----------------------------------------------------------------


async def test_a_dead_process_lock_frees_within_its_short_ttl(
    scale_redis: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
):
    builder = DefaultKeyBuilder(prefix=redis_prefix, with_destiny=True)
    key = StorageKey(bot_id=BOT_ID, chat_id=7, user_id=7)
    client = redis_client(scale_redis, 4)
    try:
        # What a killed process leaves behind: the lock key, no longer renewed.
        await client.set(builder.build(key, "lock"), "dead-process", px=500)
        survivor = RedisLockIsolation(client, builder, ttl=0.5, wait=3.0)
        async with survivor.lock(key):  # raises LockError if not free within 3 s
            pass
    finally:
        await client.aclose()


async def test_a_handler_that_outlives_its_lock_does_not_commit(
    settings,
    session_factory,
    i18n,
    world: World,
    item,
    tg,
    caplog,
    scale_redis: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
):
    builder = DefaultKeyBuilder(prefix=redis_prefix, with_destiny=True)
    client = redis_client(scale_redis, 4)
    isolation = RedisLockIsolation(client, builder, ttl=0.3)
    teacher = tg.user(world.teacher.telegram_id)
    harness = new_harness(settings, session_factory, i18n, isolation=isolation)
    await to_card(harness, teacher, item.id)

    from bot.pipeline import unit_of_work

    stalled = asyncio.Event()
    original = unit_of_work.UnitOfWork.commit

    async def stall_then_commit(self: unit_of_work.UnitOfWork) -> None:
        if not stalled.is_set():
            stalled.set()
            # Another process takes the lock over while this one is stalled.
            lock_key = builder.build(StorageKey(BOT_ID, teacher.id, teacher.id), "lock")
            await client.set(lock_key, "other-process")
            for _ in range(100):
                if self.guard is not None and self.guard.lost:
                    break
                await asyncio.sleep(0.05)
        await original(self)

    unit_of_work.UnitOfWork.commit = stall_then_commit  # type: ignore[method-assign]
    try:
        submit = harness.updates.callback(teacher, ReportNav(action="submit").pack())
        with caplog.at_level(logging.WARNING):
            await harness.feed(submit)
    finally:
        unit_of_work.UnitOfWork.commit = original  # type: ignore[method-assign]
        await client.aclose()
    assert await report_count(session_factory) == 0  # nothing written behind the other's back
    assert any("LockLost" in r.getMessage() for r in caplog.records)  # and not silently


async def test_two_hundred_users_at_once_with_a_small_redis_pool(
    scale_redis: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
):
    """The pool waits for a free connection instead of failing (redis-py's default raises)."""
    builder = DefaultKeyBuilder(prefix=redis_prefix, with_destiny=True)
    client = redis_client(scale_redis, 5)
    isolation = RedisLockIsolation(client, builder)
    done: list[int] = []

    async def user(n: int) -> None:
        async with isolation.lock(StorageKey(bot_id=BOT_ID, chat_id=n, user_id=n)):
            await asyncio.sleep(0.01)
            done.append(n)

    try:
        results = await asyncio.gather(*(user(n) for n in range(200)), return_exceptions=True)
    finally:
        await client.aclose()
    assert [r for r in results if r is not None] == []
    assert sorted(done) == list(range(200))


def test_storage_is_the_database_with_and_without_redis(settings, session_factory):
    from bot.dispatcher import create_fsm_storage

    storage, _ = create_fsm_storage(settings, session_factory)
    assert isinstance(storage, DatabaseStorage)
    with_redis = settings.model_copy(
        update={"redis_url": __import__("pydantic").SecretStr("redis://127.0.0.1:6379/0")}
    )
    storage, isolation = create_fsm_storage(with_redis, session_factory)
    assert isinstance(storage, DatabaseStorage) and isinstance(isolation, RedisLockIsolation)


async def test_handled_marks_are_forgotten_after_two_days(session_factory):
    from datetime import timedelta

    from bot.pipeline.polling import prune_handled
    from models.base import utcnow

    now = utcnow()
    async with session_factory() as session, session.begin():
        session.add_all(
            [
                TelegramUpdate(update_id=1, received_at=now, handled_at=now - timedelta(days=3)),
                TelegramUpdate(update_id=2, received_at=now, handled_at=now - timedelta(hours=1)),
                TelegramUpdate(update_id=3, received_at=now - timedelta(days=3), payload="{}"),
            ]
        )
    async with session_factory() as session, session.begin():
        await prune_handled(session)
    async with session_factory() as session:
        kept = await session.scalars(select(TelegramUpdate.update_id).order_by("update_id"))
        assert list(kept) == [2, 3]  # an update never handled is kept until it is
