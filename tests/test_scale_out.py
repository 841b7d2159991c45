"""Scheduled work with several bot processes over one PostgreSQL database: exactly once.

Each «process» here has its own engine (so its own connections and PostgreSQL sessions), bot,
scheduler and outbox, wired with the production job functions and names; clocks are injected,
nothing waits for real time. Runs on PostgreSQL also in the plain (SQLite) run of the suite,
and skips when no PostgreSQL server answers (tests/services.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from aiogram.methods import SendDocument, SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.db.storage import DatabaseStorage
from bot.dispatcher import create_bot, create_dispatcher
from bot.jobs import outbox as outbox_module
from bot.jobs import weekly_export
from bot.jobs.digests import digest_job, digest_renderer
from bot.jobs.outbox import Outbox, RateLimiter
from bot.jobs.reminders import reminder_renderers, reminders_job
from bot.jobs.scheduler import Scheduler
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from exports.schedule import parse_schedule
from models import (
    ActivityReport,
    ExportRun,
    FsmRecord,
    JobStatus,
    Mark,
    Notification,
    RoadmapItem,
)
from models.digests import NEW_REPORTS
from models.export_runs import WEEKLY, RunKey, claim_run, ensure_run
from models.reminders import build_reminders
from tests import pg
from tests.conftest import World
from tests.services import pg_url, scale_postgres, scale_template  # noqa: F401
from tests.telegram import RecordingSession, UpdateFactory
from tests.test_reminders import FakeClock

# Monday 23.11.2026, 10:30 in Moscow: the week 16–22.11 is due for the weekly export, it is
# reminder time, and the digest interval 07:00–08:00 UTC is under way.
NOW = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
TODAY = date(2026, 11, 23)
CHAT = -100_500_600
JOBS = ("reminders", "report_digests", "outbox", weekly_export.JOB_NAME)


@pytest.fixture
def database_url(pg_url: str) -> str:  # noqa: F811
    """Everything in this module runs on a PostgreSQL database of the test's own."""
    return pg_url


@dataclass
class Clock:
    """The wall clock every process reads; tests move it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Process:
    """One bot process's scheduled work, wired like bot/app.py with injected clocks."""

    name: str
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    recorder: RecordingSession
    scheduler: Scheduler
    outbox: Outbox

    def sent(self) -> list[SendMessage]:
        return [r for r in self.recorder.requests if isinstance(r, SendMessage)]

    def documents(self) -> list[SendDocument]:
        return [r for r in self.recorder.requests if isinstance(r, SendDocument)]


@pytest.fixture
async def read_factory(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, read_only=True)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def processes(
    settings: Settings,
    i18n: I18n,
    read_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> AsyncIterator[list[Process]]:
    made: list[Process] = []
    for n in range(2):
        engine = create_engine(settings.database_url)
        factory = create_session_factory(engine)
        recorder = RecordingSession()
        bot = create_bot(settings, session=recorder)
        pacing = FakeClock()
        outbox = Outbox(
            bot, i18n, limiter=RateLimiter(clock=pacing.monotonic), now=clock, sleep=pacing.sleep
        )
        for kind, renderer in reminder_renderers(settings, clock=clock).items():
            outbox.register(kind, renderer)
        outbox.register(NEW_REPORTS, digest_renderer(settings))
        scheduler = Scheduler(factory)
        scheduler.every(60, "reminders", reminders_job(settings, now=clock))
        scheduler.every(60, "report_digests", digest_job(settings, now=clock))
        scheduler.every(10, "outbox", outbox.run)
        weekly = weekly_export.WeeklyExport(
            bot,
            i18n,
            read_factory,
            chat_id=CHAT,
            schedule=parse_schedule("mon 09:00"),
            tz=settings.tz,
            locale="ru",
            now=clock,
            sleep=clock.sleep,
            owner=f"process-{n}",
        )
        scheduler.every(60, weekly_export.JOB_NAME, weekly.run)
        made.append(Process(f"process-{n}", engine, factory, recorder, scheduler, outbox))
    yield made
    for process in made:
        await process.engine.dispose()


@pytest.fixture
async def seeded(world: World, session_factory: async_sessionmaker[AsyncSession]) -> World:
    """An overdue and a due-soon activity (reminders) and a fresh report (curator's digest)."""
    async with session_factory() as session, session.begin():
        session.add_all(
            [
                RoadmapItem(
                    school_id=world.school_a.id,
                    position=1,
                    number="1",
                    title="Педсовет",
                    due_date=TODAY - timedelta(days=5),
                ),
                RoadmapItem(
                    school_id=world.school_a.id,
                    position=2,
                    number="2",
                    title="Урок цифры",
                    due_date=TODAY + timedelta(days=1),
                ),
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.teacher.id,
                    title="Классный час",
                    held_on=TODAY - timedelta(days=1),
                    mark=Mark.DONE,
                    submitted_at=NOW - timedelta(hours=1),
                ),
            ]
        )
    return world


