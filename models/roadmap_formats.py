"""Roadmap tables from Word (.docx), LibreOffice (.ods) and old Excel (.xls) files.

Each reader turns its file into what the XLSX import reads: numbered rows of cell texts and
the merged ranges over them, so headers, sections, merged titles and continuations are found
by the same code (models/roadmap_import.py) whatever the file was.
"""

import io
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any
from xml.etree import ElementTree

from models.roadmap_import import (
    _HEADER_SCAN_ROWS,
    Cells,
    ImportErrorCode,
    Merge,
    RoadmapImportError,
    _Candidate,
    _cell_text,
    _find_header,
    _limited,
    _scan,
)

# Paragraphs above the table that are kept as its title; earlier ones are a letterhead.
_TITLE_PARAGRAPHS = 10
_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


# --- Word -----------------------------------------------------------------------------------


class _Grid:
    """Rows of a Word document's roadmap table(s), numbered as one sheet, with their merges."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows: list[list[str | None]] = []
        self.merges: list[Merge] = []

    def add(self, cells: list[str | None]) -> int:
        if len(self.rows) >= self.max_rows:
            raise RoadmapImportError(ImportErrorCode.TOO_LARGE, max_rows=self.max_rows)
        self.rows.append(cells)
        return len(self.rows)

    def add_table(self, table: list[list[tuple[str | None, int, str | None]]]) -> None:
        """Rows of (text, columns spanned, vMerge) as Word stores them."""
        tall: dict[int, tuple[int, int, int]] = {}  # column → (first row, span, last row)

        def close(column: int) -> None:
            first, span, last = tall.pop(column)
            if last > first or span > 1:
                self.merges.append((column + 1, first, column + span, last))

        for cells in table:
            texts: list[str | None] = []
            number = len(self.rows) + 1
            for text, span, merge in cells:
                column = len(texts)
                if merge == "continue" and column in tall:
                    first, width, _ = tall[column]
                    tall[column] = (first, width, number)
                    texts.extend([None] * span)
                    continue
                if column in tall:
                    close(column)
                texts.extend([text] + [None] * (span - 1))
                if merge is not None or span > 1:
                    tall[column] = (number, span, number)
            for column in [column for column in tall if column >= len(texts)]:
                close(column)
            self.add(texts)
        for column in list(tall):
            close(column)


def _word_table(table: Any) -> list[list[tuple[str | None, int, str | None]]]:
    """A table's rows as (text, columns spanned, vMerge) per cell, in grid order.

    python-docx's public `row.cells` repeats a merged cell wherever it spans, which hides where
    one мероприятие covers several rows; its oxml layer (`tr_lst`, `tc_lst`, `grid_span`,
    `vMerge`, `grid_before`) says so. tests/test_library_shapes.py watches these names.
    """
    from docx.table import _Cell

    rows = []
    for tr in table._tbl.tr_lst:
        cells: list[tuple[str | None, int, str | None]] = [(None, 1, None)] * tr.grid_before
        for tc in tr.tc_lst:
            text = "\n".join(paragraph.text for paragraph in _Cell(tc, table).paragraphs)
            cells.append((_cell_text(text), max(tc.grid_span, 1), tc.vMerge))
        rows.append(cells)
    return rows


def _has_header(rows: Sequence[Sequence[tuple[str | None, int, str | None]]]) -> bool:
    for cells in rows[:_HEADER_SCAN_ROWS]:
        texts: Cells = []
        for text, span, _ in cells:
            texts.extend([text] + [None] * (span - 1))
        if _find_header(0, texts) is not None:
            return True
    return False


def _width(rows: Sequence[Sequence[tuple[str | None, int, str | None]]]) -> int:
    return max((sum(span for _, span, _ in cells) for cells in rows), default=0)


def docx_sheets(data: bytes, max_rows: int) -> Iterator[_Candidate]:
    """The roadmap table of a Word document as one sheet.

    The table is the first one with a header row; the paragraphs right above it are its title
    (a table above it, such as a «СОГЛАСОВАНО / УТВЕРЖДАЮ» block, is not); tables after it as
    wide as it, or starting with its header again, continue it (Word users start a new table
    after a page break). Paragraphs between and after the tables are signatures and notes.
    """
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        blocks = list(Document(io.BytesIO(data)).iter_inner_content())
        tables = {id(block): _word_table(block) for block in blocks if isinstance(block, Table)}
    except RoadmapImportError:
        raise
    except Exception as exc:  # python-docx reports a damaged package in many exception types
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
    grid = _Grid(max_rows)
    above: list[str] = []
    width = 0
    has_content = False
    for block in blocks:
        if isinstance(block, Paragraph):
            text = _cell_text(block.text)
            has_content = has_content or text is not None
            if not width and text:
                above.append(text)
            continue
        rows = tables[id(block)]
        has_content = has_content or any(text for cells in rows for text, _, _ in cells)
        if not width:
            if not _has_header(rows):
                above = []  # a layout table: what was above it is no title
                continue
            width = _width(rows)
            for line in above[-_TITLE_PARAGRAPHS:]:
                grid.add([line])
        elif _width(rows) != width and not _has_header(rows[:2]):
            break
        grid.add_table(rows)
    if not width:
        # Text but no table with a roadmap header: «no header» tells the school what to fix.
        if has_content:
            raise RoadmapImportError(ImportErrorCode.NO_HEADER, table=bool(tables))
        raise RoadmapImportError(ImportErrorCode.EMPTY)
    sheet = _scan(None, _limited(iter(grid.rows), max_rows))
    yield sheet, partial(list, grid.merges)


# --- LibreOffice and old Excel ----------------------------------------------------------------


def calamine_sheets(data: bytes, kind: str, max_rows: int) -> Iterator[_Candidate]:
    """Sheets of an .ods or .xls workbook, read by python-calamine."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError as exc:
        raise RoadmapImportError(ImportErrorCode.ENCRYPTED) from exc
    except Exception as exc:  # CalamineError, or a panic surfaced as another exception
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
    with workbook:
        for name in workbook.sheet_names:
            try:
                sheet = workbook.get_sheet_by_name(name)
                # Absolute positions: merged ranges and row numbers count from A1.
                values = sheet.to_python(skip_empty_area=False, nrows=max_rows + 1)
                ranges = sheet.merged_cell_ranges
            except PasswordError as exc:
                raise RoadmapImportError(ImportErrorCode.ENCRYPTED) from exc
            except CalamineError as exc:
                raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
            if ranges is None:
                # calamine gives merged ranges for .xls (and .xlsx) only, None for .ods.
                merges = _ods_merges(data, name) if kind == "ods" else []
            else:
                merges = [(c0 + 1, r0 + 1, c1 + 1, r1 + 1) for (r0, c0), (r1, c1) in ranges]
            rows: Iterator[Sequence[Any]] = iter(values)
            yield _scan(name, _limited(rows, max_rows)), partial(list, merges)


