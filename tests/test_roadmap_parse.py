"""Roadmap import: the real fixtures exactly as expected.json says, then files that go wrong."""

import io
import json
import tomllib
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from models.duedates import DueKind
from models.enums import DIRECTION_NAMES, Direction
from models.errors import DomainError
from models.roadmap_directions import (
    RULES_FILE,
    DirectionRulesError,
    DirectionSource,
    direction_code,
    direction_of,
    parse_rules,
    rules,
)
from models.roadmap_import import (
    ImportErrorCode,
    ParsedRoadmap,
    RoadmapImportError,
    parse_roadmap,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEADER = ["№", "Мероприятие", "Характеристика результата", "Срок проведения", "Ответственные"]
# expected.json names the coordinator report's columns by what they hold; the import maps them
# onto the roadmap fields.
EXPECTED_COLUMN_FIELDS = {"date": "due", "form_topic": "title", "organizer": "responsible"}


def activity_fields(item: Any) -> dict[str, str | None]:
    """A parsed activity as expected.json writes it."""
    return {
        "section": item.section,
        "number": item.number,
        "title": _ws(item.title),
        "result": _ws(item.result),
        "due": _ws(item.due_raw),
        "responsible": _ws(item.responsible),
        "external_help": _ws(item.external_help),
    }


def _ws(text: str | None) -> str | None:
    """Whitespace normalised inside each line; the line breaks themselves must survive."""
    if text is None:
        return None
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", sorted({*EXPECTED["files"], *EXPECTED["counts"]}))
def test_fixture_is_extracted_as_expected(name: str) -> None:
    spec = EXPECTED["files"][name]
    roadmap = parse_roadmap(_fixture(name), name)

    assert roadmap.sheet == spec["sheet"]
    assert _ws(roadmap.title) == _ws(spec["title"])
    assert roadmap.header_row == spec["header_row"]
    assert len(roadmap.items) == EXPECTED["counts"][name]
    assert len(roadmap.items) == spec.get("activity_count", spec.get("row_count"))
    assert roadmap.items[0].source_row == spec["first_data_row"]
    assert roadmap.items[-1].source_row == spec["last_data_row"]
    assert [item.source_row for item in roadmap.items] == list(
        range(spec["first_data_row"], spec["last_data_row"] + 1)
    )
    assert roadmap.sections == spec.get("sections", [])
    assert len(roadmap.sections) == spec.get("section_count", 0)
    for key, header in spec["columns"].items():
        assert roadmap.columns[EXPECTED_COLUMN_FIELDS.get(key, key)] == header
    if "activities" not in spec:
        return  # expected.json gives only the shape of this table
    for want, item in zip(spec["activities"], roadmap.items, strict=True):
        got = activity_fields(item)
        assert got == {key: _ws(value) for key, value in want.items()}, want["number"]


def test_roadmap_fixture_dates_use_the_school_year_of_its_title() -> None:
    roadmap = parse_roadmap(_fixture("roadmap_001.xlsx"), "roadmap_001.xlsx")

    assert roadmap.school_year == 2022
    by_number = {item.number: item.due for item in roadmap.items}
    assert by_number["5"].kind is DueKind.PERIOD
    assert (by_number["5"].start, by_number["5"].end) == (date(2022, 9, 1), date(2023, 5, 31))
    assert by_number["10"].kind is DueKind.UNKNOWN and by_number["10"].raw is None
    assert by_number["20"].recurrence == "per_schedule"
    assert roadmap.unparsed_due_count == 0


def test_participation_report_reads_direction_mark_and_done() -> None:
    roadmap = parse_roadmap(_fixture("report_000.xlsx"), "report_000.xlsx")

    assert all(item.title == item.direction and item.mark and item.done for item in roadmap.items)
    assert {item.mark for item in roadmap.items} == {"+ ( средний уровень)", "+", "Частично"}
    assert roadmap.items[2].due.kind is DueKind.PERIOD
    assert roadmap.unparsed_due_count == 0


def test_report_fixture_infers_the_school_year_from_its_dated_rows() -> None:
    roadmap = parse_roadmap(_fixture("report_002.xlsx"), "report_002.xlsx")

    assert roadmap.school_year == 2022
    november = next(item.due for item in roadmap.items if item.due_raw == "ноябрь")
    assert (november.start, november.end) == (date(2022, 11, 1), date(2022, 11, 30))
    assert roadmap.items[0].link and roadmap.items[0].participants
    assert roadmap.unparsed_due_count == 0


def _xlsx(*sheets: tuple[str, list[list[Any]], list[str]]) -> bytes:
    """A workbook of (title, rows, merged ranges) sheets."""
    workbook = Workbook()
    assert isinstance(workbook.active, Worksheet)
    workbook.remove(workbook.active)
    for title, rows, merges in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for merge in merges:
            sheet.merge_cells(merge)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _code(data: bytes, filename: str = "roadmap.xlsx", **limits: int) -> str:
    with pytest.raises(RoadmapImportError) as caught:
        parse_roadmap(data, filename, **limits)
    assert caught.value.code in set(ImportErrorCode)
    return caught.value.code


def _simple() -> bytes:
    return _xlsx(("Лист1", [HEADER, [1, "Совещание", None, "до 01.10.2022", "Иванов"]], []))


def test_messy_roadmap() -> None:
    data = _xlsx(
        ("Инструкция", [["Заполните таблицу на следующем листе"]], []),
        (
            "ДК",
            [
                ["Дорожная карта МБОУ «СОШ №5»", None, None, None, None],
                ["на 2023/2024 учебный год", None, None, None, None],
                [" № п/п ", "МЕРОПРИЯТИЯ", "Результат", "Сроки", "Ответственный"],
                [1, 2, 3, 4, 5],
                ["1. Организационные мероприятия", None, None, None, None],
                [1, "Приказ о рабочей группе", "Приказ", "до 15.09.2023", "Директор"],
                [2, "Совещание", "Протокол\nсовещания", "сентябрь", "Петров П.П.,\nзавуч"],
                [None, "педагогов", "с выводами", None, "Сидорова С.С."],
                HEADER,
                [3, "Анкетирование", "Отчёт", "Ежеквартально", "Психолог"],
                ["2. Работа с родителями", None, None, None, None],
                [1, "Родительское собрание", "Протокол", datetime(2023, 10, 20), "Классные"],
                [2, "Анкетирование родителей", "Справка", "октябрь – ноябрь", "Психолог"],
                [None, None, "Аналитическая справка", "до 30.11.2023", "Завуч"],
            ],
            ["A1:E1", "A2:E2", "A5:E5", "A11:E11"],
        ),
    )
    roadmap = parse_roadmap(data, "дк.xlsx")

    assert (roadmap.sheet, roadmap.header_row, roadmap.school_year) == ("ДК", 3, 2023)
    assert roadmap.title == "Дорожная карта МБОУ «СОШ №5»\nна 2023/2024 учебный год"
    assert roadmap.sections == ["1. Организационные мероприятия", "2. Работа с родителями"]
    summary = [(i.section[:1] if i.section else None, i.number, i.title) for i in roadmap.items]
    assert summary == [
        ("1", "1", "Приказ о рабочей группе"),
        ("1", "2", "Совещание\nпедагогов"),
        ("1", "3", "Анкетирование"),
        ("2", "1", "Родительское собрание"),
        ("2", "2", "Анкетирование родителей"),
        ("2", None, "Анкетирование родителей"),
    ]
    meeting = roadmap.items[1]
    assert meeting.result == "Протокол\nсовещания\nс выводами"
    assert meeting.responsible == "Петров П.П.,\nзавуч\nСидорова С.С."
    assert (meeting.due.start, meeting.due.end) == (date(2023, 9, 1), date(2023, 9, 30))
    assert meeting.source_row == 7
    assert roadmap.items[2].due.recurrence == "quarterly"
    assert roadmap.items[3].due_raw == "20.10.2023"
    assert roadmap.items[4].due.end == date(2023, 11, 30)
    assert roadmap.items[5].due.end == date(2023, 11, 30)
    assert roadmap.items[5].result == "Аналитическая справка"


def test_vertically_merged_title_applies_to_each_deadline_row() -> None:
    rows: list[list[Any]] = [
        HEADER,
        [1, "Мониторинг по итогам I полугодия", "Приказ", "до 15.01.2023", "Директор"],
        [None, None, "Самодиагностика", "5.01.2023 - 20.01.2023", "Директор"],
        [None, None, "Справка", "до 29.01.2023", "Завуч"],
        [2, "Совещание", "Протокол", "до 03.02.2023", "Завуч"],
    ]
    roadmap = parse_roadmap(_xlsx(("Лист1", rows, ["A2:A4", "B2:B4"])), "r.xlsx")

    assert [(item.number, item.title, item.result) for item in roadmap.items] == [
        ("1", "Мониторинг по итогам I полугодия", "Приказ"),
        ("1", "Мониторинг по итогам I полугодия", "Самодиагностика"),
        ("1", "Мониторинг по итогам I полугодия", "Справка"),
        ("2", "Совещание", "Протокол"),
    ]


def test_numbered_heading_row_becomes_a_section() -> None:
    rows: list[list[Any]] = [
        HEADER,
        ["1.", "Нормативное обеспечение", None, None, None],
        ["1.1", "Положение о ВСОКО", "Положение", "до 01.10.2022", "Директор"],
        ["1.2", "Приказ", "Приказ", "до 01.11.2022", "Директор"],
        ["II.", "Кадры", None, None, None],
        ["2.1", "Курсы", "Удостоверения", "II полугодие", "Завуч"],
    ]
    roadmap = parse_roadmap(_xlsx(("Лист1", rows, [])), "r.xlsx")

    assert roadmap.sections == ["Нормативное обеспечение", "II. Кадры"]
    assert [(item.section, item.number) for item in roadmap.items] == [
        ("Нормативное обеспечение", "1.1"),
        ("Нормативное обеспечение", "1.2"),
        ("II. Кадры", "2.1"),
    ]


def test_lost_word_numbering_still_separates_items() -> None:
    rows: list[list[Any]] = [
        HEADER,
        [None, "Утверждение координатора", "Приказ", "до 04.10.2022", "Шабанова Н.С."],
        [None, "Проведение входного мониторинга", "Самодиагностика", None, "Шарик Н.Н."],
        [None, "Корректировка планов работы с учётом", "План", "до 01.08.2023", "Шабанова"],
        [None, "показателей проекта", None, None, None],
    ]
    roadmap = parse_roadmap(_xlsx(("Лист1", rows, [])), "r.xlsx")

    assert [item.title for item in roadmap.items] == [
        "Утверждение координатора",
        "Проведение входного мониторинга",
        "Корректировка планов работы с учётом\nпоказателей проекта",
    ]


def test_csv_in_cp1251_with_semicolons() -> None:
    text = (
        "Дорожная карта на 2022-2023 учебный год;;;;\r\n"
        "№;Мероприятие;Характеристика результата;Срок проведения;Ответственные исполнители\r\n"
        '1;Совещание, педсовет;"Протокол\r\nсовещания";до 04.10.2022 г.;Шабанова Н.С.\r\n'
        "2;Семинар;Опыт;февраль;Шарик Н.Н.\r\n"
    )
    roadmap = parse_roadmap(text.encode("cp1251"), "карта.csv")

    assert (roadmap.sheet, roadmap.header_row, roadmap.school_year) == (None, 2, 2022)
    assert roadmap.title == "Дорожная карта на 2022-2023 учебный год"
    first, second = roadmap.items
    assert (first.title, first.result) == ("Совещание, педсовет", "Протокол\nсовещания")
    assert first.due.end == date(2022, 10, 4)
    assert second.due.end == date(2023, 2, 28)


@pytest.mark.parametrize(
    ("encoding", "delimiter"), [("utf-8-sig", ","), ("utf-8", "\t"), ("utf-16", "\t")]
)
def test_csv_encodings_and_delimiters(encoding: str, delimiter: str) -> None:
    rows = [HEADER, ["1", "Совещание; педсовет", "Протокол", "до 04.10.2022", "Завуч, директор"]]
    text = "\n".join(delimiter.join(f'"{cell}"' for cell in row) for row in rows)
    roadmap = parse_roadmap(text.encode(encoding), "roadmap.csv")

    assert [(item.title, item.responsible) for item in roadmap.items] == [
        ("Совещание; педсовет", "Завуч, директор")
    ]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "kind"),
    [
        ("№;Мероприятие\n1;Совещание".encode(), "roadmap.xlsx", "text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "roadmap.xlsx", "pdf"),
        (b"<html><body><table><tr><td>1</td></tr></table>", "roadmap.xls", "html"),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"}),
            "r.pptx",
            "pptx",
        ),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.text"}), "r.odt", "odt"),
    ],
)
def test_not_a_spreadsheet(data: bytes, filename: str, kind: str) -> None:
    with pytest.raises(RoadmapImportError) as caught:
        parse_roadmap(data, filename)
    assert (caught.value.code, caught.value.params) == ("not_spreadsheet", {"format": kind})


