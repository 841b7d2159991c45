"""Deadline reminders: digests into the outbox, paced sending, no repeats, muting, 429 and 403."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select

from bot.config import Settings
from bot.jobs.outbox import MAX_ATTEMPTS, Outbox, RateLimiter
from bot.jobs.reminders import reminder_renderers, reminders_job
from bot.jobs.scheduler import Scheduler
from bot.ui.callbacks import ReminderMute, ReminderReport, ReportItem
from models import ActivityReport, Mark, Notification, RoadmapItem, Role, School, User
from models.reminders import CURATOR_OVERDUE, DEADLINES, WEEKLY, build_reminders
from tests.conftest import Harness, World
from tests.telegram import RecordingSession

# A Tuesday, 12:30 in Moscow.
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
TODAY = date(2026, 3, 10)


@dataclass
class FakeClock:
    """Monotonic time that only moves when someone sleeps: pacing without real waiting."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Seed:
    items: dict[str, int]
    coordinator2: User
    muted: User


@pytest.fixture
async def seed(world: World, session_factory) -> Seed:
    def item(number: str, due: date | None) -> RoadmapItem:
        return RoadmapItem(
            school_id=world.school_a.id,
            position=int(number),
            number=number,
            title=f"Мероприятие {number}",
            due_raw=f"до {due:%d.%m.%Y} г." if due else None,
            due_kind="date" if due else "unknown",
            due_date=due,
        )

    async with session_factory() as session, session.begin():
        rows = {
            "soon1": item("1", TODAY + timedelta(days=1)),
            "soon2": item("2", TODAY + timedelta(days=3)),
            "later": item("3", TODAY + timedelta(days=10)),
            "overdue": item("4", TODAY - timedelta(days=5)),
            "done": item("5", TODAY - timedelta(days=2)),
            "reported": item("6", TODAY + timedelta(days=2)),
            "ancient": item("7", TODAY - timedelta(days=200)),
            "no_date": item("8", None),
        }
        session.add_all(rows.values())
        coordinator2 = User(
            telegram_id=1102, role=Role.COORDINATOR, school_id=world.school_a.id, full_name="К2"
        )
        muted = User(
            telegram_id=1103,
            role=Role.COORDINATOR,
            school_id=world.school_a.id,
            full_name="К3",
            reminders_muted=True,
        )
        session.add_all([coordinator2, muted])
        await session.flush()
        for key, mark in (("done", Mark.DONE), ("reported", Mark.PARTIAL)):
            session.add(
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.coordinator.id,
                    roadmap_item_id=rows[key].id,
                    title=rows[key].title,
                    held_on=TODAY - timedelta(days=1),
                    mark=mark,
                    submitted_at=NOW - timedelta(days=1),
                )
            )
    return Seed({k: v.id for k, v in rows.items()}, coordinator2, muted)


def make_outbox(
    bot: Bot, i18n: I18n, settings: Settings, clock: FakeClock, now: datetime = NOW
) -> Outbox:
    outbox = Outbox(
        bot, i18n, limiter=RateLimiter(clock=clock.monotonic), now=lambda: now, sleep=clock.sleep
    )
    for kind, renderer in reminder_renderers(settings, clock=lambda: now).items():
        outbox.register(kind, renderer)
    return outbox


async def build(session_factory, settings: Settings, now: datetime = NOW):
    async with session_factory() as session, session.begin():
        return await build_reminders(
            session, now=now, tz=settings.tz, days_before=settings.reminder_days_before
        )


async def send_due(outbox: Outbox, session_factory) -> int:
    async with session_factory() as session:
        return await outbox.run(session)


def messages(recorder: RecordingSession) -> list[SendMessage]:
    return [r for r in recorder.drain() if isinstance(r, SendMessage)]


async def rows(session_factory) -> list[Notification]:
    async with session_factory() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


