"""Questionnaires imported from a spreadsheet (models/diagnostics/xlsx_import.py)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from models.diagnostics import (
    Profile,
    Questionnaire,
    QuestionnaireImportError,
    builtin_questionnaires,
    questionnaire_from_xlsx,
    score,
)


@pytest.fixture(scope="module")
def builtins() -> dict[str, Questionnaire]:
    return builtin_questionnaires()


# --- spreadsheet import ----------------------------------------------------------------------

XLSX_HEADER = ["Код", "Направление", "Вопрос", "Тип", "Варианты", "Подсказка", "Дефицит", "Вес"]


def xlsx(rows: list[list[object]], *, title_row: bool = True) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    if title_row:
        sheet.append(["Самодиагностика, региональный вариант"])
    sheet.append(XLSX_HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_import_good_sheet(builtins: dict[str, Questionnaire]) -> None:
    data = xlsx(
        [
            ["net", "Знание", "Сетевая форма?", "да/нет", None, None, "Нет сетевой формы", None],
            [None, "Воспитание", "Гимн", "выбор", "нет=0; частично=1; да=2", "подсказка", None, 2],
            [None, "health", "Доля, %", "число", "0..10=0; 10..30=1; 30..=2", None, None, None],
            [None, None, None, None, None, None, None, None],
            [None, "знание", "Комментарий", "текст", None, None, None, None],
        ]
    )
    questionnaire = questionnaire_from_xlsx(
        data, code="regional", title="Региональная", template=builtins["msh"]
    )
    assert questionnaire.code == "regional"
    assert [q.code for q in questionnaire.questions] == ["net", "q1", "q2", "q3"]
    assert [d.code for d in questionnaire.directions] == ["knowledge", "upbringing", "health"]
    net, anthem, share, comment = questionnaire.questions
    assert (net.kind, net.direction, [o.points for o in net.options]) == (
        "yesno",
        "knowledge",
        [0, 1],
    )
    assert net.deficit == "Нет сетевой формы"
    assert (anthem.weight, [o.points for o in anthem.options], anthem.hint) == (
        2,
        [0, 1, 2],
        "подсказка",
    )
    assert [(b.min, b.max, b.points) for b in share.bands] == [
        (0, 10, 0),
        (10, 30, 1),
        (30, None, 2),
    ]
    assert comment.kind == "text"
    result = score(questionnaire, Profile.full(), {"net": 1, "q1": 1, "q2": 12.0, "q3": "x"})
    assert (result.overall.points, result.overall.max_points) == (1 + 2 + 1, 1 + 4 + 2)


def test_xlsx_import_collects_all_bad_rows(builtins: dict[str, Questionnaire]) -> None:
    data = xlsx(
        [
            [None, "Знание", "Вопрос 1", "слайдер", None, None, None, None],  # row 3
            [None, "Знание", "Вопрос 2", "выбор", "нет; да=1", None, None, None],  # row 4
            [None, "Знание", None, "да/нет", None, None, None, None],  # row 5
            [None, "Астрономия", "Вопрос 4", "да/нет", None, None, None, None],  # row 6
            ["dup", "Знание", "Вопрос 5", "да/нет", None, None, None, None],  # row 7: fine
            ["dup", "Знание", "Вопрос 6", "да/нет", None, None, None, None],  # row 8
            [None, "Знание", "Вопрос 7", "выбор", "нет=0; да=1", None, None, "много"],  # row 9
            [None, "Знание", None, "???", None, None, None, None],  # row 10
            [None, "Знание", "Вопрос 9", "число", "0..10=0; 5..=1", None, None, None],  # row 11
            [None, "Знание", "Вопрос 10", "выбор", "да=1", None, None, None],  # row 12
        ]
    )
    with pytest.raises(QuestionnaireImportError) as caught:
        questionnaire_from_xlsx(data, code="bad", title="Плохая", template=builtins["msh"])
    assert [(p.row, p.code) for p in caught.value.problems] == [
        (3, "kind_unknown"),
        (4, "options_unparsable"),
        (5, "text_empty"),
        (6, "direction_unknown"),
        (8, "code_duplicate"),
        (9, "weight_invalid"),
        (10, "text_empty"),
        (10, "kind_unknown"),
        (11, "bands_overlap"),
        (12, "options_too_few"),
    ]
    by_row = {p.row: p for p in caught.value.problems}
    assert by_row[3].params == {"value": "слайдер"}
    assert by_row[4].params == {"value": "нет"}
    assert by_row[6].params == {"value": "Астрономия"}


def test_xlsx_import_missing_columns_and_garbage(builtins: dict[str, Questionnaire]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Направление", "Вопрос"])
    sheet.append(["Знание", "Вопрос"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(QuestionnaireImportError) as caught:
        questionnaire_from_xlsx(buffer.getvalue(), code="x", title="x", template=builtins["msh"])
    assert [(p.row, p.code, dict(p.params)) for p in caught.value.problems] == [
        (1, "column_missing", {"column": "kind"}),
        (1, "column_missing", {"column": "options"}),
    ]
    with pytest.raises(QuestionnaireImportError) as caught:
        questionnaire_from_xlsx(b"not a workbook", code="x", title="x")
    assert [p.code for p in caught.value.problems] == ["file_invalid"]


def test_xlsx_import_with_sheet_directions(builtins: dict[str, Questionnaire]) -> None:
    data = xlsx(
        [
            [None, "Свой раздел", "Вопрос", "да/нет", None, None, None, None],
            [None, "Другой раздел", "Вопрос", "шкала", "мало=0; средне=1; много=2", None, None, 1],
            [None, "свой  раздел", "Ещё", "да/нет", None, None, None, None],
        ],
        title_row=False,
    )
    questionnaire = questionnaire_from_xlsx(
        data, code="own", title="Своя", template=builtins["msh"], match_directions=False
    )
    assert [(d.code, d.title) for d in questionnaire.directions] == [
        ("d1", "Свой раздел"),
        ("d2", "Другой раздел"),
    ]
    assert [q.direction for q in questionnaire.questions] == ["d1", "d2", "d1"]
    assert questionnaire.directions[0].thresholds == builtins["msh"].thresholds
