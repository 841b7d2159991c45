"""/status: hand-counted figures, curators see only their schools, attention first, a PNG chart."""

from __future__ import annotations

import struct
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.ui.callbacks import StatusPage, StatusSchool
from exports.charts import Bar
from handlers.status import attention_order, coverage_bars
from models import (
    ActivityReport,
    Evidence,
    EvidenceKind,
    Mark,
    Municipality,
    ReviewState,
    RoadmapItem,
    School,
    User,
)
from models.stats import SchoolFigures, school_figures
from tests.conftest import Harness, World
from tests.telegram import telegram_html_problems

TODAY = datetime.now(ZoneInfo("Europe/Moscow")).date()


def texts(requests: list[Any]) -> list[str]:
    return [r.text for r in requests if isinstance(r, SendMessage)]


@pytest.fixture
async def data(session_factory, world: World) -> None:
    """School A: 3 items (1 done, 1 overdue without report, 1 with a partial report), 3 reports."""
    async with session_factory() as session, session.begin():
        done_item = RoadmapItem(
            school_id=world.school_a.id,
            number="1",
            title="Урок цифры",
            direction="knowledge",
            due_date=TODAY - timedelta(days=3),
            position=1,
        )
        overdue = RoadmapItem(
            school_id=world.school_a.id,
            number="2",
            title="Семинар для родителей",
            direction="upbringing",
            due_date=TODAY - timedelta(days=10),
            position=2,
        )
        partial = RoadmapItem(
            school_id=world.school_a.id,
            number="3",
            title="Смена",
            direction="career",
            due_date=TODAY + timedelta(days=10),
            position=3,
        )
        session.add_all([done_item, overdue, partial])
        await session.flush()
        session.add_all(
            [
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.teacher.id,
                    roadmap_item_id=done_item.id,
                    direction="knowledge",
                    title="Урок цифры",
                    held_on=TODAY,
                    mark=Mark.DONE,
                    review_state=ReviewState.CONFIRMED,
                ),
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.teacher.id,
                    roadmap_item_id=partial.id,
                    direction="career",
                    title="Смена",
                    held_on=TODAY - timedelta(days=40),
                    mark=Mark.PARTIAL,
                    review_state=ReviewState.RETURNED,
                    review_comment="фото",
                ),
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.teacher.id,
                    title="Концерт",
                    direction="creativity",
                    held_on=TODAY - timedelta(days=1),
                    mark=Mark.NOT_DONE,
                ),
                ActivityReport(
                    school_id=world.school_b.id,
                    author_id=world.teacher_b.id,
                    title="Чужое",
                    held_on=TODAY,
                    mark=Mark.DONE,
                ),
            ]
        )


async def test_curator_table_has_the_hand_counted_figures(
    harness: Harness, world: World, data, tg, i18n_ru
):
    requests = await harness.send(tg.user(world.curator.telegram_id), "/status")
    (text,) = texts(requests)
    assert "СОШ №2" in text and "СОШ №5" not in text
    reports_week = (
        2 if TODAY.weekday() >= 1 else 1
    )  # «Концерт» was yesterday: same week unless Monday
    # What needs the curator's action first, in words; then the figures.
    expected = "❗ <b>СОШ №2</b>: " + ", ".join(
        [
            _("to review: {count}").format(count=1),
            _("returned for revision: {count}").format(count=1),
            _("overdue activities: {count}").format(count=1),
        ]
    )
    expected += "\n    " + _(
        "reports: {week} this week, {total} in all · roadmap: {covered} of {items} with a "
        "report · last activity: {last} · level: {level}"
    ).format(
        week=reports_week, total=3, covered=2, items=3, last=TODAY.strftime("%d.%m"), level="—"
    )
    assert "ДК" not in text
    assert expected in text
    first = requests[0]
    assert isinstance(first, SendMessage | EditMessageText)
    markup = first.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    buttons = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert buttons == [StatusSchool(school_id=world.school_a.id).pack()]
    (photo,) = [r for r in requests if isinstance(r, SendPhoto)]
    assert isinstance(photo.photo, BufferedInputFile)
    png = photo.photo.data
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 500_000


async def test_school_detail_and_forged_school(harness: Harness, world: World, data, tg, i18n_ru):
    curator = tg.user(world.curator.telegram_id)
    requests = await harness.click(curator, StatusSchool(school_id=world.school_a.id).pack())
    (text,) = texts(requests)
    assert "Семинар для родителей" in text  # the overdue item
    assert "Урок цифры" in text and "Концерт" in text
    assert any(isinstance(r, SendPhoto) for r in requests)

    requests = await harness.click(curator, StatusSchool(school_id=world.school_b.id).pack())
    assert [r.text for r in requests if isinstance(r, AnswerCallbackQuery)] == [
        _("This is not available to you.")
    ]
    assert texts(requests) == []
    (text,) = texts(await harness.send(curator, "/status СОШ №5"))
    assert text == _("No school of yours matches «{query}».").format(query="СОШ №5")


async def test_staff_see_their_own_school(harness: Harness, world: World, data, tg):
    (text,) = texts(await harness.send(tg.user(world.teacher_b.telegram_id), "/status"))
    assert "СОШ №5" in text and "Урок цифры" not in text
    (text,) = texts(await harness.send(tg.user(world.coordinator.telegram_id), "/status"))
    assert "Семинар для родителей" in text


async def test_status_by_part_of_the_name(harness: Harness, world: World, data, tg):
    (text,) = texts(await harness.send(tg.user(world.municipal.telegram_id), "/status сош №5"))
    assert text.startswith("<b>МБОУ «СОШ №5»</b>")


