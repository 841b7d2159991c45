"""Roadmaps in Word, LibreOffice and old Excel: the same activities as from the XLSX.

The fixtures are made by scripts/make_roadmap_fixtures.py from roadmap_001.xlsx and committed.
"""

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from models.roadmap_import import ParsedRoadmap, RoadmapImportError, parse_roadmap
from tests.test_roadmap_parse import EXPECTED, EXPECTED_COLUMN_FIELDS, _ws, activity_fields

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPEC = EXPECTED["files"]["roadmap_001.xlsx"]


def _parse(name: str, **limits: int) -> ParsedRoadmap:
    return parse_roadmap((FIXTURES / name).read_bytes(), name, **limits)


def _code(name: str, data: bytes | None = None, **limits: int) -> tuple[str, dict[str, Any]]:
    with pytest.raises(RoadmapImportError) as caught:
        parse_roadmap((FIXTURES / name).read_bytes() if data is None else data, name, **limits)
    return caught.value.code, caught.value.params


def _activities(roadmap: ParsedRoadmap) -> list[dict[str, str | None]]:
    return [activity_fields(item) for item in roadmap.items]


def _assert_as_expected(roadmap: ParsedRoadmap) -> None:
    assert _ws(roadmap.title) == _ws(SPEC["title"])
    assert len(roadmap.items) == EXPECTED["counts"]["roadmap_001.xlsx"]
    assert roadmap.sections == SPEC["sections"]
    for key, header in SPEC["columns"].items():
        assert roadmap.columns[EXPECTED_COLUMN_FIELDS.get(key, key)] == header
    want = [{key: _ws(value) for key, value in item.items()} for item in SPEC["activities"]]
    assert _activities(roadmap) == want
    assert roadmap.school_year == 2022
    assert roadmap.unparsed_due_count == 0


@pytest.mark.parametrize("name", ["roadmap_001.ods", "roadmap_001.xls"])
def test_spreadsheet_with_merged_titles_is_extracted_as_expected(name: str) -> None:
    roadmap = _parse(name)

    _assert_as_expected(roadmap)
    assert roadmap.sheet == SPEC["sheet"]
    assert roadmap.header_row == SPEC["header_row"]
    assert [item.source_row for item in roadmap.items] == list(
        range(SPEC["first_data_row"], SPEC["last_data_row"] + 1)
    )


def test_word_roadmap_is_extracted_as_expected() -> None:
    """Approval block, title paragraphs, merged cells, a page break into a second table."""
    roadmap = _parse("roadmap_001.docx")

    _assert_as_expected(roadmap)
    assert roadmap.sheet is None
    # Four title lines, then the header; the «1 2 3 4 5» row, an empty row and the second
    # table's header are skipped between the rows of the activities.
    assert roadmap.header_row == 5
    rows = [item.source_row for item in roadmap.items]
    assert rows == sorted(rows) and rows[0] == 7 and len(set(rows)) == len(rows)


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def test_word_fixture_has_the_layout_it_claims() -> None:
    """Guards the generator: without these the test above would prove less than it says."""
    with zipfile.ZipFile(FIXTURES / "roadmap_001.docx") as archive:
        body = ElementTree.fromstring(archive.read("word/document.xml")).find(f"{W}body")
    assert body is not None
    kinds = [child.tag.removeprefix(W) for child in body]
    assert kinds.count("tbl") == 3 and kinds.index("tbl") == 1  # letterhead, approval table
    layout, first, second = body.findall(f"{W}tbl")
    merges = [m.get(f"{W}val") for t in (first, second) for m in t.iter(f"{W}vMerge")]
    assert merges.count(None) >= 6 and "restart" in merges  # None: «continue»
    assert any(len(tc.findall(f"{W}p")) > 1 for tc in first.iter(f"{W}tc"))
    assert any(br.get(f"{W}type") is None for br in first.iter(f"{W}br"))
    assert any(br.get(f"{W}type") == "page" for br in body.iter(f"{W}br"))

    def header(table: Any) -> list[str | None]:
        row = table.find(f"{W}tr")
        assert row is not None
        return [tc.findtext(f".//{W}t") for tc in row.findall(f"{W}tc")]

    assert header(second) == header(first)
    assert "УТВЕРЖДАЮ" in "".join(t.text or "" for t in layout.iter(f"{W}t"))


