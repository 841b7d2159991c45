"""Readers of the files schools keep their roadmap in: Excel (.xlsx), CSV, Word (.docx),
LibreOffice (.ods) and old Excel (.xls).

Each turns its file into what models/roadmap_tables.py reads: numbered rows of cell texts and
the merged ranges over them, so headers, sections, merged titles and continuations are found
by the same code whatever the file was. Word's XML is read with the standard library, as the
XLSX merges are (python-docx would bring lxml, which switches openpyxl's writer and with it the
export off its measured path); python-calamine is imported only when an .ods or .xls arrives.
"""

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, cast
from xml.etree import ElementTree

from openpyxl import Workbook, load_workbook
from openpyxl.utils.cell import range_boundaries

from models.roadmap_tables import (
    HEADER_SCAN_ROWS,
    Candidate,
    Cells,
    ImportErrorCode,
    Merge,
    ParsedRoadmap,
    RoadmapImportError,
    cell_text,
    find_header,
    limited,
    pick,
    scan,
)

_CSV_DELIMITERS = (";", ",", "\t")
CSV_SAMPLE = 64 * 1024
# Paragraphs above the table that are kept as its title; earlier ones are a letterhead.
_TITLE_PARAGRAPHS = 10
# calamine hands a sheet over as whole rows: this bounds rows × columns held at once.
_MAX_CELLS = 2_000_000
_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


# --- Excel ---------------------------------------------------------------------------------------


def read_xlsx(
    data: bytes, archive: zipfile.ZipFile, filename: str, max_rows: int
) -> ParsedRoadmap:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl reports a damaged package in many exception types
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
    try:
        return pick(_worksheets(workbook, archive, max_rows), filename)
    finally:
        workbook.close()


def _worksheets(
    workbook: Workbook, archive: zipfile.ZipFile, max_rows: int
) -> Iterator[Candidate]:
    for worksheet in workbook.worksheets:
        worksheet.reset_dimensions()  # a stale <dimension> would cut the table short
        rows = worksheet.iter_rows(min_row=1, min_col=1, values_only=True)
        # openpyxl keeps the part name private; without it merges are guessed from the text.
        path = getattr(worksheet, "_worksheet_path", None)
        yield scan(worksheet.title, limited(rows, max_rows)), partial(_merges, archive, path)


def _merges(archive: zipfile.ZipFile, path: str | None) -> list[Merge]:
    """Merged ranges, which openpyxl does not expose in read-only mode."""
    if not path:
        return []
    merges: list[Merge] = []
    try:
        with archive.open(path.lstrip("/")) as source:
            for _, element in ElementTree.iterparse(source):
                if element.tag.rsplit("}", 1)[-1] == "mergeCell":
                    ref = element.get("ref") or ""
                    if ":" in ref:
                        # A mergeCell ref is a range of cells (A1:B2): all four bounds are set.
                        merges.append(cast(Merge, range_boundaries(ref)))
                element.clear()
    except (KeyError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, zlib.error, OSError):
        return merges
    return merges


# --- CSV -----------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Russian Excel saves «CSV (разделители — точка с запятой)» in Windows-1251.
        return data.decode("cp1251", errors="replace")


def _delimiter(text: str) -> str:
    """The delimiter that splits most rows into the same number of columns."""

    def score(delimiter: str) -> tuple[int, int]:
        try:
            widths = Counter(
                len(row)
                for row in csv.reader(io.StringIO(text[:CSV_SAMPLE]), delimiter=delimiter)
                if len(row) > 1
            )
        except csv.Error:
            return 0, 0
        if not widths:
            return 0, 0
        width, rows = widths.most_common(1)[0]
        return rows, width

    return max(_CSV_DELIMITERS, key=score)


def read_csv(data: bytes, filename: str, max_rows: int) -> ParsedRoadmap:
    text = _decode(data)
    # Excel writes a «sep=;» line when asked to keep the delimiter with the file.
    if declared := re.match(r"sep=(.)\r?\n", text):
        delimiter, text = declared[1], text[declared.end() :]
    else:
        delimiter = _delimiter(text)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    sheet = scan(None, limited(rows, max_rows))
    return pick(iter([(sheet, lambda: [])]), filename)


# --- Word ----------------------------------------------------------------------------------------


# The whole document part is parsed into a tree: a roadmap's is well under 1 MB.
_MAX_DOCUMENT_XML = 64 * 1024 * 1024
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_OFFICE_DOCUMENT = "/officeDocument"
# Containers Word wraps around paragraphs, rows or cells: content controls, custom XML, and
# tracked insertions; what is inside them counts as if they weren't there.
_WRAPPERS = frozenset(
    f"{_W}{tag}" for tag in ("sdt", "sdtContent", "customXml", "ins", "smartTag")
)
_WordCell = tuple[str | None, int, str | None]  # text, columns spanned, vMerge
# Deleted and moved-away text, drawings and text boxes are no part of what a cell says.
_SKIPPED = frozenset(f"{_W}{tag}" for tag in ("del", "moveFrom", "drawing", "pict", "object"))


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

    def add_table(self, table: list[list[_WordCell]]) -> None:
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