async def test_municipal_list_puts_attention_first_and_pages(
    harness: Harness, world: World, data, tg, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        for i in range(20):
            school = School(
                municipality_id=world.municipality.id,
                name=f"Школа {i:02}",
                short_name=f"Школа {i:02}",
            )
            session.add(school)
            await session.flush()
            session.add(
                ActivityReport(school_id=school.id, title="Урок", held_on=TODAY, mark=Mark.DONE)
            )
        other = Municipality(name="Другой МО")
        session.add(other)
        await session.flush()
        session.add(School(municipality_id=other.id, name="Чужая школа", short_name="Чужая"))
    municipal = tg.user(world.municipal.telegram_id)
    (text,) = texts(await harness.send(municipal, "/status"))
    lines = [line for line in text.splitlines() if "</b>: " in line]
    # СОШ №2 first (to review, returned, overdue); the others only have a report to review.
    assert lines[0].startswith("❗ <b>СОШ №2</b>: " + _("to review: {count}").format(count=1))
    assert all(line.endswith(": " + _("to review: {count}").format(count=1)) for line in lines[1:])
    assert "Чужая" not in text
    assert len(lines) == 15
    requests = await harness.click(municipal, StatusPage(page=1).pack())
    second = next(
        r.text
        for r in requests
        if isinstance(r, SendMessage | EditMessageText) and "</b>: " in (r.text or "")
    )
    assert second is not None
    assert len([line for line in second.splitlines() if "</b>: " in line]) == 7


def test_attention_order_puts_the_curators_actions_first() -> None:
    def figures(
        name: str, *, overdue=0, awaiting=0, returned=0, last: date | None = TODAY
    ) -> SchoolFigures:
        return SchoolFigures(
            1, name, name, 0, 0, 0, 0, 0, 0, 0, overdue, awaiting, returned, last, None, None
        )

    rows = [
        figures("А ок"),
        figures("Б тихая", last=TODAY - timedelta(days=15)),
        figures("В просрочка", overdue=2),
        figures("Г на доработке", returned=1),
        figures("Д никогда", last=None),
        figures("Е на проверке", awaiting=3),
    ]
    ordered = [f.name for f in attention_order(rows, TODAY)]
    assert ordered == [
        "Е на проверке",
        "Г на доработке",
        "В просрочка",
        "Б тихая",
        "Д никогда",
        "А ок",
    ]


async def test_school_line_in_english_has_no_symbols_to_decode(
    harness: Harness, world: World, data, tg, session_factory
):
    async with session_factory() as session, session.begin():
        curator = await session.get(User, world.curator.id)
        curator.locale = "en"
    (text,) = texts(await harness.send(tg.user(world.curator.telegram_id), "/status"))
    assert (
        "❗ <b>СОШ №2</b>: to review: 1, returned for revision: 1, overdue activities: 1" in text
    )
    assert "roadmap: 2 of 3 with a report" in text


LONG_LINK = "https://docs.google.com/document/d/" + "1aB-" * 450 + "/edit?usp=sharing"


async def test_school_detail_with_long_links_is_valid_html(
    harness: Harness, world: World, tg, session_factory
):
    """Google Docs sharing links are ~2,000 characters: the detail used to be cut at 3,990
    characters inside an <a href> and Telegram refused it («can't parse entities»). The
    recording session checks every text as Telegram would (tests/telegram.py)."""
    async with session_factory() as session, session.begin():
        for number in range(5):
            report = ActivityReport(
                school_id=world.school_a.id,
                author_id=world.teacher.id,
                title=f"Мероприятие {number} " + "очень длинное название " * 20,
                direction="knowledge",
                held_on=TODAY - timedelta(days=number),
                mark=Mark.DONE,
            )
            session.add(report)
            await session.flush()
            session.add_all(
                Evidence(report_id=report.id, kind=EvidenceKind.LINK, url=f"{LONG_LINK}&n={i}")
                for i in range(3)
            )
    requests = await harness.send(tg.user(world.coordinator.telegram_id), "/status")
    (text,) = texts(requests)
    assert telegram_html_problems(text) == []
    assert text.count("<a href=") == 15  # nothing had to go: the addresses don't count
    assert "Мероприятие 4" in text


async def test_chart_counts_what_its_label_says_and_keeps_schools_without_a_roadmap(
    harness: Harness, world: World, data, tg, session_factory, i18n_ru
):
    """Green is «выполнено» — items with a report marked done — as the «1/3» at the bar says;
    the partial report is amber; a school without a roadmap keeps its row."""
    async with session_factory() as session:
        rows = await school_figures(
            session, [world.school_a.id, world.school_b.id], today=TODAY, week_start=TODAY
        )
    bars = {bar.label: bar for bar in coverage_bars(rows)}
    assert bars["СОШ №2"] == Bar("СОШ №2", done=1, total=3, reported=2)
    assert bars["СОШ №5"] == Bar("СОШ №5", done=0, total=0, reported=0)

    requests = await harness.send(tg.user(world.municipal.telegram_id), "/status")
    (photo,) = [r for r in requests if isinstance(r, SendPhoto)]
    assert isinstance(photo.photo, BufferedInputFile)
    width, height = struct.unpack(">II", photo.photo.data[16:24])
    # Sized for a phone: ~960 px wide with large text (it was 880 px with 5-px-high text).
    assert 800 <= width <= 1100 and height > 200
