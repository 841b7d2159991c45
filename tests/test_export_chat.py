"""/export in the chat: the document read back, only the user's schools, periods, refusals."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from aiogram.methods import SendChatAction, SendDocument, SendMessage
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import gettext as _
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handlers.export as export_handlers
from bot.dispatcher import create_dispatcher
from bot.ui import formatting
from exports.schedule import MAX_PERIOD_DAYS, PeriodError, format_period, parse_period
from exports.xlsx import export_filename
from exports.xlsx import last_full_week as xlsx_last_full_week
from models import ActivityReport, Mark, Role, User
from tests.conftest import Harness, World

START, END = date(2026, 11, 16), date(2026, 11, 22)
TODAY = date(2026, 11, 25)  # a Wednesday
SHEETS = ["Сводка", "Мероприятия", "Дорожные карты", "Самодиагностика", "Опросы"]


@pytest.fixture
async def reports(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        session.add_all(
            [
                ActivityReport(
                    school_id=world.school_a.id,
                    held_on=date(2026, 11, 18),
                    title="Педсовет школы А",
                    mark=Mark.DONE,
                ),
                ActivityReport(
                    school_id=world.school_a.id,
                    held_on=date(2026, 11, 30),  # outside the period
                    title="Позже",
                    mark=Mark.DONE,
                ),
                ActivityReport(
                    school_id=world.school_b.id,
                    held_on=date(2026, 11, 20),
                    title="Урок школы Б",
                    mark=Mark.PARTIAL,
                ),
            ]
        )


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> date:
    # The region's today, as every screen reads it (bot/ui/formatting.py).
    monkeypatch.setattr(formatting, "today", lambda settings: TODAY)
    return TODAY


def documents(requests: list[Any]) -> list[SendDocument]:
    return [r for r in requests if isinstance(r, SendDocument)]


def texts(requests: list[Any]) -> list[str]:
    return [r.text for r in requests if isinstance(r, SendMessage)]


def workbook_of(document: SendDocument):
    assert isinstance(document.document, BufferedInputFile)
    return load_workbook(io.BytesIO(document.document.data), read_only=True)


def column(workbook, sheet: str, index: int) -> list[Any]:
    rows = list(workbook[sheet].iter_rows(min_row=3, values_only=True))
    return [row[index] for row in rows]


async def test_curator_gets_only_their_schools(
    harness: Harness, world: World, reports, tg, today, i18n_ru
):
    requests = await harness.send(
        tg.user(world.curator.telegram_id), "/export 16.11.2026-22.11.2026"
    )

    period = format_period(START, END)
    assert texts(requests) == [_("⏳ Preparing the export for {period}…").format(period=period)]
    actions = [r for r in requests if isinstance(r, SendChatAction)]
    assert actions and {a.action for a in actions} == {"upload_document"}
    (document,) = documents(requests)
    assert isinstance(document.document, BufferedInputFile)
    assert document.document.filename == export_filename(START, END)
    assert document.caption == _(
        "📊 Export for {period}\nSchools: {schools} · reports: {reports}"
    ).format(period=period, schools=1, reports=1)

    workbook = workbook_of(document)
    assert workbook.sheetnames == SHEETS
    assert column(workbook, "Сводка", 0) == ["СОШ №2"]
    assert column(workbook, "Мероприятия", 4) == ["Педсовет школы А"]
    assert set(column(workbook, "Мероприятия", 1)) == {"СОШ №2"}


async def test_municipal_coordinator_gets_every_school_of_the_last_full_week(
    harness: Harness, world: World, reports, tg, today, i18n_ru
):
    requests = await harness.send(tg.user(world.municipal.telegram_id), "/export")

    (document,) = documents(requests)
    assert (START, END) == xlsx_last_full_week(TODAY)
    assert document.caption == _(
        "📊 Export for {period}\nSchools: {schools} · reports: {reports}"
    ).format(period=format_period(START, END), schools=2, reports=2)
    workbook = workbook_of(document)
    assert column(workbook, "Сводка", 0) == ["СОШ №2", "СОШ №5"]
    assert sorted(column(workbook, "Мероприятия", 4)) == ["Педсовет школы А", "Урок школы Б"]


@pytest.mark.parametrize("role", ["teacher", "coordinator", "stranger"])
async def test_others_are_refused(harness: Harness, world: World, tg, role: str, i18n_ru):
    telegram_id = 777_001 if role == "stranger" else getattr(world, role).telegram_id
    requests = await harness.send(tg.user(telegram_id), "/export")
    assert documents(requests) == []
    refusal = (
        _(
            "This bot is for schools, their curators and municipal coordinators. "
            "To get access, ask your municipal coordinator or curator for an invite link "
            "and open it."
        )
        if role == "stranger"
        else _("This is not available for your role. /help lists what you can do.")
    )
    assert texts(requests) == [refusal]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("22.11.2026-16.11.2026", "order"),
        ("31.02.2026-05.03.2026", "date"),
        ("01.01.2024-31.12.2026", "too_long"),
        ("<b>вчера</b>", "format"),
    ],
)
async def test_bad_period_is_explained_and_nothing_is_built(
    harness: Harness, world: World, tg, today, text: str, code: str, i18n_ru
):
    requests = await harness.send(tg.user(world.municipal.telegram_id), f"/export {text}")
    assert documents(requests) == []
    with pytest.raises(PeriodError) as raised:
        parse_period(text, TODAY)
    assert raised.value.code == code
    assert texts(requests) == [export_handlers.period_problem(raised.value)]
    (answer,) = texts(requests)
    assert "<b>вчера</b>" not in answer  # user text is escaped in the HTML reply
    assert "/export 16.11.2026-22.11.2026" in answer


async def test_a_failed_build_is_told_to_the_user(
    harness: Harness, world: World, tg, today, monkeypatch: pytest.MonkeyPatch, i18n_ru
):
    async def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_handlers, "build_export", broken)
    requests = await harness.send(tg.user(world.curator.telegram_id), "/export")
    assert documents(requests) == []
    assert texts(requests)[-1] == _("The export could not be prepared. Please try again later.")


async def test_a_curator_without_schools_is_told_so(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        session.add(User(telegram_id=4242, full_name="Новый куратор", role=Role.CURATOR))
    requests = await harness.send(tg.user(4242), "/export")
    assert documents(requests) == []
    assert texts(requests) == [_("You have no schools yet, so there is nothing to export.")]


async def test_the_export_reads_through_the_read_session_factory(
    settings, session_factory, i18n, bot, recorder, world: World, reports, tg, today
):
    """Injected as workflow data; the update's own session is not used for the workbook."""
    opened: list[AsyncSession] = []

    def read_sessions() -> AsyncSession:
        session = session_factory()
        opened.append(session)
        return session

    dp = create_dispatcher(
        settings,
        session_factory,
        i18n,
        read_session_factory=read_sessions,  # type: ignore[arg-type]
    )
    harness = Harness(dp=dp, bot=bot, recorder=recorder, updates=tg())
    requests = await harness.send(tg.user(world.curator.telegram_id), "/export")
    assert len(documents(requests)) == 1
    assert len(opened) == 2  # counting the schools, then building the workbook


