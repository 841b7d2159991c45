"""The weekly export to the coordination group: schedule, exactly once, retries, two processes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.jobs.weekly_export as weekly
from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.jobs.scheduler import Scheduler
from bot.pipeline.telegram_retry import RetryRequestMiddleware
from exports.schedule import (
    WeeklySchedule,
    due_period,
    format_period,
    last_full_week,
    next_run,
    parse_schedule,
)
from exports.xlsx import ExportSummary
from exports.xlsx import build_export as xlsx_build_export
from exports.xlsx import last_full_week as xlsx_last_full_week
from models import ActivityReport, ExportRun, JobStatus, Mark, RoadmapItem
from models.export_runs import (
    SENDING,
    UNKNOWN_OUTCOME,
    WEEKLY,
    RunKey,
    begin_send,
    claim_run,
    ensure_run,
    get_run,
    record_failure,
)
from models.stats import SchoolFigures
from tests.conftest import World
from tests.telegram import RecordingSession

MOSCOW = ZoneInfo("Europe/Moscow")
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
MONDAY_9 = WeeklySchedule(0, time(9, 0))
CHAT = -100_200_300
# Monday 23.11.2026, 09:00 in Moscow: the week 16–22.11 becomes due.
DUE = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
WEEK = (date(2026, 11, 16), date(2026, 11, 22))
KEY = RunKey(WEEKLY, CHAT, *WEEK)


# --- the schedule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon 09:00", MONDAY_9),
        ("Monday 9:00", MONDAY_9),
        ("  FRI 18:30 ", WeeklySchedule(4, time(18, 30))),
        ("sun 00:00", WeeklySchedule(6, time(0, 0))),
    ],
)
def test_parse_schedule(text: str, expected: WeeklySchedule) -> None:
    assert parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["", "mon", "09:00", "пн 09:00", "mon 24:00", "mon 9:60", "mon9"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_the_export_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXPORT_CHAT_ID", "EXPORT_SCHEDULE"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)
    assert (defaults.export_chat_id, defaults.export_schedule) == (None, "mon 09:00")
    monkeypatch.setenv("EXPORT_SCHEDULE", "Friday 7:05")
    monkeypatch.setenv("EXPORT_CHAT_ID", "-1001234567890")
    configured = Settings(_env_file=None)
    assert (configured.export_chat_id, configured.export_schedule) == (-1001234567890, "fri 07:05")
    monkeypatch.setenv("EXPORT_CHAT_ID", "")
    assert Settings(_env_file=None).export_chat_id is None


def at(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


PREVIOUS = (date(2026, 11, 9), date(2026, 11, 15))
NEXT = (date(2026, 11, 23), date(2026, 11, 29))


@pytest.mark.parametrize(
    ("now", "moscow", "vladivostok"),
    [
        # Sunday 22.11, 22:59 UTC: Monday 01:59 in Moscow, 08:59 in Vladivostok.
        (datetime(2026, 11, 22, 22, 59, tzinfo=UTC), PREVIOUS, PREVIOUS),
        # 23:00 UTC is Monday 09:00 in Vladivostok while the UTC date is still Sunday.
        (datetime(2026, 11, 22, 23, 0, tzinfo=UTC), PREVIOUS, WEEK),
        # Midnight UTC: Monday 03:00 in Moscow.
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), PREVIOUS, WEEK),
        (datetime(2026, 11, 23, 5, 59, 59, tzinfo=UTC), PREVIOUS, WEEK),
        (datetime(2026, 11, 23, 6, 0, tzinfo=UTC), WEEK, WEEK),
        # The rest of the week, up to the next Monday 09:00.
        (datetime(2026, 11, 29, 22, 59, tzinfo=UTC), WEEK, WEEK),
        (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), WEEK, NEXT),
        (datetime(2026, 11, 30, 5, 59, tzinfo=UTC), WEEK, NEXT),
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), NEXT, NEXT),
    ],
)
def test_due_period_across_time_zones(
    now: datetime, moscow: tuple[date, date], vladivostok: tuple[date, date]
) -> None:
    assert due_period(now, MOSCOW, MONDAY_9) == moscow
    assert due_period(now, VLADIVOSTOK, MONDAY_9) == vladivostok
    # The same instant written in another zone is the same instant.
    assert due_period(now.astimezone(VLADIVOSTOK), MOSCOW, MONDAY_9) == moscow


def test_next_run_is_strictly_after_now() -> None:
    assert next_run(DUE - timedelta(seconds=1), MOSCOW, MONDAY_9) == DUE
    assert next_run(DUE, MOSCOW, MONDAY_9) == DUE + timedelta(days=7)
    assert next_run(datetime(2026, 11, 22, 22, 0, tzinfo=UTC), VLADIVOSTOK, MONDAY_9) == (
        datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    )
    friday = WeeklySchedule(4, time(18, 0))
    assert next_run(DUE, MOSCOW, friday) == at(MOSCOW, 2026, 11, 27, 18, 0)
    assert due_period(at(MOSCOW, 2026, 11, 27, 17, 59), MOSCOW, friday) == PREVIOUS
    assert due_period(at(MOSCOW, 2026, 11, 27, 18, 0), MOSCOW, friday) == WEEK


def test_a_zone_with_summer_time_keeps_local_nine_o_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # summer time ends on 25.10.2026
    assert next_run(at(berlin, 2026, 10, 20, 12, 0), berlin, MONDAY_9) == at(
        berlin, 2026, 10, 26, 9, 0
    )
    assert at(berlin, 2026, 10, 26, 9, 0).utcoffset() == timedelta(hours=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        due_period(datetime(2026, 11, 23, 9, 0), MOSCOW, MONDAY_9)


def test_last_full_week_agrees_with_the_exporter() -> None:
    for offset in range(14):
        day = date(2026, 11, 16) + timedelta(days=offset)
        assert last_full_week(day) == xlsx_last_full_week(day)


# --- the job ----------------------------------------------------------------------------------


@dataclass
class Clock:
    """Now, as the job sees it; sleeping moves it on instead of waiting."""

    now: datetime
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def retry_sleeps(bot: Bot) -> list[float]:
    """The Bot API session's own inline retries record their delays instead of waiting."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    for middleware in bot.session.middleware:
        if isinstance(middleware, RetryRequestMiddleware):
            middleware.sleep = record
    return delays