async def test_one_digest_per_coordinator_with_several_items(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    result = await build(session_factory, settings)
    assert result.added == {DEADLINES: 2, CURATOR_OVERDUE: 1, WEEKLY: 0}
    by_user = {(n.user_id, n.kind) for n in await rows(session_factory)}
    assert by_user == {
        (world.coordinator.id, DEADLINES),
        (seed.coordinator2.id, DEADLINES),
        (world.curator.id, CURATOR_OVERDUE),
    }

    sent = await send_due(make_outbox(bot, i18n, settings, FakeClock()), session_factory)

    assert sent == 3
    requests = messages(recorder)
    assert sorted(r.chat_id for r in requests) == sorted(
        [world.coordinator.telegram_id, seed.coordinator2.telegram_id, world.curator.telegram_id]
    )
    (digest,) = [r for r in requests if r.chat_id == world.coordinator.telegram_id]
    for number in ("1", "2", "4"):
        assert f"Мероприятие {number} " in digest.text
    for number in ("3", "5", "6", "7", "8"):
        assert f"Мероприятие {number} " not in digest.text
    assert len(digest.text) < 4096
    assert isinstance(digest.reply_markup, InlineKeyboardMarkup)
    buttons = [b.callback_data for row in digest.reply_markup.inline_keyboard for b in row]
    assert ReminderReport().pack() in buttons and ReminderMute(action="mute").pack() in buttons
    (curator,) = [r for r in requests if r.chat_id == world.curator.telegram_id]
    assert "Мероприятие 4 " in curator.text and "СОШ №2" in curator.text
    assert "Мероприятие 1 " not in curator.text
    assert all(n.sent_at is not None and n.last_error is None for n in await rows(session_factory))


async def test_digest_is_in_the_recipients_language(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    async with session_factory() as session, session.begin():
        (await session.get(User, world.coordinator.id)).locale = "en"
    await build(session_factory, settings)
    await send_due(make_outbox(bot, i18n, settings, FakeClock()), session_factory)
    texts = {r.chat_id: r.text for r in messages(recorder)}
    with i18n.context(), i18n.use_locale("en"):
        assert _("<b>⏰ Roadmap deadlines</b>") in texts[world.coordinator.telegram_id]
    with i18n.context(), i18n.use_locale("ru"):
        assert _("<b>⏰ Roadmap deadlines</b>") in texts[seed.coordinator2.telegram_id]


async def test_no_duplicates_when_run_twice_or_after_a_restart(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    await build(session_factory, settings)
    assert (await build(session_factory, settings)).total == 0
    clock = FakeClock()
    outbox = make_outbox(bot, i18n, settings, clock)
    assert await send_due(outbox, session_factory) == 3
    assert await send_due(outbox, session_factory) == 0
    messages(recorder)

    # A restart: a new scheduler and outbox over the same database run both jobs again.
    scheduler = Scheduler(session_factory)
    scheduler.every(600, "reminders", reminders_job(settings, now=lambda: NOW))
    scheduler.every(10, "outbox", make_outbox(bot, i18n, settings, FakeClock()).run)
    assert await scheduler.run_once("reminders") and await scheduler.run_once("outbox")
    assert messages(recorder) == []
    assert len(await rows(session_factory)) == 3

    # Tomorrow nothing is new; the day after, item 1 has become overdue: one more digest each.
    assert (await build(session_factory, settings, NOW + timedelta(days=1))).total == 0
    assert (await build(session_factory, settings, NOW + timedelta(days=2))).added == {
        DEADLINES: 2,
        CURATOR_OVERDUE: 1,
        WEEKLY: 0,
    }
    later = make_outbox(bot, i18n, settings, FakeClock(), now=NOW + timedelta(days=2))
    assert await send_due(later, session_factory) == 3
    (digest,) = [r for r in messages(recorder) if r.chat_id == world.coordinator.telegram_id]
    assert "Мероприятие 1 " in digest.text and "Мероприятие 4 " not in digest.text


async def test_muted_users_get_nothing(
    harness: Harness, world: World, seed: Seed, tg, i18n, settings, session_factory, i18n_ru
):
    (answer,) = [
        r.text
        for r in await harness.send(tg.user(world.coordinator.telegram_id), "/mute")
        if isinstance(r, SendMessage)
    ]
    assert answer == _("Reminders are off. /unmute turns them back on.")
    await build(session_factory, settings)
    recipients = {n.user_id for n in await rows(session_factory)}
    assert recipients == {seed.coordinator2.id, world.curator.id}

    # Muted after the digest was computed: it is dropped when its turn comes, not sent.
    async with session_factory() as session, session.begin():
        (await session.get(User, seed.coordinator2.id)).reminders_muted = True
    await send_due(make_outbox(harness.bot, i18n, settings, FakeClock()), session_factory)
    assert [r.chat_id for r in messages(harness.recorder)] == [world.curator.telegram_id]
    (dropped,) = [n for n in await rows(session_factory) if n.user_id == seed.coordinator2.id]
    assert dropped.sent_at is not None and dropped.last_error

    (answer,) = [
        r.text
        for r in await harness.click(
            tg.user(world.coordinator.telegram_id), ReminderMute(action="unmute").pack()
        )
        if isinstance(r, SendMessage)
    ]
    assert answer == _("Reminders are on. /mute turns them off.")
    async with session_factory() as session:
        assert not (await session.get(User, world.coordinator.id)).reminders_muted


def test_rate_limiter_paces_overall_and_per_chat() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=25, per_chat_interval=1.0, clock=clock.monotonic)
    for chat in range(25):
        assert limiter.delay(chat) == 0
        limiter.record(chat)
    assert limiter.delay(100) == pytest.approx(1.0)  # the 26th within the same second waits
    assert limiter.delay(3) == pytest.approx(1.0)
    clock.now += 0.4
    assert limiter.delay(100) == pytest.approx(0.6)
    clock.now += 0.6
    assert limiter.delay(100) == 0 and limiter.delay(3) == 0
    limiter.record(3)
    clock.now += 0.5
    assert limiter.delay(3) == pytest.approx(0.5)  # one a second to the same chat
    limiter.pause(7)
    assert limiter.delay(200) == pytest.approx(7.0)


async def test_rate_limiter_spreads_a_burst_over_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=25, clock=clock.monotonic)
    start = clock.now
    sent_at = []
    for chat in range(60):
        await limiter.acquire(chat, clock.sleep)
        sent_at.append(clock.now - start)
    for second in range(3):
        assert sum(1 for t in sent_at if second <= t < second + 1) <= 25
    assert sent_at[-1] == pytest.approx(2.0)
    for _repeat in range(3):
        await limiter.acquire(7, clock.sleep)
    assert clock.now - start == pytest.approx(4.0)


async def test_429_retry_after_is_honoured(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    await build(session_factory, settings)
    recorder.add_error(429, "Too Many Requests: retry after 7", retry_after=7)
    clock = FakeClock()
    sent = await send_due(make_outbox(bot, i18n, settings, clock), session_factory)

    assert sent == 3
    requests = messages(recorder)
    assert len(requests) == 4 and requests[0].chat_id == requests[1].chat_id
    assert sum(clock.sleeps) >= 7
    assert clock.sleeps[0] == pytest.approx(7.0)
    assert all(n.sent_at is not None for n in await rows(session_factory))


async def test_a_long_flood_wait_ends_the_run_and_the_row_waits(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    await build(session_factory, settings)
    recorder.add_error(429, "Too Many Requests: retry after 300", retry_after=300)
    clock = FakeClock()
    assert await send_due(make_outbox(bot, i18n, settings, clock), session_factory) == 0
    assert clock.sleeps == []
    first = (await rows(session_factory))[0]
    assert first.sent_at is None and first.due_at == NOW + timedelta(seconds=300)
    assert "TelegramRetryAfter" in (first.last_error or "")


async def test_blocked_user_is_marked_sent_with_the_error_and_not_retried(
    world: World, seed: Seed, bot: Bot, recorder, i18n, settings, session_factory
):
    await build(session_factory, settings)
    recorder.add_error(403, "Forbidden: bot was blocked by the user")
    outbox = make_outbox(bot, i18n, settings, FakeClock())
    assert await send_due(outbox, session_factory) == 2
    blocked = (await rows(session_factory))[0]
    assert blocked.sent_at is not None and "Forbidden" in (blocked.last_error or "")
    assert await send_due(outbox, session_factory) == 0


async def test_a_failing_row_is_retried_later_and_then_given_up(
    world: World, bot: Bot, recorder, i18n, settings, session_factory
):
    async def broken(session, notification, user):
        raise RuntimeError("renderer bug")

    async with session_factory() as session, session.begin():
        session.add(Notification(user_id=world.coordinator.id, kind="boom", dedupe_key="boom:1"))
    moment = datetime.now(UTC)
    for attempt in range(1, MAX_ATTEMPTS + 2):
        outbox = make_outbox(bot, i18n, settings, FakeClock(), now=moment)
        outbox.register("boom", broken)
        assert await send_due(outbox, session_factory) == 0
        (row,) = await rows(session_factory)
        assert row.attempts == attempt
        if attempt <= MAX_ATTEMPTS:
            assert row.sent_at is None and row.due_at > moment
            assert "renderer bug" in (row.last_error or "")
            moment = row.due_at
    assert row.sent_at is not None
    assert row.last_error is not None and row.last_error.startswith("gave up")
    assert messages(recorder) == []


async def test_weekly_nudge_for_schools_that_reported_nothing(
    world: World, bot: Bot, recorder, i18n, settings, session_factory
):
    friday = datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    async with session_factory() as session, session.begin():
        other = School(
            municipality_id=world.municipality.id, name="МБОУ «СОШ №9»", short_name="СОШ №9"
        )
        session.add(other)
        await session.flush()
        session.add(User(telegram_id=1201, role=Role.COORDINATOR, school_id=other.id))
        # School A reported on Monday of this week; СОШ №9 did not.
        session.add(
            ActivityReport(
                school_id=world.school_a.id,
                title="Классный час",
                held_on=date(2026, 3, 9),
                mark=Mark.DONE,
                submitted_at=datetime(2026, 3, 9, 8, 0, tzinfo=UTC),
            )
        )
    tuesday = await build(session_factory, settings, NOW)
    assert tuesday.added[WEEKLY] == 0
    assert (await build(session_factory, settings, friday)).added[WEEKLY] == 1
    assert (await build(session_factory, settings, friday + timedelta(days=1))).added[WEEKLY] == 0
    await send_due(make_outbox(bot, i18n, settings, FakeClock(), friday), session_factory)
    (nudge,) = messages(recorder)
    assert nudge.chat_id == 1201 and "СОШ №9" in nudge.text


async def test_reminders_wait_for_the_morning_in_the_configured_time_zone(
    world: World, seed: Seed, settings, session_factory
):
    night = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 05:00 in Moscow, before REMINDER_HOUR
    scheduler = Scheduler(session_factory)
    scheduler.every(600, "reminders", reminders_job(settings, now=lambda: night))
    assert await scheduler.run_once("reminders")
    async with session_factory() as session:
        assert await session.scalar(select(func.count(Notification.id))) == 0


async def test_report_button_under_a_digest_starts_a_report(
    harness: Harness, world: World, seed: Seed, tg, i18n_ru
):
    sent = await harness.click(tg.user(world.coordinator.telegram_id), ReminderReport().pack())
    markups = [getattr(r, "reply_markup", None) for r in sent]
    buttons = [
        b.callback_data or ""
        for m in markups
        if isinstance(m, InlineKeyboardMarkup)
        for row in m.inline_keyboard
        for b in row
    ]
    # The buttons carry the new form's id after the (empty) one of a bare pack().
    assert any(b.startswith(ReportItem(item_id=seed.items["soon1"]).pack()) for b in buttons)
