"""Make the roadmap fixtures in other formats from tests/fixtures/roadmap_001.xlsx.

    .venv/bin/pip install python-docx msoffcrypto-tool   # here only, not in the locks
    .venv/bin/python scripts/make_roadmap_fixtures.py
    .venv/bin/pip uninstall -y python-docx lxml msoffcrypto-tool   # see below

python-docx brings lxml, and with lxml installed openpyxl writes through it: the export leaves
its measured path (exports/xlsx_writer.py) and tests/test_export_xlsx.py notices. So the bot reads
Word with the standard library and python-docx is used here only.

Writes into tests/fixtures/:

* roadmap_001.docx — the roadmap laid out as schools keep it in Word: the school's name, an
  approval block in a layout table, title paragraphs, a table whose repeated мероприятие and
  responsible cells are merged vertically, multi-line cells as separate paragraphs (one with
  line breaks), a «1 2 3 4 5» row, an empty row, a page break into a second table that starts
  with the header again, and signatures under it.
* roadmap_001.ods, roadmap_001.xls — the same workbook with the repeated мероприятие cells
  merged vertically, converted by LibreOffice (`soffice`, needed here only).
* roadmap_001_shorter.docx — roadmap_001.docx without its last row (a re-import archives it).
* roadmap_sections.docx — section rows merged across the table's width.
* roadmap_two_tables.docx — a roadmap table, then a narrower table of signatures.
* bad files: roadmap_old.doc (binary Word, by LibreOffice), roadmap_locked.docx (password
  «1234», by msoffcrypto-tool), roadmap_no_table.docx, roadmap_no_header.docx,
  roadmap_damaged.docx (document.xml cut in half).

The files are committed; tests and the bot need neither LibreOffice nor msoffcrypto-tool.
"""

import io
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement
from docx.table import Table
from openpyxl import load_workbook

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SOURCE = FIXTURES / "roadmap_001.xlsx"
# Item 14 is the last row before the page break.
FIRST_TABLE_ITEMS = 14
EMPTY_ROW_AFTER_ITEM = "7"
# Merged vertically (top-left text only) like Word's «Объединить ячейки»: title and responsible.
MERGED_COLUMNS = (1, 4)