@pytest.fixture
async def read_factory(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, read_only=True)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def reports(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        overdue = RoadmapItem(
            school_id=world.school_b.id, position=1, title="Пункт", due_date=date(2026, 11, 1)
        )
        session.add_all(
            [
                overdue,
                ActivityReport(
                    school_id=world.school_a.id,
                    held_on=date(2026, 11, 18),
                    title="Педсовет",
                    mark=Mark.DONE,
                ),
            ]
        )


def make_job(
    bot: Bot,
    i18n: I18n,
    read_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    owner: str = "process-1",
) -> weekly.WeeklyExport:
    return weekly.WeeklyExport(
        bot,
        i18n,
        read_factory,
        chat_id=CHAT,
        schedule=MONDAY_9,
        tz=MOSCOW,
        locale="ru",
        now=clock,
        sleep=clock.sleep,
        owner=owner,
    )


async def run(job: weekly.WeeklyExport, session_factory) -> bool:
    async with session_factory() as session:
        posted = await job.run(session)
        await session.commit()
        return posted


def posted(recorder: RecordingSession) -> list[SendDocument]:
    return [r for r in recorder.drain() if isinstance(r, SendDocument) and r.chat_id == CHAT]


async def the_run(session_factory, key: RunKey = KEY) -> ExportRun:
    async with session_factory() as session:
        found = await get_run(session, key)
    assert found is not None
    return found


async def run_count(session_factory) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(ExportRun)) or 0


class Ticks:
    """A scheduler sleep that lets the first run happen, then parks the loop until stopped."""

    def __init__(self) -> None:
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.parked.set()
        await asyncio.Event().wait()


