"""The .docx writer and the templates: A4, named fonts, repeated headers, page numbers, inert
and well-formed user text, links only where safe; templates checked when loaded."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

import pytest

from exports.documents import docx as writer_module
from exports.documents.docx import Bold, Column, DocxWriter, Link, png_size, xml_text
from exports.documents.templates import (
    TEMPLATES,
    TemplateError,
    _block,
    check_placeholders,
    docx_parts,
    fill,
    render,
    template,
    vocabulary,
)
from tests.docx_reader import W, read

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 10, 9, tzinfo=UTC)
FOOTER = "Страница {page} из {pages}"


def _docx(writer: DocxWriter) -> bytes:
    return writer.to_bytes(created=NOW, footer=FOOTER)


def test_a4_fonts_footer_and_core_properties() -> None:
    for landscape, size in ((False, ("11906", "16838")), (True, ("16838", "11906"))):
        writer = DocxWriter(title="Отчёт <школы>", landscape=landscape)
        writer.paragraph("Текст")
        doc = read(_docx(writer))
        page = doc.xml("word/document.xml").find(f".//{W}sectPr/{W}pgSz")
        assert page is not None
        assert (page.get(f"{W}w"), page.get(f"{W}h")) == size
        assert (page.get(f"{W}orient") == "landscape") is landscape
    styles = doc.parts["word/styles.xml"].decode()
    assert 'w:ascii="Times New Roman"' in styles and 'w:val="24"' in styles  # 12 pt tables
    assert '<w:sz w:val="28"/>' in styles  # 14 pt body
    assert "Liberation Serif" in doc.parts["word/fontTable.xml"].decode()
    footer = doc.parts["word/footer1.xml"].decode()
    assert 'w:instr=" PAGE "' in footer and 'w:instr=" NUMPAGES "' in footer
    assert "Страница " in footer and " из " in footer
    assert "<dc:title>Отчёт &lt;школы&gt;</dc:title>" in doc.parts["docProps/core.xml"].decode()
    assert "2026-12-10T09:00:00Z" in doc.parts["docProps/core.xml"].decode()


def test_user_text_is_shown_as_typed_and_links_only_when_safe() -> None:
    typed = [
        "=1+2",
        "+7 (900) 000-00-00",
        "-минус",
        "@cmd|' /C calc'!A0",
        '<w:t>"инъекция"</w:t> & {placeholder}',
        "управляющий\x01 символ\x0b и \ud800",
    ]
    writer = DocxWriter(title="t")
    for text in typed:
        writer.paragraph(text)
    writer.table(
        [Column("Ссылка", 1)],
        [
            [[[Link("https://school.ru/a?b=1&c=«2»")]]],
            [[[Link("javascript:alert(1)")]]],
            [[[Link('https://x.ru/"><script>')]]],
            [[[Link("https://x.ru/" + "a" * 3000)]]],
            [[[Bold("жирный"), " текст"]]],
        ],
    )
    data = _docx(writer)
    doc = read(data)  # parses every part
    assert [text for _style, text in doc.paragraphs[: len(typed)]] == [
        "=1+2",
        "+7 (900) 000-00-00",
        "-минус",
        "@cmd|' /C calc'!A0",
        '<w:t>"инъекция"</w:t> & {placeholder}',
        "управляющий символ и ",
    ]
    body = doc.parts["word/document.xml"].decode()
    assert "fldSimple" not in body and "instrText" not in body  # no field holds user text
    # Only the plain https address is clickable; the Cyrillic in it is percent-encoded.
    assert doc.clicked() == ["https://school.ru/a?b=1&c=%C2%AB2%C2%BB"]
    assert [row[0] for row in doc.rows[:4]] == [
        "https://school.ru/a?b=1&c=«2»",
        "javascript:alert(1)",
        'https://x.ru/"><script>',
        "https://x.ru/" + "a" * 3000,
    ]
    assert xml_text("a<b>&c\t\r\n") == "a&lt;b&gt;&amp;c \n"


def test_tables_repeat_their_header_and_continue_in_chunks(monkeypatch) -> None:
    monkeypatch.setattr(writer_module, "TABLE_ROWS", 3)
    writer = DocxWriter(title="t", landscape=True)
    columns = [Column("№", 1), Column("Текст", 4)]
    rows = [[f"{n}.", f"строка {n}"] for n in range(1, 8)]
    assert writer.table(columns, ["Группа", *rows]) == 8
    doc = read(_docx(writer))
    assert len(doc.tables) == 3  # 8 rows in tables of 3
    assert all(table.header == ["№", "Текст"] and table.repeated_header for table in doc.tables)
    assert doc.rows[0] == ["Группа"]  # a group row spans the columns
    assert [row[0] for row in doc.rows[1:]] == [f"{n}." for n in range(1, 8)]
    grid = doc.xml("word/document.xml").find(f".//{W}tblGrid")
    assert grid is not None
    widths = [int(col.get(f"{W}w", "0")) for col in grid]
    assert widths[1] == pytest.approx(4 * widths[0], abs=2)
    assert sum(widths) == pytest.approx(writer.text_width, abs=2)
    with pytest.raises(ValueError):
        writer.table(columns, [["один"]])


def test_short_rows_keep_together_and_long_ones_may_break() -> None:
    writer = DocxWriter(title="t")
    writer.table(
        [Column("№", 1), Column("Текст", 4)],
        [["1.", "коротко"], ["2.", ["абзац " * 40] * 12]],
    )
    rows = read(_docx(writer)).xml("word/document.xml").findall(f".//{W}tbl/{W}tr")
    kept = [row.find(f"{W}trPr/{W}cantSplit") is not None for row in rows]
    assert kept == [True, True, False]  # the header, the short row; the long one may break


def test_picture_fits_the_page() -> None:
    png = _png(300, 2000)  # tall
    writer = DocxWriter(title="t")
    writer.picture(png, description='Диаграмма "<1>" & всё')
    doc = read(_docx(writer))
    described = doc.xml("word/document.xml").find(
        ".//{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr"
    )
    assert described is not None and described.get("descr") == 'Диаграмма "<1>" & всё'
    assert doc.pictures() == ["word/media/rId5.png"]
    extent = doc.xml("word/document.xml").find(
        ".//{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}extent"
    )
    assert extent is not None
    cx, cy = int(extent.get("cx", "0")), int(extent.get("cy", "0"))
    assert cx / cy == pytest.approx(300 / 2000, rel=0.01)
    assert cy <= (16838 - 2 * 1134) * 635
    assert png_size(png) == (300, 2000)
    with pytest.raises(ValueError):
        png_size(b"GIF89a")


def _png(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_every_template_loads_and_its_xml_parts_are_well_formed() -> None:
    names = sorted(path.stem for path in TEMPLATES.glob("*.toml"))
    assert names == [
        "activities",
        "docx_parts",
        "municipal",
        "note",
        "school_report",
        "vocabulary",
    ]
    for name in ("activities", "municipal", "note", "school_report"):
        spec = template(name)
        assert spec["name"] and spec["blocks"], name
    assert vocabulary()["mark_rule"][-1] == {"mark": "not_done"}  # the default comes last
    for key in ("styles", "settings", "font_table", "content_types", "package_rels"):
        ElementTree.fromstring(docx_parts()[key].encode())


def test_templates_are_checked_when_loaded() -> None:
    for bad in ("{school.__class__}", "{schools[0]}", "{count:>99}", "{count!r}", "{"):
        with pytest.raises(TemplateError):
            check_placeholders(bad, "test")
    with pytest.raises(TemplateError, match="unknown style"):
        _block({"style": "marquee", "text": "x"}, "test")
    with pytest.raises(TemplateError, match="unknown keys"):
        _block({"txt": "x"}, "test")
    with pytest.raises(TemplateError, match="names its table"):
        _block({"style": "table"}, "test")
    with pytest.raises(TemplateError, match="no fact"):
        fill("{missing}", {})


def test_blocks_render_by_when_unless_and_each() -> None:
    blocks = [
        _block({"text": "Есть: {n}.", "when": "n"}, "t"),
        _block({"text": "Нет.", "unless": "n"}, "t"),
        _block({"style": "bullet", "text": "{name} — {n}", "each": "items"}, "t"),
        _block({"text": "Оба.", "when": ["n", "items"]}, "t"),
    ]
    facts = {"n": 2, "items": [{"name": "а", "n": 1}, {"name": "б", "n": 3}]}
    assert [(b.style, b.text) for b in render(blocks, facts)] == [
        ("body", "Есть: 2."),
        ("bullet", "а — 1"),
        ("bullet", "б — 3"),
        ("body", "Оба."),
    ]
    assert [b.text for b in render(blocks, {"n": 0, "items": []})] == ["Нет."]


def test_the_documents_do_not_bring_lxml_so_the_xlsx_export_keeps_its_writer() -> None:
    """python-docx would need lxml, and with lxml importable openpyxl leaves et_xmlfile (the
    export's measured patches, README «Library patches»). The documents use the stdlib only."""
    code = (
        "import sys, exports.documents.build, exports.documents.cli, handlers.documents\n"
        "import openpyxl.xml\n"
        "assert 'lxml' not in sys.modules, 'lxml imported'\n"
        "assert not openpyxl.xml.LXML, 'openpyxl writes through lxml'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_the_package_is_a_zip_word_opens() -> None:
    writer = DocxWriter(title="t")
    writer.paragraph("x")
    with zipfile.ZipFile(BytesIO(_docx(writer))) as archive:
        names = archive.namelist()
        assert names[0] == "[Content_Types].xml"
        assert archive.testzip() is None
    assert {"_rels/.rels", "word/document.xml", "word/_rels/document.xml.rels"} <= set(names)