def test_truncated_zip_is_corrupt() -> None:
    data = _simple()
    assert _code(data[: len(data) // 2]) == "corrupt"


def test_damaged_sheet_is_corrupt() -> None:
    source = zipfile.ZipFile(io.BytesIO(_simple()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content = content[: len(content) // 2]
            archive.writestr(info, content)
    assert _code(buffer.getvalue()) == "corrupt"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504) + "Workbook".encode("utf-16-le"), "r.xls"),
        (_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}), "r.docx"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}), "r.ods"),
    ],
)
def test_damaged_xls_docx_and_ods_are_corrupt(data: bytes, filename: str) -> None:
    assert _code(data, filename) == "corrupt"


def test_password_protected_xlsx_is_encrypted() -> None:
    ole = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(504)
        + "EncryptionInfo".encode("utf-16-le")
        + "EncryptedPackage".encode("utf-16-le")
    )
    assert _code(ole) == "encrypted"


def test_file_over_max_bytes_is_too_large() -> None:
    data = _simple()
    assert _code(data, max_bytes=len(data) - 1) == "too_large"


def test_zip_bomb_is_too_large() -> None:
    sheet = b"<worksheet>" + b" " * 3_000_000 + b"</worksheet>"
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": sheet})
    assert _code(data, max_bytes=100_000) == "too_large"