async def test_catch_up_on_start_posts_once_and_never_again(
    world: World, reports, bot, recorder, i18n, settings, session_factory, read_factory
):
    # Down on Monday at 09:00; started on Wednesday at noon.
    clock = Clock(at(MOSCOW, 2026, 11, 25, 12, 0))
    settings = settings.model_copy(update={"export_chat_id": CHAT})
    ticks = Ticks()
    scheduler = Scheduler(session_factory, sleep=ticks.sleep)
    job = weekly.setup(scheduler, bot, i18n, settings, read_factory)
    assert job is not None and scheduler.jobs == [weekly.JOB_NAME]
    job._now, job._sleep = clock, clock.sleep

    await scheduler.start()
    await asyncio.wait_for(ticks.parked.wait(), 10)  # the run at start is over
    await scheduler.stop()

    (document,) = posted(recorder)
    assert isinstance(document.document, BufferedInputFile)
    assert document.caption is not None and format_period(*WEEK) in document.caption
    workbook = load_workbook(io.BytesIO(document.document.data), read_only=True)
    assert workbook.sheetnames == [
        "Сводка",
        "Мероприятия",
        "Дорожные карты",
        "Самодиагностика",
        "Опросы",
    ]
    schools = [r[0] for r in workbook["Сводка"].iter_rows(min_row=3, values_only=True)]
    assert schools == ["СОШ №2", "СОШ №5"]
    with i18n.context(), i18n.use_locale("ru"):
        # СОШ №5 sent nothing this week and has the one overdue item: named in both lists.
        assert document.caption == "\n".join(
            [
                _("📊 <b>Weekly export for the coordination group</b>: {period}").format(
                    period=format_period(*WEEK)
                ),
                _("Schools: {schools} · reports for the week: {reports}").format(
                    schools=2, reports=1
                ),
                _(
                    "Without reports this week: {silent} · overdue activities: {overdue} · "
                    "awaiting review: {awaiting}"
                ).format(silent=1, overdue=1, awaiting=1),
                _("No reports this week: {schools}").format(schools="СОШ №5"),
                _("Most overdue activities: {schools}").format(
                    schools=_("{school} ({count})").format(school="СОШ №5", count=1)
                ),
            ]
        )

    row = await the_run(session_factory)
    assert (row.status, row.attempts, row.last_error) == (JobStatus.DONE, 1, None)
    assert row.message_id is not None and row.finished_at is not None

    # The next minute, a restart, the rest of the week: nothing more.
    for later in (timedelta(minutes=1), timedelta(hours=5), timedelta(days=4)):
        clock.now = at(MOSCOW, 2026, 11, 25, 12, 0) + later
        assert await scheduler.run_once(weekly.JOB_NAME)
        assert posted(recorder) == []
    assert await run_count(session_factory) == 1


async def test_the_weekly_export_shows_surveys_by_the_configured_minimum(
    world: World,
    reports,
    bot,
    recorder,
    i18n,
    settings,
    session_factory,
    read_factory,
    monkeypatch,
):
    """SURVEY_MIN_RESPONSES reaches the weekly file, not the exports' own default of 5."""
    seen: list[object] = []

    async def recording_build_export(*args: Any, **kwargs: Any) -> ExportSummary:
        seen.append(kwargs.get("min_responses"))
        return await xlsx_build_export(*args, **kwargs)

    monkeypatch.setattr(weekly, "build_export", recording_build_export)
    clock = Clock(at(MOSCOW, 2026, 11, 25, 12, 0))
    settings = settings.model_copy(update={"export_chat_id": CHAT, "survey_min_responses": 17})
    ticks = Ticks()
    scheduler = Scheduler(session_factory, sleep=ticks.sleep)
    job = weekly.setup(scheduler, bot, i18n, settings, read_factory)
    assert job is not None
    job._now, job._sleep = clock, clock.sleep
    await scheduler.start()
    await asyncio.wait_for(ticks.parked.wait(), 10)
    await scheduler.stop()
    assert len(posted(recorder)) == 1
    assert seen == [17]