def _children(element: ElementTree.Element, tag: str) -> Iterator[ElementTree.Element]:
    """Children with this tag, looking through wrappers."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)


def _blocks(element: ElementTree.Element) -> Iterator[ElementTree.Element]:
    """The paragraphs and tables of a body or a cell, in document order."""
    for child in element:
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag in _WRAPPERS:
            yield from _blocks(child)


def _paragraph_text(element: ElementTree.Element) -> str:
    parts: list[str] = []
    for child in element:
        tag = child.tag
        if tag == f"{_W}t":
            parts.append(child.text or "")
        elif tag == f"{_W}tab":
            parts.append("\t")
        elif tag == f"{_W}cr" or (
            tag == f"{_W}br" and child.get(f"{_W}type", "textWrapping") == "textWrapping"
        ):
            parts.append("\n")
        elif tag not in _SKIPPED:
            parts.append(_paragraph_text(child))
    return "".join(parts)


def _property(element: ElementTree.Element, path: str) -> ElementTree.Element | None:
    return element.find(path.replace("w:", _W))


def _number(element: ElementTree.Element | None) -> int:
    try:
        return max(int(element.get(f"{_W}val") or 1), 1) if element is not None else 1
    except ValueError:
        return 1


def _word_table(table: ElementTree.Element) -> list[list[_WordCell]]:
    """A table's rows as (text, columns spanned, vMerge) per cell, in grid order.

    A merged cell is stored once, with gridSpan (across) or vMerge «restart» and then
    «continue» in the cells below it (down); its text is in the first one only.
    """
    rows = []
    for tr in _children(table, f"{_W}tr"):
        before = _property(tr, "w:trPr/w:gridBefore")
        cells: list[_WordCell] = [(None, 1, None)] * (_number(before) if before is not None else 0)
        for tc in _children(tr, f"{_W}tc"):
            text = "\n".join(
                _paragraph_text(block) for block in _blocks(tc) if block.tag == f"{_W}p"
            )
            span = _number(_property(tc, "w:tcPr/w:gridSpan"))
            merge = _property(tc, "w:tcPr/w:vMerge")
            vmerge = None if merge is None else (merge.get(f"{_W}val") or "continue")
            cells.append((cell_text(text), span, vmerge))
        rows.append(cells)
    return rows


def _main_part(archive: zipfile.ZipFile) -> str:
    """The document part the package's relationships name (word/document.xml as a rule)."""
    try:
        relationships = ElementTree.fromstring(archive.read("_rels/.rels"))
    except (KeyError, ElementTree.ParseError):
        return "word/document.xml"
    for relationship in relationships:
        if (relationship.get("Type") or "").endswith(_OFFICE_DOCUMENT):
            return (relationship.get("Target") or "word/document.xml").lstrip("/")
    return "word/document.xml"


def _has_header(rows: Sequence[Sequence[_WordCell]]) -> bool:
    for cells in rows[:HEADER_SCAN_ROWS]:
        texts: Cells = []
        for text, span, _ in cells:
            texts.extend([text] + [None] * (span - 1))
        if find_header(0, texts) is not None:
            return True
    return False


def _width(rows: Sequence[Sequence[_WordCell]]) -> int:
    return max((sum(span for _, span, _ in cells) for cells in rows), default=0)


def docx_sheets(data: bytes, max_rows: int) -> Iterator[Candidate]:
    """The roadmap table of a Word document as one sheet.

    The table is the first one with a header row; the paragraphs right above it are its title
    (a table above it, such as a «СОГЛАСОВАНО / УТВЕРЖДАЮ» block, is not); tables after it as
    wide as it, or starting with its header again, continue it (Word users start a new table
    after a page break). Paragraphs between and after the tables are signatures and notes.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            part = _main_part(archive)
            if archive.getinfo(part).file_size > _MAX_DOCUMENT_XML:
                raise RoadmapImportError(ImportErrorCode.TOO_LARGE, unpacked=_MAX_DOCUMENT_XML)
            root = ElementTree.fromstring(archive.read(part))
    except (KeyError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, zlib.error) as exc:
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
    body = root.find(f"{_W}body")
    if body is None:
        raise RoadmapImportError(ImportErrorCode.CORRUPT)
    blocks = list(_blocks(body))
    tables = {id(block): _word_table(block) for block in blocks if block.tag == f"{_W}tbl"}
    grid = _Grid(max_rows)
    above: list[str] = []
    width = 0
    has_content = False
    for block in blocks:
        if block.tag == f"{_W}p":
            text = cell_text(_paragraph_text(block))
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
    sheet = scan(None, limited(iter(grid.rows), max_rows))
    yield sheet, partial(list, grid.merges)


# --- LibreOffice and old Excel -------------------------------------------------------------------


def read_docx(data: bytes, filename: str, max_rows: int) -> ParsedRoadmap:
    return pick(docx_sheets(data, max_rows), filename)


def read_calamine(data: bytes, kind: str, filename: str, max_rows: int) -> ParsedRoadmap:
    return pick(calamine_sheets(data, kind, max_rows), filename)


def calamine_sheets(data: bytes, kind: str, max_rows: int) -> Iterator[Candidate]:
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
                end_row, end_column = sheet.end or (0, 0)
                if min(end_row + 1, max_rows + 1) * (end_column + 1) > _MAX_CELLS:
                    # A stray value in column XFD would make every row 16,384 cells wide.
                    raise RoadmapImportError(ImportErrorCode.TOO_LARGE, cells=_MAX_CELLS)
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
            yield scan(name, limited(rows, max_rows)), partial(list, merges)


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