def _ods_merges(data: bytes, sheet_name: str) -> list[Merge]:
    """Merged ranges of one sheet of an .ods, from the spans in its content.xml."""
    table_tag = f"{{{_ODS_TABLE}}}table"
    row_tag = f"{{{_ODS_TABLE}}}table-row"
    cell_tags = {f"{{{_ODS_TABLE}}}table-cell", f"{{{_ODS_TABLE}}}covered-table-cell"}
    name_attr = f"{{{_ODS_TABLE}}}name"

    def number(element: ElementTree.Element, attribute: str) -> int:
        try:
            return max(int(element.get(f"{{{_ODS_TABLE}}}{attribute}") or 1), 1)
        except ValueError:
            return 1

    merges: list[Merge] = []
    inside = False
    depth = 0  # tables nested in a cell are not the sheet's rows
    row = column = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("content.xml") as source:
            for event, element in ElementTree.iterparse(source, events=("start", "end")):
                tag = element.tag
                if tag == table_tag:
                    if event == "start":
                        depth += 1
                        inside = depth == 1 and element.get(name_attr) == sheet_name
                        if inside:
                            row = 0
                    else:
                        depth -= 1
                        if inside and depth == 0:
                            return merges
                    continue
                if not inside or depth != 1:
                    continue
                if tag == row_tag:
                    if event == "start":
                        column = 0
                    else:
                        row += number(element, "number-rows-repeated")
                        element.clear()
                elif tag in cell_tags and event == "start":
                    columns = number(element, "number-columns-spanned")
                    rows = number(element, "number-rows-spanned")
                    if columns > 1 or rows > 1:
                        merges.append((column + 1, row + 1, column + columns, row + rows))
                    column += number(element, "number-columns-repeated")
    except (KeyError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, zlib.error, OSError):
        return merges
    return merges