async def test_the_new_week_goes_out_at_nine_local_time(
    world: World, bot, recorder, i18n, session_factory, read_factory
):
    async with session_factory() as session, session.begin():
        session.add(
            ExportRun(
                kind=WEEKLY,
                chat_id=CHAT,
                period_start=PREVIOUS[0],
                period_end=PREVIOUS[1],
                status=JobStatus.DONE,
            )
        )
    clock = Clock(DUE - timedelta(minutes=1))
    job = make_job(bot, i18n, read_factory, clock)

    assert not await run(job, session_factory)
    assert posted(recorder) == []
    clock.now = DUE
    assert await run(job, session_factory)
    assert len(posted(recorder)) == 1
    assert (await the_run(session_factory)).status == JobStatus.DONE


async def test_flood_control_is_waited_out_and_one_document_posted(
    world: World, bot, recorder, i18n, session_factory, read_factory, retry_sleeps
):
    clock = Clock(DUE)
    job = make_job(bot, i18n, read_factory, clock)
    recorder.add_error(429, "Too Many Requests: retry after 7", retry_after=7)

    assert await run(job, session_factory)

    assert len(posted(recorder)) == 2  # refused once, then accepted
    assert clock.sleeps == [7.0]
    row = await the_run(session_factory)
    assert (row.status, row.attempts, row.last_error) == (JobStatus.DONE, 1, None)
    clock.now += timedelta(minutes=1)
    assert not await run(job, session_factory)
    assert posted(recorder) == []


@pytest.mark.parametrize("fault", ["5xx", "network"])
async def test_failures_are_recorded_and_retried_later_once(
    world: World, bot, recorder, i18n, session_factory, read_factory, retry_sleeps, fault: str
):
    clock = Clock(DUE)
    job = make_job(bot, i18n, read_factory, clock)
    requests_per_run = weekly.SEND_TRIES * 3  # each try is retried inline by the session, too
    for _request in range(requests_per_run):
        if fault == "5xx":
            recorder.add_error(502, "Bad Gateway")
        else:
            recorder.add_network_error()

    assert not await run(job, session_factory)

    assert len(posted(recorder)) == requests_per_run
    assert clock.sleeps == [2.0, 4.0]  # between the job's tries
    row = await the_run(session_factory)
    assert row.status == JobStatus.FAILED and row.attempts == 1
    expected = "TelegramServerError" if fault == "5xx" else "TelegramNetworkError"
    assert row.last_error is not None and row.last_error.startswith(expected)
    assert row.next_attempt_at == clock.now + timedelta(minutes=5)

    # Not before its time, then exactly once.
    clock.now = row.next_attempt_at - timedelta(seconds=1)
    assert not await run(job, session_factory)
    assert posted(recorder) == []
    clock.now = row.next_attempt_at
    assert await run(job, session_factory)
    assert len(posted(recorder)) == 1
    row = await the_run(session_factory)
    assert (row.status, row.attempts, row.last_error) == (JobStatus.DONE, 2, None)
    clock.now += timedelta(hours=2)
    assert not await run(job, session_factory)
    assert posted(recorder) == []


async def test_a_refused_chat_waits_the_longest_delay(
    world: World, bot, recorder, i18n, session_factory, read_factory, caplog
):
    clock = Clock(DUE)
    job = make_job(bot, i18n, read_factory, clock)
    recorder.add_error(400, "Bad Request: chat not found")

    assert not await run(job, session_factory)

    assert len(posted(recorder)) == 1 and clock.sleeps == []
    row = await the_run(session_factory)
    assert row.status == JobStatus.FAILED
    assert row.next_attempt_at == DUE + timedelta(hours=1)
    assert "chat not found" in caplog.text