# --- periods typed by people ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (START, END)),
        ("", (START, END)),
        ("16.11.2026-22.11.2026", (START, END)),
        ("16.11.2026 - 22.11.2026", (START, END)),
        ("16.11.2026–22.11.2026", (START, END)),
        ("16.11.2026 — 22.11.2026", (START, END)),
        ("16.11.2026 22.11.2026", (START, END)),
        ("с 16.11.2026 по 22.11.2026", (START, END)),
        ("16.11.26-22.11.26", (START, END)),
        ("2026-11-16 - 2026-11-22", (START, END)),
        ("1.11.2026-5.11.2026", (date(2026, 11, 1), date(2026, 11, 5))),
        ("18.11.2026", (date(2026, 11, 18), date(2026, 11, 18))),
        ("прошлая неделя", (START, END)),
        ("Last week", (START, END)),
        ("неделя", (date(2026, 11, 23), TODAY)),
        ("week", (date(2026, 11, 23), TODAY)),
        ("месяц", (date(2026, 11, 1), TODAY)),
        ("прошлый месяц", (date(2026, 10, 1), date(2026, 10, 31))),
        ("last  month", (date(2026, 10, 1), date(2026, 10, 31))),
    ],
)
def test_periods(text: str | None, expected: tuple[date, date]) -> None:
    assert parse_period(text, TODAY) == expected


def test_last_month_in_january_is_december() -> None:
    assert parse_period("прошлый месяц", date(2027, 1, 10)) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


@pytest.mark.parametrize(
    ("text", "code", "value"),
    [
        ("22.11.2026-16.11.2026", "order", "22.11.2026–16.11.2026"),
        ("30.02.2026", "date", "30.02.2026"),
        ("16.13.2026-22.11.2026", "date", "16.13.2026"),
        ("16.11-22.11", "format", "16.11-22.11"),
        ("позавчера", "format", "позавчера"),
        ("16.11.2026-22.11.2026-23.11.2026", "format", "16.11.2026-22.11.2026-23.11.2026"),
    ],
)
def test_bad_periods(text: str, code: str, value: str) -> None:
    with pytest.raises(PeriodError) as raised:
        parse_period(text, TODAY)
    assert (raised.value.code, raised.value.value) == (code, value)


def test_a_year_is_the_longest_period() -> None:
    start = date(2026, 1, 1)
    assert parse_period("01.01.2026-01.01.2027", TODAY) == (start, date(2027, 1, 1))
    assert MAX_PERIOD_DAYS == 366
    with pytest.raises(PeriodError):
        parse_period("01.01.2026-02.01.2027", TODAY)