def test_file_over_max_rows_is_too_large() -> None:
    rows = [HEADER] + [[n, f"Мероприятие {n}", None, "май 2023", None] for n in range(1, 30)]
    data = _xlsx(("Лист1", rows, []))
    assert len(parse_roadmap(data, "r.xlsx", max_rows=30).items) == 29
    assert _code(data, max_rows=20) == "too_large"


def test_workbook_without_a_header_has_no_header() -> None:
    data = _xlsx(("Лист1", [["Фамилия", "Имя"], ["Иванов", "Иван"]], []))
    assert _code(data) == "no_header"


def test_empty_workbook_is_empty() -> None:
    assert _code(_xlsx(("Лист1", [], []))) == "empty"


def test_header_without_rows_is_empty() -> None:
    assert _code(_xlsx(("Лист1", [HEADER], []))) == "empty"


@pytest.mark.parametrize("data", [b"", b"  \n"])
def test_empty_bytes_are_empty(data: bytes) -> None:
    assert _code(data, "roadmap.csv") == "empty"


def test_error_is_a_domain_error_whose_params_name_the_limit() -> None:
    data = _simple()
    with pytest.raises(DomainError) as caught:
        parse_roadmap(data, "r.xlsx", max_bytes=10)
    assert isinstance(caught.value, RoadmapImportError)
    assert caught.value.params == {"size": len(data), "max_bytes": 10}


