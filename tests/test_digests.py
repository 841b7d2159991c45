"""Curators get new reports as a digest: one message per interval, downtime covered, no repeats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiogram.methods import SendMessage
from sqlalchemy import func, select

from bot.jobs.digests import digest_renderer
from bot.jobs.outbox import Outbox, RateLimiter
from models import ActivityReport, Mark, Notification, User
from models.digests import NEW_REPORTS, build_report_digests, interval_start
from tests.conftest import Harness, World
from tests.test_reminders import FakeClock

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def add_report(
    session_factory, school_id: int, author_id: int, title: str, at: datetime
) -> None:
    async with session_factory() as session, session.begin():
        session.add(
            ActivityReport(
                school_id=school_id,
                author_id=author_id,
                title=title,
                held_on=date(2026, 11, 20),
                mark=Mark.DONE,
                submitted_at=at,
            )
        )


async def build(session_factory, now: datetime) -> int:
    async with session_factory() as session, session.begin():
        return await build_report_digests(session, now=now, interval=HOUR)


async def deliver(harness: Harness, session_factory, settings, now: datetime) -> list[SendMessage]:
    clock = FakeClock()
    outbox = Outbox(
        harness.bot,
        harness.dp["i18n"],
        limiter=RateLimiter(clock=clock.monotonic),
        now=lambda: now,
        sleep=clock.sleep,
    )
    outbox.register(NEW_REPORTS, digest_renderer(settings))
    harness.recorder.drain()
    async with session_factory() as session:
        await outbox.run(session)
    return [r for r in harness.recorder.drain() if isinstance(r, SendMessage)]


def test_interval_start() -> None:
    assert interval_start(datetime(2026, 11, 23, 10, 59, 59, tzinfo=UTC), HOUR) == T0
    assert interval_start(T0, HOUR) == T0


async def test_one_digest_per_interval_with_only_the_curators_schools(
    harness: Harness, world: World, session_factory, settings
) -> None:
    for minute in (5, 20, 50):
        await add_report(
            session_factory,
            world.school_a.id,
            world.teacher.id,
            f"Урок {minute}",
            T0 + timedelta(minutes=minute),
        )
    await add_report(
        session_factory, world.school_b.id, world.teacher_b.id, "Чужой", T0 + timedelta(minutes=30)
    )

    assert await build(session_factory, T0 + timedelta(minutes=59)) == 0  # the hour isn't over
    assert await build(session_factory, T0 + HOUR + timedelta(minutes=2)) == 1
    assert await build(session_factory, T0 + HOUR + timedelta(minutes=40)) == 0  # same interval

    (message,) = await deliver(
        harness, session_factory, settings, T0 + HOUR + timedelta(minutes=3)
    )
    assert message.chat_id == world.curator.telegram_id
    assert "Урок 5" in message.text and "Урок 50" in message.text and "Чужой" not in message.text
    assert (
        await deliver(harness, session_factory, settings, T0 + HOUR + timedelta(minutes=4)) == []
    )

    # Nothing new in the next hour: no message at all.
    assert await build(session_factory, T0 + 2 * HOUR + timedelta(minutes=1)) == 0


async def test_downtime_gives_one_digest_covering_it(
    harness: Harness, world: World, session_factory, settings
) -> None:
    await build(session_factory, T0)  # the job ran before: nothing to send
    await add_report(
        session_factory, world.school_a.id, world.teacher.id, "Первый", T0 - timedelta(minutes=10)
    )
    await add_report(
        session_factory,
        world.school_a.id,
        world.teacher.id,
        "Второй",
        T0 + timedelta(hours=2, minutes=10),
    )
    # The bot was down from T0 to T0+5h: one run now covers both reports, in one message.
    assert await build(session_factory, T0 + timedelta(hours=5, minutes=1)) == 1
    (message,) = await deliver(
        harness, session_factory, settings, T0 + timedelta(hours=5, minutes=2)
    )
    assert "Первый" in message.text and "Второй" in message.text


async def test_reviewed_meanwhile_or_muted_sends_nothing(
    harness: Harness, world: World, session_factory, settings
) -> None:
    await add_report(
        session_factory, world.school_a.id, world.teacher.id, "Урок", T0 + timedelta(minutes=5)
    )
    assert await build(session_factory, T0 + HOUR) == 1
    async with session_factory() as session, session.begin():
        report = await session.scalar(select(ActivityReport))
        report.review_state = "confirmed"
    assert await deliver(harness, session_factory, settings, T0 + HOUR) == []

    async with session_factory() as session, session.begin():
        (await session.get(User, world.curator.id)).reminders_muted = True
    await add_report(
        session_factory,
        world.school_a.id,
        world.teacher.id,
        "Ещё",
        T0 + HOUR + timedelta(minutes=5),
    )
    assert await build(session_factory, T0 + 2 * HOUR) == 0
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 1