async def test_two_schedulers_at_once_post_exactly_one_document(
    world: World, reports, bot, recorder, i18n, settings, read_factory
):
    """Two processes: separate engines (and so connections) over the same database."""
    engines = [create_engine(settings.database_url) for _process in range(2)]
    try:
        factories = [create_session_factory(engine) for engine in engines]
        clock = Clock(DUE)
        jobs = [make_job(bot, i18n, read_factory, clock, owner=f"process-{n}") for n in range(2)]
        for _round in range(3):
            results = await asyncio.gather(
                *(run(job, factory) for job, factory in zip(jobs, factories, strict=True))
            )
            clock.now += timedelta(minutes=1)
        assert len(posted(recorder)) == 1
        assert results == [False, False]
        row = await the_run(factories[0])
        assert row.status == JobStatus.DONE and row.attempts == 1
        assert row.lease_owner in {"process-0", "process-1"}
        assert await run_count(factories[0]) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_schedulers_retrying_a_failed_run_post_once(
    world: World, bot, recorder, i18n, settings, session_factory, read_factory
):
    async with session_factory() as session, session.begin():
        await ensure_run(session, KEY)
        run_row = await claim_run(session, KEY, owner="gone", now=DUE, lease=weekly.LEASE)
        assert run_row is not None
        await record_failure(session, run_row.id, owner="gone", error="x", retry_at=DUE)
    engines = [create_engine(settings.database_url) for _process in range(2)]
    try:
        clock = Clock(DUE + timedelta(minutes=1))
        jobs = [make_job(bot, i18n, read_factory, clock, owner=f"p{n}") for n in range(2)]
        results = await asyncio.gather(
            *(
                run(job, create_session_factory(engine))
                for job, engine in zip(jobs, engines, strict=True)
            )
        )
        assert sorted(results) == [False, True]
        assert len(posted(recorder)) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_process_that_stopped_while_building_is_taken_over_after_its_lease(
    world: World, bot, recorder, i18n, session_factory, read_factory
):
    async with session_factory() as session, session.begin():
        await ensure_run(session, KEY)
        assert await claim_run(session, KEY, owner="stopped", now=DUE, lease=weekly.LEASE)
    clock = Clock(DUE + timedelta(minutes=1))
    job = make_job(bot, i18n, read_factory, clock)

    assert not await run(job, session_factory)  # still leased
    assert posted(recorder) == []
    clock.now = DUE + weekly.LEASE + timedelta(seconds=1)
    assert await run(job, session_factory)
    assert len(posted(recorder)) == 1
    row = await the_run(session_factory)
    assert (row.status, row.attempts, row.lease_owner) == (JobStatus.DONE, 2, "process-1")


async def test_a_process_that_stopped_while_sending_is_not_resent(
    world: World, bot, recorder, i18n, session_factory, read_factory, caplog
):
    """The crash window: the document may be in the chat already. At most once wins."""
    async with session_factory() as session, session.begin():
        await ensure_run(session, KEY)
        claimed = await claim_run(session, KEY, owner="stopped", now=DUE, lease=weekly.LEASE)
        assert claimed is not None
        assert await begin_send(
            session, claimed.id, owner="stopped", now=DUE, lease=weekly.SEND_LEASE
        )
    assert (await the_run(session_factory)).last_error == SENDING
    clock = Clock(DUE + weekly.SEND_LEASE - timedelta(seconds=1))
    job = make_job(bot, i18n, read_factory, clock)

    assert not await run(job, session_factory)  # still leased: it may still be sending
    clock.now = DUE + weekly.SEND_LEASE + timedelta(seconds=1)
    assert not await run(job, session_factory)
    row = await the_run(session_factory)
    assert (row.status, row.last_error, row.next_attempt_at) == (
        JobStatus.FAILED,
        UNKNOWN_OUTCOME,
        None,
    )
    assert "stopped while sending" in caplog.text
    clock.now += timedelta(days=3)
    assert not await run(job, session_factory)
    assert posted(recorder) == []


async def test_a_process_whose_lease_was_taken_over_does_not_send(
    world: World, bot, recorder, i18n, session_factory, read_factory, monkeypatch
):
    """Process 1 builds for longer than its lease; process 2 takes over and posts; 1 doesn't."""
    clock = Clock(DUE)
    slow = make_job(bot, i18n, read_factory, clock, owner="slow")
    other = make_job(bot, i18n, read_factory, clock, owner="other")
    real_build = weekly.build_export
    took_over: list[bool] = []
    builds: list[int] = []

    async def build_while_the_other_takes_over(*args, **kwargs):
        builds.append(1)
        if len(builds) == 1:  # the slow process's build; the other one builds meanwhile
            clock.now += weekly.LEASE + timedelta(seconds=1)
            took_over.append(await run(other, session_factory))
        return await real_build(*args, **kwargs)

    monkeypatch.setattr(weekly, "build_export", build_while_the_other_takes_over)
    assert not await run(slow, session_factory)
    assert took_over == [True]
    assert len(posted(recorder)) == 1
    row = await the_run(session_factory)
    assert (row.status, row.lease_owner) == (JobStatus.DONE, "other")