def _source() -> tuple[list[str], list[str], list[list[str | None]]]:
    """Title lines, header, data rows of roadmap_001.xlsx as text."""
    sheet = load_workbook(SOURCE).active
    assert sheet is not None
    rows = [
        [None if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    title = str(rows[0][0]).split("\n")
    header = [str(text) for text in rows[1]]
    return title, header, rows[2:]


def _runs(rows: list[list[str | None]], column: int) -> list[tuple[int, int]]:
    """(first, last) indexes of runs of equal non-empty text in a column."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(rows) + 1):
        if index == len(rows) or rows[index][column] != rows[start][column]:
            if index - start > 1 and rows[start][column]:
                runs.append((start, index - 1))
            start = index
    return runs


def _fill(cell: Any, text: str | None, *, line_breaks: bool = False) -> None:
    paragraph = cell.paragraphs[0]
    if not text:
        return
    lines = text.split("\n")
    if line_breaks:
        run = paragraph.add_run(lines[0])
        for line in lines[1:]:
            run.add_break()
            run.add_text(line)
        return
    paragraph.add_run(lines[0])
    for line in lines[1:]:
        cell.add_paragraph(line)


def _repeat_header(table: Table) -> None:
    properties = table.rows[0]._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:tblHeader"))


def _roadmap_table(document: Any, header: list[str], rows: list[list[str | None]]) -> None:
    table = document.add_table(rows=0, cols=len(header))
    table.style = "Table Grid"
    for cells, texts in (
        (table.add_row().cells, header),
        (table.add_row().cells, [str(n) for n in range(1, len(header) + 1)]),
    ):
        for cell, text in zip(cells, texts, strict=True):
            _fill(cell, text)
    _repeat_header(table)
    placed: list[tuple[int, list[Any]]] = []
    for index, row in enumerate(rows):
        cells = table.add_row().cells
        placed.append((index, cells))
        for column, value in enumerate(row):
            _fill(cells[column], value, line_breaks=row[0] == "3" and column == 2)
        if row[0] == EMPTY_ROW_AFTER_ITEM:
            table.add_row()
    by_index = dict(placed)
    for column in MERGED_COLUMNS:
        for first, last in _runs(rows, column):
            for index in range(first + 1, last + 1):
                # Word keeps the text in the top cell only.
                for paragraph in by_index[index][column].paragraphs:
                    paragraph._p.getparent().remove(paragraph._p)
                by_index[index][column]._tc.append(OxmlElement("w:p"))
            by_index[first][column].merge(by_index[last][column])


def _approval_block(document: Any) -> None:
    document.add_paragraph(
        "Муниципальное бюджетное общеобразовательное учреждение «Средняя общеобразовательная "
        "школа №2» Дальнереченского городского округа"
    )
    layout = document.add_table(rows=1, cols=2)
    _fill(
        layout.cell(0, 0),
        "СОГЛАСОВАНО\nНачальник МКУ «Управление образования»\n__________ /Бредня М.В./",
    )
    _fill(
        layout.cell(0, 1),
        "УТВЕРЖДАЮ\nДиректор МБОУ «СОШ №2»\n__________ Акимова Н.А.\nПриказ № 125 от 01.09.2022",
    )
    document.add_paragraph()


def roadmap_docx() -> bytes:
    title, header, rows = _source()
    document = Document()
    _approval_block(document)
    for line in title:
        document.add_paragraph().add_run(line).bold = True
    document.add_paragraph()
    _roadmap_table(document, header, rows[:FIRST_TABLE_ITEMS])
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    _roadmap_table(document, header, rows[FIRST_TABLE_ITEMS:])
    document.add_paragraph()
    document.add_paragraph("Директор МБОУ «СОШ №2» __________ Н.А. Акимова")
    document.add_paragraph("Согласовано на заседании педагогического совета, протокол № 1")
    return _save(document)


def _save(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def shorter_docx(data: bytes) -> bytes:
    document = Document(io.BytesIO(data))
    last = document.tables[-1]
    assert last.rows[-1].cells[0].text == "27"
    last._tbl.remove(last.rows[-1]._tr)
    return _save(document)


HEADER = ["№", "Мероприятие", "Характеристика результата", "Срок проведения", "Ответственные"]


def _plain_table(document: Any, rows: list[list[str]]) -> Any:
    table = document.add_table(rows=0, cols=len(rows[0]))
    for texts in rows:
        for cell, text in zip(table.add_row().cells, texts, strict=True):
            cell.text = text
    return table


def sections_docx() -> bytes:
    document = Document()
    table = _plain_table(
        document,
        [
            HEADER,
            ["Раздел 1. Организационные мероприятия", "", "", "", ""],
            ["1", "Приказ", "Издан приказ", "до 01.10.2022", "Директор"],
            ["Раздел 2. Кадры", "", "", "", ""],
            ["2", "Курсы повышения квалификации", "", "ноябрь 2022", "Завуч"],
        ],
    )
    for index in (1, 3):
        row = table.rows[index]
        row.cells[0].merge(row.cells[4])
    # A title written over the result column: the deadline is still the fourth grid column.
    table.rows[4].cells[1].merge(table.rows[4].cells[2])
    return _save(document)


def two_tables_docx() -> bytes:
    document = Document()
    _plain_table(document, [HEADER, ["1", "Приказ", "Издан", "до 01.10.2022", "Директор"]])
    document.add_paragraph("Ознакомлены:")
    _plain_table(document, [["Иванова М.И.", "подпись"], ["Петров П.П.", "подпись"]])
    return _save(document)


def no_table_docx() -> bytes:
    document = Document()
    document.add_paragraph("ДОРОЖНАЯ КАРТА")
    document.add_paragraph("1. Утверждение школьного координатора — до 04.10.2022 г.")
    document.add_paragraph("2. Формирование перечней академических партнёров — до 30.09.2022 г.")
    return _save(document)


def no_header_docx() -> bytes:
    document = Document()
    document.add_paragraph("Список класса")
    table = document.add_table(rows=0, cols=3)
    for texts in (["Фамилия", "Имя", "Класс"], ["Иванова", "Мария", "10 «а»"]):
        for cell, text in zip(table.add_row().cells, texts, strict=True):
            cell.text = text
    return _save(document)


def damaged_docx(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "word/document.xml":
                content = content[: len(content) // 2]
            archive.writestr(info, content)
    return buffer.getvalue()


def locked_docx(data: bytes) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("1234", out)
    return out.getvalue()


def merged_xlsx(path: Path) -> None:
    """roadmap_001.xlsx with the repeated мероприятие and responsible cells merged vertically."""
    _, _, rows = _source()
    workbook = load_workbook(SOURCE)
    sheet = workbook.active
    assert sheet is not None
    for column in MERGED_COLUMNS:
        for first, last in _runs(rows, column):
            for index in range(first + 1, last + 1):
                sheet.cell(row=index + 3, column=column + 1).value = None
            sheet.merge_cells(
                start_row=first + 3,
                end_row=last + 3,
                start_column=column + 1,
                end_column=column + 1,
            )
    workbook.save(path)


def _convert(source: Path, target: str, workdir: Path) -> Path:
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{workdir / 'profile'}",
            "--convert-to",
            target,
            "--outdir",
            str(workdir / "out"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return workdir / "out" / f"{source.stem}.{target.split(':')[0]}"


def main() -> None:
    docx = roadmap_docx()
    (FIXTURES / "roadmap_001.docx").write_bytes(docx)
    (FIXTURES / "roadmap_001_shorter.docx").write_bytes(shorter_docx(docx))
    (FIXTURES / "roadmap_sections.docx").write_bytes(sections_docx())
    (FIXTURES / "roadmap_two_tables.docx").write_bytes(two_tables_docx())
    (FIXTURES / "roadmap_no_table.docx").write_bytes(no_table_docx())
    (FIXTURES / "roadmap_no_header.docx").write_bytes(no_header_docx())
    (FIXTURES / "roadmap_damaged.docx").write_bytes(damaged_docx(docx))
    (FIXTURES / "roadmap_locked.docx").write_bytes(locked_docx(docx))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        merged = workdir / "roadmap_001.xlsx"
        merged_xlsx(merged)
        shutil.copy(_convert(merged, "ods", workdir), FIXTURES / "roadmap_001.ods")
        shutil.copy(_convert(merged, "xls:MS Excel 97", workdir), FIXTURES / "roadmap_001.xls")
        word = workdir / "roadmap_old.docx"
        word.write_bytes(docx)
        shutil.copy(_convert(word, "doc:MS Word 97", workdir), FIXTURES / "roadmap_old.doc")


if __name__ == "__main__":
    main()
