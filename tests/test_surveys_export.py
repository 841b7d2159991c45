"""Anonymous surveys in the XLSX export and the documents, read back against the database:
figures only of closed surveys with enough answers, the reason for the others, never a count
of a hidden survey, and user text as typed (never a formula, never markup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from exports.documents.kinds import DocumentKind
from exports.surveys import DEFAULT_MIN_RESPONSES, grade_span, parse_grades
from exports.xlsx import build_export
from models import School, Survey, SurveyCount
from models import surveys as sv
from models.users import visible_schools_query
from tests.conftest import World
from tests.documents_data import (
    END,
    MIN_RESPONSES,
    START,
    TODAY,
    Surveys,
    build,
    make_surveys,
)
from tests.docx_reader import Docx, read
from tests.test_export_xlsx import HEADERS

TZ = ZoneInfo("Europe/Moscow")
EVIL = "=cmd|' /C calc'!A0"
MARKUP = "<b>Школа</b> & «=1+1»"
SURVEY_COLUMNS = HEADERS["Опросы"]
RISK = "Рисковый профиль школы (500+)"
FEEDBACK = "Обратная связь о проекте"
AFTER_CLOSING = "Итоги — после закрытия опроса"
TOO_FEW = f"Меньше {MIN_RESPONSES} ответов — не показано, чтобы никого нельзя было узнать"
SURVEYS_ACTION = (
    "Проведение анонимных опросов обучающихся, родителей и учителей (онлайн, по ссылке)"
)


@pytest.fixture
async def surveys(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Surveys:
    return await make_surveys(world, session_factory)


async def counts(session_factory: async_sessionmaker[AsyncSession], survey_id: int) -> Any:
    """(question text, option label) -> count, from the counters in the database."""
    async with session_factory() as session:
        survey = await session.get_one(Survey, survey_id)
        rows = await session.execute(
            select(SurveyCount.question, SurveyCount.option, SurveyCount.count).where(
                SurveyCount.survey_id == survey_id
            )
        )
        stored = {(q, o): c for q, o, c in rows}
        return survey.responses, {
            (question.text, option.label): stored[(question.code, index)]
            for question in sv.questions(survey.form, survey.audience)
            for index, option in enumerate(question.options)
        }


async def export(
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    schools: Any,
    min_responses: int = MIN_RESPONSES,
) -> list[list[Any]]:
    path = tmp_path / "export.xlsx"
    async with session_factory() as session:
        await build_export(
            session,
            schools=schools,
            start=START,
            end=END,
            tz=TZ,
            out=path,
            today=TODAY,
            min_responses=min_responses,
        )
    ws = load_workbook(path)["Опросы"]
    assert [c.value for c in next(ws.iter_rows(min_row=2, max_row=2))] == SURVEY_COLUMNS
    return [list(row) for row in ws.iter_rows(min_row=3)]


def values(rows: list[list[Any]]) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in rows]


# --- the XLSX export --------------------------------------------------------------------------


async def test_surveys_sheet_against_the_database(
    world: World, surveys: Surveys, session_factory, tmp_path: Path
) -> None:
    rows = values(await export(session_factory, tmp_path, [world.school_a.id, world.school_b.id]))

    # School A newest first: pupils (open), parents (closed), teachers (too few), parents (June).
    head = [row[:6] for row in rows]
    students = ["СОШ №2", RISK, "обучающиеся 5–7, 9 классов", "20.11.2026–31.12.2026"]
    assert head[0] == [*students, "открыт до 31.12.2026", 6]
    assert rows[0][6:] == [AFTER_CLOSING, None, None, None]
    parents = ["СОШ №2", RISK, "родители", "01.10.2026–15.10.2026", "закрыт 15.10.2026", 6]
    shown = [row for row in rows if row[:6] == parents]
    teachers = ["СОШ №2", FEEDBACK, "учителя", "10.09.2026–20.09.2026", "закрыт 20.09.2026", 3]
    assert [row for row in rows if row[:6] == teachers] == [[*teachers, TOO_FEW, None, None, None]]

    # A shown survey: a row per question and option, counted and shared as in the database.
    n, stored = await counts(session_factory, surveys.shown)
    assert {(row[6], row[7]): row[8] for row in shown} == stored
    assert len(shown) == len(stored) == 6
    for row in shown:
        assert row[9] == round(100 * row[8] / n, 1)
    assert sum(row[8] for row in shown) == n * 2  # everyone answered both questions

    # Every survey of the schools, not only the period's; school B after school A.
    june = [row for row in rows if row[3] == "01.06.2026–10.06.2026"]
    assert len(june) == 6 and all(row[4] == "закрыт 10.06.2026" for row in june)
    n_b, stored_b = await counts(session_factory, surveys.school_b)
    school_b = [row for row in rows if row[0] == "СОШ №5"]
    assert {(row[6], row[7]): row[8] for row in school_b} == stored_b
    assert rows[-len(school_b) :] == school_b and n_b == 5
    assert len(rows) == 1 + 6 + 1 + 6 + 6


async def test_hidden_surveys_show_no_counts_whatever_the_minimum(
    world: World, surveys: Surveys, session_factory, tmp_path: Path
) -> None:
    # At a minimum of 2 the open survey's six answers would be enough: it stays hidden until
    # it closes (its figures moving from n to n + 1 would give the latest answer away).
    low = values(await export(session_factory, tmp_path, [world.school_a.id], min_responses=2))
    pupils = [row for row in low if row[2] == "обучающиеся 5–7, 9 классов"]
    assert pupils == [[*pupils[0][:6], AFTER_CLOSING, None, None, None]]
    assert len([row for row in low if row[2] == "учителя"]) == 3 * 3  # 3 answers ≥ 2: shown

    # At 7 the closed surveys with six and five answers are hidden too: one row each, no count.
    high = values(await export(session_factory, tmp_path, [world.school_a.id], min_responses=7))
    assert len(high) == 4
    too_few = "Меньше 7 ответов — не показано, чтобы никого нельзя было узнать"
    assert [row[6:] for row in high] == [
        [AFTER_CLOSING, None, None, None],
        *[[too_few, None, None, None]] * 3,
    ]
    assert [row[5] for row in high] == [6, 6, 3, 5]


async def test_school_names_in_the_surveys_sheet_never_become_formulas(
    world: World, surveys: Surveys, session_factory, tmp_path: Path
) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(
            update(School).where(School.id == world.school_b.id).values(short_name=EVIL)
        )
    rows = await export(session_factory, tmp_path, [world.school_a.id, world.school_b.id])
    cells = [cell for row in rows for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    evil = [row[0] for row in rows if row[0].value == EVIL]
    assert len(evil) == 6 and all(c.quotePrefix and c.data_type == "s" for c in evil)
    assert not any(c.quotePrefix for c in cells if c.value == "СОШ №2")


async def test_no_surveys_leaves_the_sheet_empty(world: World, session_factory, tmp_path: Path):
    assert await export(session_factory, tmp_path, [world.school_a.id]) == []


def test_the_default_minimum_is_the_bots() -> None:
    assert Settings.model_fields["survey_min_responses"].default == DEFAULT_MIN_RESPONSES


# --- the documents ----------------------------------------------------------------------------


async def document(
    session_factory: async_sessionmaker[AsyncSession],
    kind: DocumentKind,
    schools: Any,
    min_responses: int = MIN_RESPONSES,
) -> Docx:
    built = await build(session_factory, kind, schools, min_responses=min_responses)
    return read(built.data)


def option_lines(stored: dict[tuple[str, str], int], n: int) -> list[str]:
    """What the school report writes per question: «label — share % (count)»."""
    by_question: dict[str, list[str]] = {}
    for (question, label), count in stored.items():
        by_question.setdefault(question, []).append(
            f"{label} — {round(100 * count / n)} % ({count})"
        )
    return ["; ".join(options) for options in by_question.values()]


async def test_school_report_has_its_surveys_of_the_period(
    world: World, surveys: Surveys, session_factory
) -> None:
    doc = await document(session_factory, DocumentKind.SCHOOL, [world.school_a.id])

    assert ("Heading1", "Анонимные опросы") in doc.paragraphs
    main, table = doc.tables
    assert table.header == ["№ п/п", "Опрос", "Группа", "Сроки", "Ответили", "Итоги"]
    assert table.repeated_header
    # In the period only (not June's), newest first.
    assert [row[:5] for row in table.rows] == [
        [
            "1.",
            RISK,
            "обучающиеся 5–7, 9 классов",
            "20.11.2026–31.12.2026\nоткрыт до 31.12.2026",
            "6",
        ],
        ["2.", RISK, "родители", "01.10.2026–15.10.2026\nзакрыт 15.10.2026", "6"],
        ["3.", FEEDBACK, "учителя", "10.09.2026–20.09.2026\nзакрыт 20.09.2026", "3"],
    ]
    still_open, shown, too_few = (row[5] for row in table.rows)
    assert still_open == "Итоги — после закрытия опроса (ответов пока: 6)."
    assert too_few == f"{TOO_FEW}."

    n, stored = await counts(session_factory, surveys.shown)
    lines = shown.split("\n")
    assert lines[0] == "Последний ответ: 01.10.2026."
    questions = sv.questions("risk500", "parents")
    assert lines[1::2] == [f"{i}. {q.text}" for i, q in enumerate(questions, 1)]
    assert lines[2::2] == option_lines(stored, n)
    assert "никогда — 33 % (2)" in lines[2]  # 2 of the 6 parents: by hand, as a check
    assert any(
        text.startswith(
            "Примечание. Итоги опроса показываются после его закрытия и только если "
            f"ответили не меньше {MIN_RESPONSES} человек"
        )
        for _style, text in doc.paragraphs
    )
    assert len(main.rows) == 1 + 8  # the report's own table: self-diagnosis, directions


async def test_school_report_hides_what_a_higher_minimum_hides(
    world: World, surveys: Surveys, session_factory
) -> None:
    doc = await document(session_factory, DocumentKind.SCHOOL, [world.school_a.id], 7)
    results = [row[5] for row in doc.tables[1].rows]
    assert results[1:] == ["Меньше 7 ответов — не показано, чтобы никого нельзя было узнать."] * 2
    assert all(
        "%" not in cell and "(" not in cell.replace("(ответов пока: 6)", "") for cell in results
    )


async def test_municipal_report_sums_up_the_surveys(
    world: World, surveys: Surveys, session_factory
) -> None:
    doc = await document(
        session_factory, DocumentKind.MUNICIPAL, visible_schools_query(world.municipal)
    )
    described = {row[1]: row for row in doc.tables[1].rows}
    row = described[SURVEYS_ACTION]
    assert row[2] == "10.09.2026–31.12.2026"
    lines = row[3].split("\n")
    assert lines[0] == "+"  # both schools held one
    assert lines[1] == (
        "Проведено опросов: 4, в школах: 2 из 2; ответили: обучающиеся — 6; родители — 11; "
        "учителя — 3."
    )
    assert lines[2] == (
        f"Итоги показаны по закрытым опросам, в которых ответили не меньше {MIN_RESPONSES} "
        "человек: 2; ещё открыты (итоги — после закрытия): 1; закрыты с меньшим числом ответов "
        "(итоги не показываются): 1."
    )
    # The parents of both schools added up: the least favourable answer of each question.
    _n, a = await counts(session_factory, surveys.shown)
    _n, b = await counts(session_factory, surveys.school_b)
    never = ("Как часто вы участвуете в школьных мероприятиях?", "никогда")
    late = ("Школа вовремя сообщает вам об успехах и трудностях ребёнка", "нет")
    share = round(100 * (a[never] + b[never]) / 11)
    assert share == round(100 * (a[late] + b[late]) / 11) == 64
    assert lines[3] == (
        f"«{RISK}», родители (ответили: 11; школ: 2) — чаще всего выбирали наименее "
        f"благоприятный ответ: «{never[0]}» — «никогда»: {share} %; «{late[0]}» — «нет»: "
        f"{share} %."
    )
    assert len(lines) == 4


async def test_municipal_report_names_schools_without_surveys_as_typed(
    world: World, surveys: Surveys, session_factory
) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(delete(Survey).where(Survey.id == surveys.school_b))
        await session.execute(
            update(School).where(School.id == world.school_b.id).values(short_name=MARKUP)
        )
    doc = await document(
        session_factory, DocumentKind.MUNICIPAL, [world.school_a.id, world.school_b.id]
    )
    row = {row[1]: row for row in doc.tables[1].rows}[SURVEYS_ACTION]
    assert row[3].startswith("Частично\n")
    assert f"Опросов не проводили: {MARKUP}." in row[3]
    assert "(ответили: 6; школ: 1)" in row[3]  # school A's parents alone now


async def test_note_has_a_survey_section(world: World, surveys: Surveys, session_factory):
    doc = await document(
        session_factory, DocumentKind.NOTE, visible_schools_query(world.municipal)
    )
    text = doc.text
    assert "6. Анонимные опросы" in text
    assert (
        "Проведено анонимных опросов: 4 в 2 из 2 школ; ответили: обучающиеся — 6; родители — "
        "11; учителя — 3." in text
    )
    assert (
        f"Итоги показаны по закрытым опросам, в которых ответили не меньше {MIN_RESPONSES} "
        "человек: 2; ещё открыты (итоги — после закрытия опроса): 1; закрыты с меньшим числом "
        "ответов (итоги не показываются, чтобы никого нельзя было узнать): 1." in text
    )
    assert (
        f"– «{RISK}», родители (ответили: 11; школ: 2): «Как часто вы участвуете в школьных "
        "мероприятиях?» — «никогда»: 64 %; " in text
    )
    assert "обучающиеся (ответили" not in text and "учителя (ответили" not in text


async def test_note_for_a_school_counts_its_own(world: World, surveys: Surveys, session_factory):
    doc = await document(session_factory, DocumentKind.NOTE, [world.school_a.id])
    text = doc.text
    assert (
        "Проведено анонимных опросов: 3; ответили: обучающиеся — 6; родители — 6; учителя — 3."
        in text
    )
    assert f"– «{RISK}», родители (ответили: 6; школ: 1): " in text
    assert "«никогда»: 33 %" in text


async def test_documents_without_surveys_say_there_is_no_data(world: World, session_factory):
    school = await document(session_factory, DocumentKind.SCHOOL, [world.school_a.id])
    assert len(school.tables) == 1
    assert (
        "Анонимных опросов обучающихся, родителей и учителей за период 01.09.2026–30.11.2026 в "
        "боте нет — нет данных." in school.text
    )
    municipal = await document(session_factory, DocumentKind.MUNICIPAL, [world.school_a.id])
    row = {row[1]: row for row in municipal.tables[1].rows}[SURVEYS_ACTION]
    assert row[2:] == [
        "01.09.2026–30.11.2026",
        "−\nАнонимных опросов за период в боте нет — нет данных.",
    ]
    note = await document(session_factory, DocumentKind.NOTE, [world.school_a.id])
    assert (
        "Анонимных опросов обучающихся, родителей и учителей за период 01.09.2026–30.11.2026 в "
        "боте нет — нет данных." in note.text
    )
    assert "Проведено анонимных опросов" not in note.text


def test_grades_are_written_as_ranges() -> None:
    assert grade_span(parse_grades("9,5,6,7,1")) == "1, 5–7, 9"
    assert grade_span(parse_grades("6")) == "6"
    assert parse_grades(None) == () and parse_grades("") == ()


# --- the configured minimum reaches what users ask for ----------------------------------------


async def test_the_chat_export_and_documents_take_the_configured_minimum(
    harness, world: World, surveys: Surveys, tg, settings: Settings, monkeypatch, i18n_ru
) -> None:
    """SURVEY_MIN_RESPONSES, not the exports' default, decides what /export and /documents show
    (with the default both would look the same, so the minimum is raised above every n)."""
    import io

    from aiogram.methods import SendDocument
    from aiogram.types import BufferedInputFile

    from bot.ui import formatting
    from bot.ui.callbacks import DocKind

    monkeypatch.setattr(formatting, "today", lambda _settings: TODAY)
    municipal = tg.user(world.municipal.telegram_id)
    period = f"{START:%d.%m.%Y}-{END:%d.%m.%Y}"

    def the_file(requests: list[Any]) -> bytes:
        (document,) = [r for r in requests if isinstance(r, SendDocument)]
        assert isinstance(document.document, BufferedInputFile)
        return document.document.data

    async def counted_rows() -> int:
        data = the_file(await harness.send(municipal, f"/export {period}"))
        ws = load_workbook(io.BytesIO(data))["Опросы"]
        return sum(1 for row in ws.iter_rows(min_row=3, values_only=True) if row[8] is not None)

    async def shares_in_the_school_report() -> int:
        await harness.send(coordinator, "/documents")
        await harness.click(coordinator, DocKind(kind=DocumentKind.SCHOOL).pack())
        doc = read(the_file(await harness.send(coordinator, period)))
        return sum("%" in row[5] for row in doc.tables[1].rows)

    coordinator = tg.user(world.coordinator.telegram_id)
    assert await counted_rows() > 0
    assert await shares_in_the_school_report() > 0
    monkeypatch.setattr(settings, "survey_min_responses", 1000)
    assert await counted_rows() == 0
    assert await shares_in_the_school_report() == 0