async def test_the_lease_is_renewed_while_building(
    world: World, bot, recorder, i18n, session_factory, read_factory, monkeypatch
):
    clock = Clock(DUE)
    renewed = asyncio.Event()
    beats: list[float] = []

    async def heartbeat_sleep(seconds: float) -> None:
        beats.append(seconds)
        if len(beats) == 1:
            clock.now += timedelta(minutes=2)
            return
        renewed.set()  # the first renewal is committed by now
        await asyncio.Event().wait()

    job = make_job(bot, i18n, read_factory, clock)
    job._heartbeat_sleep = heartbeat_sleep
    real_build = weekly.build_export
    leases: list[datetime | None] = []

    async def slow_build(*args, **kwargs):
        await renewed.wait()
        leases.append((await the_run(session_factory)).lease_until)
        return await real_build(*args, **kwargs)

    monkeypatch.setattr(weekly, "build_export", slow_build)
    assert await run(job, session_factory)
    assert beats == [weekly.LEASE.total_seconds() / 3] * 2
    assert leases == [DUE + timedelta(minutes=2) + weekly.LEASE]


async def test_a_build_failure_is_recorded_and_retried(
    world: World, bot, recorder, i18n, session_factory, read_factory, monkeypatch
):
    clock = Clock(DUE)
    job = make_job(bot, i18n, read_factory, clock)
    real_build = weekly.build_export

    async def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(weekly, "build_export", broken)
    assert not await run(job, session_factory)
    row = await the_run(session_factory)
    assert row.status == JobStatus.FAILED and row.last_error == "RuntimeError: disk full"
    monkeypatch.setattr(weekly, "build_export", real_build)
    clock.now += timedelta(minutes=5)
    assert await run(job, session_factory)
    assert len(posted(recorder)) == 1


def test_no_chat_no_job(settings: Settings, bot: Bot, i18n: I18n, session_factory) -> None:
    scheduler = Scheduler(session_factory)
    assert settings.export_chat_id is None
    assert weekly.setup(scheduler, bot, i18n, settings, session_factory) is None
    assert scheduler.jobs == []


def _figures(name: str, *, week: int, overdue: int) -> SchoolFigures:
    values: dict[str, Any] = {f.name: 0 for f in fields(SchoolFigures)}
    values |= {"name": name, "short_name": name, "reports_week": week, "overdue": overdue}
    return SchoolFigures(**values)


def test_the_caption_names_a_bounded_list_of_schools(i18n: I18n) -> None:
    figures = [_figures(f"<СОШ №{n}>", week=0, overdue=n) for n in range(1, 8)]
    figures.append(_figures("Гимназия " + "я" * 60, week=3, overdue=20))
    with i18n.context(), i18n.use_locale("ru"):
        caption = weekly.weekly_caption(
            "16.11.2026–22.11.2026", ExportSummary(8, 3, 0, 0, 0, 0, 0), figures
        )
        silent = ", ".join(f"&lt;СОШ №{n}&gt;" for n in range(1, 6))
        more = _("and {count} more").format(count=2)
        assert _("No reports this week: {schools}").format(schools=f"{silent} {more}") in caption
        top = [("Гимназия " + "я" * 30 + "…", 20)] + [
            (f"&lt;СОШ №{n}&gt;", n) for n in (7, 6, 5, 4)
        ]
        names = ", ".join(_("{school} ({count})").format(school=s, count=c) for s, c in top)
        expected = _("Most overdue activities: {schools}").format(
            schools=f"{names} {_('and {count} more').format(count=3)}"
        )
        assert expected in caption
    assert len(caption) < 1024