def test_unparsed_due_count() -> None:
    rows: list[list[Any]] = [
        HEADER,
        [1, "А", None, "когда-нибудь", None],
        [2, "Б", None, None, None],
    ]
    roadmap: ParsedRoadmap = parse_roadmap(_xlsx(("Лист1", rows, [])), "r.xlsx")
    assert roadmap.unparsed_due_count == 1


def test_every_direction_is_read_back_from_its_name() -> None:
    assert {direction_code(name): code for code, name in DIRECTION_NAMES.items()} == {
        code: code for code in DIRECTION_NAMES
    }


# --- directions: named in the file, or suggested by the words (models/roadmap_directions.py) -


def test_the_real_roadmap_gets_plausible_directions_from_its_words() -> None:
    roadmap = parse_roadmap(_fixture("roadmap_001.xlsx"), "roadmap_001.xlsx")
    found = {item.number: direction_of(item) for item in roadmap.items}
    suggested = {number: f.code for number, f in found.items() if f is not None}

    # No «Направление» column and no sections: everything comes from the words.
    assert {f.source for f in found.values() if f is not None} == {DirectionSource.WORDS}
    assert len(suggested) >= 0.8 * len(roadmap.items)
    # Checked by hand against the activities' text (seeds/roadmap_tech_cluster.txt).
    assert {number: suggested.get(number) for number in ("4", "5", "6", "7", "12", "15")} == {
        "4": Direction.ENVIRONMENT,  # информационное сопровождение, на сайте школы
        "5": Direction.KNOWLEDGE,  # посещение уроков, организация учебного процесса
        "6": Direction.ENVIRONMENT,  # аккаунты в соцсетях ВКонтакте, Телеграмм
        "7": Direction.CLIMATE,  # опрос обучающихся и родителей, обратная связь
        "12": Direction.TEACHER,  # совещание с педагогами
        "15": Direction.KNOWLEDGE,  # мониторинг достижения показателей
    }
    assert suggested["19"] == Direction.CAREER  # «День знакомства с технологическим классом»
    assert suggested["20"] == Direction.TEACHER  # методическая помощь педагогам


