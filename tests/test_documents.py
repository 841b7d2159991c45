"""The four documents read back: their rows and figures against the rows in the database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exports.documents.build import Document, document_filename
from exports.documents.common import mark_for
from exports.documents.facts import Tally
from exports.documents.kinds import DocumentKind
from models import ActivityReport, Mark
from models.users import visible_schools_query
from tests.conftest import World
from tests.documents_data import END, EVIL_TITLE, START, Season, make_season
from tests.documents_data import build as build_for
from tests.docx_reader import Docx, read

TZ = ZoneInfo("Europe/Moscow")
DIRECTIONS = [
    "Знание",
    "Воспитание",
    "Здоровье",
    "Творчество",
    "Профориентация",
    "Учитель. Школьная команда",
    "Школьный климат",
    "Образовательная среда",
]


@pytest.fixture
async def season(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Season:
    return await make_season(world, session_factory)


async def build(
    session_factory: async_sessionmaker[AsyncSession], kind: DocumentKind, schools
) -> tuple[Document, Docx]:
    document = await build_for(session_factory, kind, schools)
    return document, read(document.data)


async def reports_held(session_factory, school_ids: list[int]) -> int:
    async with session_factory() as session:
        return await session.scalar(
            select(func.count())
            .select_from(ActivityReport)
            .where(
                ActivityReport.school_id.in_(school_ids),
                ActivityReport.held_on.between(START, END),
            )
        )


# --- «Отчёт об участии школы в проекте» ------------------------------------------------------


async def test_school_report_rows_marks_and_activities(world: World, season, session_factory):
    document, doc = await build(session_factory, DocumentKind.SCHOOL, [world.school_a.id])

    assert document.filename == document_filename(DocumentKind.SCHOOL, START, END)
    assert document.schools == 1
    (table,) = doc.tables
    assert table.repeated_header
    assert table.header == [
        "№ п/п",
        "Направление",
        "Сроки",
        "Отметка о выполнении",
        "Проведённые мероприятия",
    ]
    rows = {row[1]: row for row in table.rows}
    assert [row[1] for row in table.rows] == [
        "Проведение самодиагностики",
        *DIRECTIONS,
        "Другие мероприятия",
    ]
    assert [row[0] for row in table.rows] == [f"{n}." for n in range(1, 11)]
    assert document.rows == 10

    # Self-diagnosis: the latest run by the period's end (not the one after it), its deficits.
    diagnostics = rows["Проведение самодиагностики"]
    assert diagnostics[2] == "20.10.2026"
    assert diagnostics[3] == "+ (средний уровень)"
    assert "уровень — средний (оценка бота); набрано баллов: 30 из 40" in diagnostics[4]
    assert "Предыдущая самодиагностика (01.03.2026): уровень — базовый." in diagnostics[4]
    assert "- Знание: Нет программы;" in diagnostics[4]
    assert "- Здоровье: Нет ШСК;" in diagnostics[4]
    assert "Нет ВСОКО" not in diagnostics[4]  # closed since the previous run
    assert "высокий" not in diagnostics[4]  # the run after the period

    # The mark rule: all planned done → «+»; part → «Частично»; nothing planned but a report
    # marked done → «+»; nothing at all, or planned and not done → «−».
    marks = {name: row[3] for name, row in rows.items()}
    assert marks["Знание"] == "+"
    assert marks["Воспитание"] == "Частично"
    assert marks["Здоровье"] == "+"
    assert marks["Профориентация"] == "−"
    assert marks["Учитель. Школьная команда"] == "−"
    assert marks["Творчество"] == "−"
    assert marks["Другие мероприятия"] == "Частично"
    assert rows["Знание"][2] == "15.10.2026–20.11.2026"
    assert rows["Творчество"][2] == "01.09.2026–30.11.2026"  # nothing due: the period

    knowledge = rows["Знание"][4]
    assert "10.10.2026 — Урок цифры в 5–9 классах (выполнено; участники: 25 обучающихся 5–9 " in (
        knowledge
    )
    assert "организатор: СОШ №2)" in knowledge  # the school by default
    assert "организатор: Методический совет" in knowledge
    assert "Провели урок цифры.\nВторая строка описания." in knowledge
    assert "https://school.ru/news/1\njavascript:alert(1)\nфайл: протокол.pdf" in knowledge
    assert "Мероприятий дорожной карты со сроком в периоде: 2, из них выполнено: 2." in knowledge
    assert "Отменённое" not in doc.text + knowledge  # archived items don't count
    career = rows["Профориентация"][4]
    assert "Не выполнено в срок:" in career and "5. Билет в будущее (до 20.09.2026)" in career
    assert "Отчётов о мероприятиях по направлению за период нет." in career
    assert "Совет родителей" in rows["Воспитание"][4]
    assert "Перенесли на декабрь" in rows["Другие мероприятия"][4]  # the control character gone
    assert EVIL_TITLE in rows["Другие мероприятия"][4]  # as typed

    # Only http(s) addresses are links; the rule is explained under the table.
    assert doc.clicked() == ["https://school.ru/news/1"]
    assert any(
        text.startswith("Примечание. Отметка о выполнении ставится") for _, text in doc.paragraphs
    )
    assert doc.paragraphs[0] == (
        "Title",
        "Отчёт об участии МБОУ «СОШ №2» в проекте «Школа Минпросвещения России»",
    )
    assert ("Subtitle", "за период 01.09.2026–30.11.2026") in doc.paragraphs


async def test_school_report_counts_match_the_database(world: World, season, session_factory):
    _document, doc = await build(session_factory, DocumentKind.SCHOOL, [world.school_a.id])
    listed = sum(cell.count(" — ") for row in doc.rows[1:] for cell in [row[4]])
    assert listed == await reports_held(session_factory, [world.school_a.id]) == season.reports_a


async def test_school_report_of_several_schools_has_a_section_each(
    world: World, season, session_factory
):
    document, doc = await build(
        session_factory, DocumentKind.SCHOOL, [world.school_a.id, world.school_b.id]
    )
    assert document.schools == 2
    assert len(doc.tables) == 2
    titles = [text for style, text in doc.paragraphs if style == "Title"]
    assert titles == [
        "Отчёт об участии МБОУ «СОШ №2» в проекте «Школа Минпросвещения России»",
        "Отчёт об участии МБОУ «СОШ №5» в проекте «500+»",
    ]
    b = {row[1]: row for row in doc.tables[1].rows}
    assert b["Проведение самодиагностики"][3] == "−"
    assert (
        "Завершённой самодиагностики в боте на 30.11.2026 нет."
        in b["Проведение самодиагностики"][4]
    )
    assert b["Знание"][3] == "Частично" and "Урок школы Б" in b["Знание"][4]


# --- «Отчёт о проведённых мероприятиях» -------------------------------------------------------


async def test_activities_report_lists_every_report_of_the_period(
    world: World, season, session_factory
):
    document, doc = await build(session_factory, DocumentKind.ACTIVITIES, [world.school_a.id])
    (table,) = doc.tables
    assert table.header == [
        "№",
        "Дата",
        "Форма и тема мероприятия",
        "Организатор",
        "Ссылка на размещённый материал",
        "Количество и категория участников",
    ]
    assert table.repeated_header
    assert (
        len(table.rows)
        == document.rows
        == await reports_held(session_factory, [world.school_a.id])
    )
    assert [row[0] for row in table.rows] == [f"{n}." for n in range(1, len(table.rows) + 1)]
    dates = [row[1] for row in table.rows]
    assert dates == sorted(dates, key=lambda d: d[6:] + d[3:5] + d[:2])
    by_title = {row[2].split("\n")[0]: row for row in table.rows}
    lesson = by_title["Урок цифры в 5–9 классах"]
    assert lesson == [
        lesson[0],
        "10.10.2026",
        "Урок цифры в 5–9 классах\nНаправление: Знание",
        "СОШ №2",
        "https://school.ru/news/1\njavascript:alert(1)\nфайл: протокол.pdf",
        "25 обучающихся 5–9 классов",
    ]
    assert by_title["Школьная олимпиада по математике"][3] == "Методический совет"
    assert by_title["Совет родителей"][5] == "не указано"
    assert by_title[EVIL_TITLE][4] == "—"
    assert "Билет в будущее" not in by_title  # held after the period
    assert "Урок школы Б" not in by_title  # another school
    assert (
        "Всего проведено мероприятий: 6; из них с отметкой «выполнено» — 4, «выполнено частично» "
        "— 1, «не выполнено» — 1." in doc.text
    )
    assert (
        "Участников по отчётам, где указано их число: 25; отчётов без числа участников: 5."
        in doc.text
    )
    assert (
        "Проверка куратором: подтверждено — 4, ожидают проверки — 1, возвращено на доработку — 1."
        in doc.text
    )
    assert (
        "Школа: МБОУ «СОШ №2». Муниципальное образование: Дальнереченский городской округ."
        in doc.text
    )


async def test_activities_of_several_schools_are_grouped_by_school(
    world: World, season, session_factory
):
    document, doc = await build(
        session_factory, DocumentKind.ACTIVITIES, visible_schools_query(world.municipal)
    )
    rows = doc.rows
    groups = [row[0] for row in rows if len(row) == 1]
    assert groups == ["МБОУ «СОШ №2»", "МБОУ «СОШ №5»"]
    reports = [row for row in rows if len(row) > 1]
    assert len(reports) == document.rows == season.reports_a + season.reports_b
    assert rows[-1][2].startswith("Урок школы Б") and rows[-1][3] == "СОШ №5"
    assert (
        "Школы (2): СОШ №2, СОШ №5. Муниципальное образование: Дальнереченский городской округ."
        in doc.text
    )


async def test_no_reports_says_so(world: World, session_factory):
    document, doc = await build(session_factory, DocumentKind.ACTIVITIES, [world.school_b.id])
    assert doc.tables == [] and document.rows == 0
    assert (
        "За период 01.09.2026–30.11.2026 в боте нет отчётов о проведённых мероприятиях этих школ."
        in doc.text
    )


# --- «Отчёт муниципалитета» -------------------------------------------------------------------


async def test_municipal_report_schools_then_actions(world: World, season, session_factory):
    document, doc = await build(
        session_factory, DocumentKind.MUNICIPAL, visible_schools_query(world.municipal)
    )
    schools, actions = doc.tables
    assert schools.header[:2] == ["№ п/п", "Школа"]
    assert schools.rows == [
        ["1.", "МБОУ «СОШ №2»", "средний (20.10.2026)", str(season.reports_a), "3 из 6", "2"],
        ["2.", "МБОУ «СОШ №5»", "нет", str(season.reports_b), "нет дорожной карты", "0"],
    ]
    assert actions.header == ["№ п/п", "Описание действий", "Сроки", "Отметка о выполнении"]
    described = {row[1]: row for row in actions.rows}
    diagnostics = described[
        "Проведение самодиагностики (анализа рискового профиля) в школах — участниках проекта"
    ]
    assert diagnostics[3].startswith(
        "Частично\nЗавершена в 1 из 2 школ (последние результаты): средний — 1."
    )
    assert "Нет завершённой самодиагностики: СОШ №5." in diagnostics[3]
    roadmaps = described["Разработка и загрузка в бот дорожных карт школ"]
    assert (
        "Дорожные карты загружены 1 из 2 школ; мероприятий в дорожных картах: 6, из них "
        "выполнено: 3, просрочено: 2." in roadmaps[3]
    )
    knowledge = described["Реализация мероприятий дорожных карт по направлению «Знание»"]
    assert knowledge[2] == "15.10.2026–20.11.2026"
    assert knowledge[3].startswith("+\nПроведено мероприятий: 3, в школах: 2;")
    review = described["Проверка кураторами отчётов школ о мероприятиях (статус «подтверждено»)"]
    assert (
        review[3]
        == "Частично\nПодтверждено — 4 из 7; возвращено на доработку — 1; ожидают проверки — 2."
    )
    surveys = described[
        "Проведение анонимных опросов обучающихся, родителей и учителей (онлайн, по ссылке)"
    ]
    assert surveys[3] == "−\nАнонимных опросов за период в боте нет — нет данных."
    assert len(actions.rows) == 2 + len(DIRECTIONS) + 1 + 1 + 1  # «other» and the surveys
    assert document.rows == len(schools.rows) + len(actions.rows)
    assert "Муниципальное образование: Дальнереченский городской округ." in doc.text


# --- «Аналитическая справка» ------------------------------------------------------------------


async def test_note_for_a_school(world: World, season, session_factory):
    document, doc = await build(session_factory, DocumentKind.NOTE, [world.school_a.id])
    text = doc.text
    assert doc.tables == [] and document.rows == 0
    assert (
        "в бот внесено отчётов о проведённых мероприятиях: 6. Из них с отметкой «выполнено» — 4, "
        "«выполнено частично» — 1, «не выполнено» — 1." in text
    )
    assert "– «Знание» — 2 (выполнено — 2, частично — 0, не выполнено — 0);" in text
    assert (
        "По направлениям «Творчество», «Профориентация», «Учитель. Школьная команда», «Школьный "
        "климат», «Образовательная среда» отчётов за период нет." in text
    )
    assert (
        "В дорожных картах мероприятий: 6. Из них по состоянию на конец периода есть хотя бы "
        "один отчёт — 4 (67 %), выполнено (есть отчёт с отметкой «выполнено») — 3 (50 %)." in text
    )
    assert (
        "Со сроком в отчётном периоде запланировано мероприятий: 5, из них выполнено: 3." in text
    )
    assert "Просрочено мероприятий (срок истёк, отметки «выполнено» нет): 2." in text
    assert "– 3. Совет родителей (до 01.10.2026);" in text
    assert "– 5. Билет в будущее (до 20.09.2026);" in text
    assert (
        "уровень — средний (оценка бота), набрано баллов: 30 из 40; по сравнению с предыдущей "
        "самодиагностикой уровень повысился (был «базовый», 01.03.2026)." in text
    )
    assert "Открытых дефицитов по последним результатам самодиагностики: 2." in text
    assert "– Знание: Нет программы;" in text and "– Здоровье: Нет ШСК;" in text
    assert (
        "Закрыто дефицитов (были в предыдущей самодиагностике, в последней не выявлены): 1."
        in text
    )
    assert "– Знание: Нет ВСОКО;" in text
    assert "– СОШ №2: возвращено на доработку отчётов: 1;" in text
    assert len(doc.pictures()) == 1  # the roadmap chart


async def test_note_for_a_municipality(world: World, season, session_factory):
    _document, doc = await build(
        session_factory, DocumentKind.NOTE, visible_schools_query(world.municipal)
    )
    text = doc.text
    assert "Объект анализа: школы (2) — СОШ №2, СОШ №5;" in text
    assert "Отчёты представили школ: 2 из 2." in text
    assert (
        "«Самодиагностика (тест)»: завершена в 1 из 2 школ; уровни по последним результатам "
        "(оценка бота): средний — 1. Изменение по сравнению с предыдущей самодиагностикой: "
        "повысился — 1, не изменился — 0, понизился — 0, сравнить не с чем — 0." in text
    )
    assert "Нет завершённой самодиагностики: СОШ №5." in text
    assert "– Знание: Нет программы (школ: 1);" in text
    assert "– СОШ №2 — 2;" in text  # the most overdue
    assert "Без дорожной карты в боте: СОШ №5." in text
    assert "– СОШ №5: нет дорожной карты; нет завершённой самодиагностики;" in text
    assert len(doc.pictures()) == 1


async def test_note_without_data_says_where_it_has_none(world: World, session_factory):
    _document, doc = await build(session_factory, DocumentKind.NOTE, [world.school_b.id])
    text = doc.text
    assert (
        "отчётов о проведённых мероприятиях в боте нет; сведения о мероприятиях отсутствуют."
        in text
    )
    assert "Дорожных карт в боте нет; охват и выполнение мероприятий оценить нельзя." in text
    assert (
        "Завершённой самодиагностики в боте на 30.11.2026 нет; уровень и его изменение оценить "
        "нельзя." in text
    )
    assert "Сведений о дефицитах нет: самодиагностика не проводилась." in text
    assert doc.pictures() == []  # nothing to draw


# --- the mark rule, as written in vocabulary.toml ---------------------------------------------


@pytest.mark.parametrize(
    ("tally", "mark"),
    [
        (Tally(planned=2, planned_done=2, reports=0), Mark.DONE),
        (Tally(planned=2, planned_done=1, reports=1, done=1), Mark.PARTIAL),
        (Tally(planned=2, planned_done=1), Mark.PARTIAL),  # done before the period
        (Tally(planned=2, planned_done=0, reports=1), Mark.PARTIAL),
        (Tally(planned=0, reports=3, done=1), Mark.DONE),
        (Tally(planned=0, reports=2, done=0), Mark.PARTIAL),
        (Tally(planned=1), Mark.NOT_DONE),
        (Tally(), Mark.NOT_DONE),
    ],
)
def test_mark_rule(tally: Tally, mark: Mark) -> None:
    assert mark_for(tally) == mark