def test_word_section_row_merged_across_the_table() -> None:
    roadmap = _parse("roadmap_sections.docx")

    assert roadmap.sections == ["Раздел 1. Организационные мероприятия", "Раздел 2. Кадры"]
    assert [(item.section, item.number) for item in roadmap.items] == [
        ("Раздел 1. Организационные мероприятия", "1"),
        ("Раздел 2. Кадры", "2"),
    ]
    # Its title spans two grid columns; the cells after it keep their columns.
    second = roadmap.items[1]
    assert (second.title, second.result) == ("Курсы повышения квалификации", None)
    assert (second.due_raw, second.responsible) == ("ноябрь 2022", "Завуч")


def test_word_table_after_a_different_table_is_not_a_continuation() -> None:
    roadmap = _parse("roadmap_two_tables.docx")
    assert [item.title for item in roadmap.items] == ["Приказ"]


@pytest.mark.parametrize(
    ("name", "code", "params"),
    [
        ("roadmap_old.doc", "not_spreadsheet", {"format": "doc"}),
        ("roadmap_locked.docx", "encrypted", {}),
        ("roadmap_no_table.docx", "no_header", {"table": False}),
        ("roadmap_no_header.docx", "no_header", {"table": True}),
        ("roadmap_damaged.docx", "corrupt", {}),
    ],
)
def test_bad_word_files(name: str, code: str, params: dict[str, Any]) -> None:
    assert _code(name) == (code, params)


@pytest.mark.parametrize("name", ["roadmap_001.docx", "roadmap_001.ods", "roadmap_001.xls"])
def test_limits_apply_to_every_format(name: str) -> None:
    size = (FIXTURES / name).stat().st_size
    assert _code(name, max_bytes=size - 1)[0] == "too_large"
    assert _code(name, max_rows=20) == ("too_large", {"max_rows": 20})
    assert len(_parse(name, max_rows=40).items) == 27


@pytest.mark.parametrize("name", ["roadmap_001.ods", "roadmap_001.xls"])
def test_too_many_cells_is_too_large(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from models import roadmap_formats

    monkeypatch.setattr(roadmap_formats, "_MAX_CELLS", 29 * 5 - 1)
    assert _code(name)[0] == "too_large"
    monkeypatch.setattr(roadmap_formats, "_MAX_CELLS", 29 * 5)
    assert len(_parse(name).items) == 27


@pytest.mark.parametrize("name", ["roadmap_001.ods", "roadmap_001.xls"])
def test_damaged_spreadsheets_are_corrupt(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".ods"):
        source = zipfile.ZipFile(io.BytesIO(data))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for info in source.infolist():
                content = source.read(info)
                if info.filename == "content.xml":
                    content = content[: len(content) // 2]
                archive.writestr(info, content)
        data = buffer.getvalue()
    else:
        data = data[: len(data) // 2]
    assert _code(name, data)[0] == "corrupt"


def test_an_xls_whose_cell_says_worddocument_is_still_read() -> None:
    data = (FIXTURES / "roadmap_001.xls").read_bytes()
    assert b"W\x00o\x00r\x00d\x00D" not in data
    # Tail padding after the last sector: in no directory entry, like text inside a stream.
    noisy = data + b"\x00" * 5 + "WordDocument\0".encode("utf-16-le")
    assert len(parse_roadmap(noisy, "roadmap.xls").items) == 27


def test_password_protected_ods_is_encrypted() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest><manifest:file-entry manifest:full-path="content.xml">'
            "<manifest:encryption-data/></manifest:file-entry></manifest:manifest>",
        )
        archive.writestr("content.xml", b"\x8f\x03random bytes")
    assert _code("locked.ods", buffer.getvalue()) == ("encrypted", {})