async def notifications(session_factory: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with session_factory() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


async def run_round(processes: list[Process]) -> list[bool | None]:
    """Every job of every process at once, as their schedulers would at the same moment."""
    return await asyncio.gather(*(p.scheduler.run_once(job) for job in JOBS for p in processes))


async def test_two_processes_send_every_reminder_digest_and_export_once(
    seeded: World, processes: list[Process], clock: Clock, session_factory
) -> None:
    outcomes: list[bool | None] = []
    for _round in range(3):
        outcomes += await run_round(processes)
        clock.now += timedelta(minutes=1)

    assert False not in outcomes  # no job failed
    rows = await notifications(session_factory)
    assert {row.kind for row in rows} == {"deadlines", "curator_overdue", NEW_REPORTS}
    assert len({row.dedupe_key for row in rows}) == len(rows) == 3
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows)
    sent = [m for p in processes for m in p.sent()]
    assert len(sent) == len(rows)
    assert sorted(m.chat_id for m in sent) == sorted(
        [seeded.coordinator.telegram_id] + [seeded.curator.telegram_id] * 2
    )
    assert len([d for p in processes for d in p.documents()]) == 1
    async with session_factory() as session:
        run = await session.scalar(select(ExportRun))
    assert run is not None and (run.status, run.attempts) == (JobStatus.DONE, 1)

    # Later turns of either process add and send nothing more.
    await run_round(processes)
    assert len(await notifications(session_factory)) == 3
    assert len([m for p in processes for m in p.sent()]) == 3


async def test_a_job_runs_in_one_process_at_a_time_and_moves_on_when_the_holder_dies(
    settings: Settings,
) -> None:
    engines = [create_engine(settings.database_url) for _process in range(2)]
    holder, other = (Scheduler(create_session_factory(engine)) for engine in engines)
    inside, forever = asyncio.Event(), asyncio.Event()
    ran: list[str] = []

    async def stuck(session: AsyncSession) -> None:
        ran.append("holder")
        inside.set()
        await forever.wait()

    async def quick(session: AsyncSession) -> None:
        ran.append("other")

    holder.every(10, "outbox", stuck)
    other.every(10, "outbox", quick)
    task = asyncio.create_task(holder.run_once("outbox"))
    try:
        await inside.wait()
        assert await other.run_once("outbox") is None  # skipped: the holder is running it
        assert ran == ["holder"]

        # The holder's process dies: its connections close, PostgreSQL drops its locks.
        async with engines[1].connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert killed == 1
        assert await other.run_once("outbox") is True
        assert ran == ["holder", "other"]
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        for engine in engines:
            await engine.dispose()


async def test_digests_of_two_processes_across_an_interval_boundary_do_not_overlap(
    seeded: World, settings: Settings, session_factory
) -> None:
    """Without a lock the second process, not seeing the first one's uncommitted digest,
    would announce the same report again under the next interval's key."""
    engines = [create_engine(settings.database_url) for _process in range(2)]
    early, late = (Scheduler(create_session_factory(engine)) for engine in engines)
    boundary = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    built, release = asyncio.Event(), asyncio.Event()
    build_early = digest_job(settings, now=lambda: boundary - timedelta(microseconds=1))

    async def slow_to_commit(session: AsyncSession) -> None:
        await build_early(session)
        built.set()
        await release.wait()

    early.every(60, "report_digests", slow_to_commit)
    late.every(60, "report_digests", digest_job(settings, now=lambda: boundary))
    task = asyncio.create_task(early.run_once("report_digests"))
    try:
        await built.wait()
        assert await late.run_once("report_digests") is None
        release.set()
        assert await task is True
        assert await late.run_once("report_digests") is True
    finally:
        release.set()
        for engine in engines:
            await engine.dispose()

    rows = await notifications(session_factory)
    assert [row.dedupe_key for row in rows] == [
        f"{NEW_REPORTS}:{seeded.curator.id}:{NOW.replace(minute=0).isoformat()}"
    ]