def _item(title: str, *, section: str | None = None, direction: str | None = None) -> Any:
    rows: list[list[Any]] = [["№", "Мероприятие", "Направление", "Срок проведения"]]
    if section:
        rows.append(["1.", section, None, None])
    rows.append(["1.1", title, direction, "до 01.10.2026"])
    (item,) = parse_roadmap(_xlsx(("Лист1", rows, [])), "r.xlsx").items
    assert (item.section, item.direction) == (section, direction)
    return item


def test_a_direction_named_in_the_file_wins_over_the_words() -> None:
    survey = "Анкетирование родителей об удовлетворённости"
    assert direction_of(_item(survey)) == (Direction.CLIMATE, DirectionSource.WORDS)
    assert direction_of(_item(survey, section="Раздел 2. Здоровье")) == (
        Direction.HEALTH,
        DirectionSource.SECTION,
    )
    assert direction_of(_item(survey, section="II. Здоровье", direction="Профориентация")) == (
        Direction.CAREER,
        DirectionSource.COLUMN,
    )
    # A cell naming two directions names none; a section about something else only adds words.
    assert direction_of(_item(survey, direction="Знание, Воспитание")) == (
        Direction.CLIMATE,
        DirectionSource.WORDS,
    )
    assert direction_of(_item("Приказ", section="Работа с кадрами")) == (
        Direction.TEACHER,
        DirectionSource.WORDS,
    )
    assert direction_of(_item("Приказ", section="Организационные мероприятия")) is None


def test_section_names_and_words_read_as_the_rules_file_says() -> None:
    named = rules().named
    for section, code in [
        ("Магистральное направление «Знание»", Direction.KNOWLEDGE),
        ("Ключевое условие «Учитель. Школьная команда»", Direction.TEACHER),
        ("3. Школьный климат", Direction.CLIMATE),
        ("Образовательная среда", Direction.ENVIRONMENT),
        ("Формирование знаний о здоровом образе жизни", None),
        ("Мероприятия на уровне среднего общего образования", None),
    ]:
        assert named(section, anywhere=False) == code, section
    suggest = rules().suggest
    assert suggest({"title": "Хор ветеранов педагогического труда"}) == Direction.CREATIVITY
    assert suggest({"title": "Хорошо организованный праздник"}) is None  # not «хор»
    assert suggest({"title": "Сдача норм ГТО"}) == Direction.HEALTH
    # «педагог-психолог» is the climate's phrase, not the teacher's word.
    assert suggest({"title": "Консультации педагога-психолога"}) == Direction.CLIMATE
    assert suggest({"title": "Совещание с педагогами", "result": "Опрос"}) == Direction.TEACHER


def test_the_rules_file_is_checked_when_it_is_loaded() -> None:
    assert {code for code, _words in rules().words} == set(Direction)
    raw = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    raw["extra"] = 1
    raw["weights"]["title"] = -1
    entries = raw["directions"]
    entries[0]["words"] = ["Урок", "урок в", "урок", "урок"]
    entries[1]["code"] = "magic"
    entries[2]["code"] = entries[3]["code"]
    entries[4]["colour"] = "red"

    with pytest.raises(DirectionRulesError) as caught:
        parse_rules(raw)

    problems = "\n".join(caught.value.problems)
    for expected in (
        "extra: unknown key",
        "weights: whole numbers",
        "directions[0].words: «Урок» must be lower-case",
        "directions[0].words: «урок в» has a stop word",
        "directions[0].words: a phrase is listed twice",
        "directions[1].code: «magic» is not a direction",
        "directions[3].code: «creativity» is listed twice",
        "directions[4].colour: unknown key",
        "directions: missing upbringing, health",
    ):
        assert expected in problems