async def test_reminder_builders_racing_without_the_lock_still_add_each_row_once(
    seeded: World, settings: Settings, session_factory
) -> None:
    """The second line of defence: unique keys with ON CONFLICT DO NOTHING."""
    engines = [create_engine(settings.database_url) for _process in range(2)]

    async def build(engine: AsyncEngine) -> int:
        async with create_session_factory(engine)() as session, session.begin():
            result = await build_reminders(session, now=NOW, tz=settings.tz, days_before=3)
            return result.total

    try:
        added = await asyncio.gather(*(build(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    rows = await notifications(session_factory)
    assert sum(added) == len(rows) == 2
    assert len({row.dedupe_key for row in rows}) == 2


class HangingSession(RecordingSession):
    """sendMessage never comes back: the process dies while sending."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()

    async def make_request(self, bot, method, timeout=None):
        if isinstance(method, SendMessage):
            self.requests.append(method)
            self.sending.set()
            await asyncio.Event().wait()
        return await super().make_request(bot, method, timeout)


def make_outbox(settings: Settings, i18n: I18n, session, now) -> Outbox:
    pacing = FakeClock()
    outbox = Outbox(
        create_bot(settings, session=session),
        i18n,
        limiter=RateLimiter(clock=pacing.monotonic),
        now=now,
        sleep=pacing.sleep,
    )
    for kind, renderer in reminder_renderers(settings, clock=now).items():
        outbox.register(kind, renderer)
    return outbox


async def one_reminder(world: World, settings: Settings, session_factory) -> None:
    async with session_factory() as session, session.begin():
        session.add(
            RoadmapItem(
                school_id=world.school_a.id,
                position=1,
                title="Педсовет",
                due_date=TODAY + timedelta(days=1),
            )
        )
    async with session_factory() as session, session.begin():
        await build_reminders(session, now=NOW, tz=settings.tz, days_before=3)


async def test_a_notification_claimed_by_a_dead_process_is_sent_after_its_lease(
    world: World, settings: Settings, i18n: I18n, session_factory
) -> None:
    await one_reminder(world, settings, session_factory)
    clock = Clock()
    dying = HangingSession()
    engines = [create_engine(settings.database_url) for _process in range(2)]
    task = asyncio.create_task(
        make_outbox(settings, i18n, dying, clock).run(create_session_factory(engines[0])())
    )
    try:
        await dying.sending.wait()
        task.cancel()  # the process dies in the middle of the request
        with contextlib.suppress(asyncio.CancelledError):
            await task
        survivor = RecordingSession()
        outbox = make_outbox(settings, i18n, survivor, clock)
        factory = create_session_factory(engines[1])

        clock.now = NOW + outbox_module.LEASE - timedelta(seconds=1)
        async with factory() as session:
            assert await outbox.run(session) == 0  # still leased to the dead process
        clock.now = NOW + outbox_module.LEASE + timedelta(seconds=1)
        async with factory() as session:
            assert await outbox.run(session) == 1
    finally:
        for engine in engines:
            await engine.dispose()
    (row,) = await notifications(session_factory)
    assert row.sent_at is not None and row.attempts == 2
    assert [m.chat_id for m in survivor.requests if isinstance(m, SendMessage)] == [
        world.coordinator.telegram_id
    ]


async def test_a_run_held_up_by_flood_control_past_its_lease_does_not_send_after_a_takeover(
    world: World, settings: Settings, i18n: I18n, session_factory
) -> None:
    """Process 1 waits out a 429 for longer than its lease; process 2 takes the row over and
    sends it; process 1 must not send it a second time when it wakes up."""
    await one_reminder(world, settings, session_factory)
    clock = Clock()
    slow_session, other_session = RecordingSession(), RecordingSession()
    slow_session.add_error(429, "Too Many Requests: retry after 30", retry_after=30)
    engines = [create_engine(settings.database_url) for _process in range(2)]
    factories = [create_session_factory(engine) for engine in engines]
    other = make_outbox(settings, i18n, other_session, clock)
    taken_over: list[int] = []

    pacing = FakeClock()

    async def flood_wait_while_the_other_takes_over(seconds: float) -> None:
        await pacing.sleep(seconds)
        if seconds >= 30 and not taken_over:
            clock.now += outbox_module.LEASE + timedelta(seconds=1)
            async with factories[1]() as session:
                taken_over.append(await other.run(session))

    slow = make_outbox(settings, i18n, slow_session, clock)
    slow.limiter = RateLimiter(clock=pacing.monotonic)
    slow._sleep = flood_wait_while_the_other_takes_over
    try:
        async with factories[0]() as session:
            assert await slow.run(session) == 0
    finally:
        for engine in engines:
            await engine.dispose()

    assert taken_over == [1]
    slow_sends = [m for m in slow_session.requests if isinstance(m, SendMessage)]
    assert len(slow_sends) == 1  # only the request that got the 429
    assert len([m for m in other_session.requests if isinstance(m, SendMessage)]) == 1
    (row,) = await notifications(session_factory)
    assert row.sent_at is not None and row.attempts == 2


async def test_a_weekly_export_held_by_a_dead_process_is_posted_once_after_its_lease(
    world: World, processes: list[Process], clock: Clock, session_factory
) -> None:
    key = RunKey(WEEKLY, CHAT, date(2026, 11, 16), date(2026, 11, 22))
    async with session_factory() as session, session.begin():
        await ensure_run(session, key)
        assert await claim_run(
            session, key, owner="dead", now=NOW - timedelta(minutes=1), lease=weekly_export.LEASE
        )
    outcomes = await asyncio.gather(
        *(p.scheduler.run_once(weekly_export.JOB_NAME) for p in processes)
    )
    assert False not in outcomes
    assert [d for p in processes for d in p.documents()] == []  # still leased

    clock.now = NOW + weekly_export.LEASE
    for _round in range(2):
        await asyncio.gather(*(p.scheduler.run_once(weekly_export.JOB_NAME) for p in processes))
        clock.now += timedelta(minutes=1)
    assert len([d for p in processes for d in p.documents()]) == 1
    async with session_factory() as session:
        run = await session.scalar(select(ExportRun))
        assert await session.scalar(select(func.count()).select_from(ExportRun)) == 1
    assert run is not None and run.status == JobStatus.DONE and run.attempts == 2
    assert run.lease_owner in {"process-0", "process-1"}


async def test_two_processes_on_the_database_storage_serve_one_users_form_alternately(
    world: World, settings: Settings, i18n: I18n, session_factory
) -> None:
    """Without Redis the form lives in PostgreSQL: any process can take the next update."""
    async with session_factory() as session, session.begin():
        item = RoadmapItem(school_id=world.school_a.id, position=1, title="Урок цифры")
        session.add(item)
    engines = [create_engine(settings.database_url) for _process in range(2)]
    try:
        workers = []
        for engine in engines:
            recorder = RecordingSession()
            dp = create_dispatcher(settings, create_session_factory(engine), i18n)
            assert isinstance(dp.storage, DatabaseStorage)
            workers.append((dp, create_bot(settings, session=recorder)))
        updates = UpdateFactory()
        teacher = updates.user(world.teacher.telegram_id)
        steps = [
            updates.message(teacher, "/report"),
            updates.callback(teacher, ReportItem(item_id=item.id).pack()),
            updates.callback(teacher, ReportMark(mark="done").pack()),
            updates.message(teacher, "Провели урок, фото: https://vk.com/wall-1_2"),
            updates.callback(teacher, ReportNav(action="submit").pack()),
        ]
        for n, update in enumerate(steps):
            dp, bot = workers[n % 2]
            await dp.feed_update(bot, update)
    finally:
        for engine in engines:
            await engine.dispose()
    async with session_factory() as session:
        (report,) = (await session.scalars(select(ActivityReport))).all()
        assert await session.scalar(select(func.count()).select_from(FsmRecord)) == 0
    assert (report.roadmap_item_id, report.mark, report.author_id) == (
        item.id,
        Mark.DONE,
        world.teacher.id,
    )


async def test_a_scheduler_that_cannot_reach_the_database_fails_the_turn_and_goes_on(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(pg.with_database(settings.database_url, "reports_no_such_database"))
    scheduler = Scheduler(create_session_factory(engine))
    ran: list[int] = []

    async def job(session: AsyncSession) -> None:
        ran.append(1)

    scheduler.every(10, "outbox", job)
    try:
        assert await scheduler.run_once("outbox") is False
        assert await scheduler.run_once("outbox") is False
    finally:
        await engine.dispose()
    assert ran == []
    assert "taking or releasing its lock failed" in caplog.text
