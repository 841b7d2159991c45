"""The streaming sheet writer behind the export: openpyxl's write-only sheets, made lean.

Most cells are plain values in the workbook's default (wrapped, top-aligned) format, and rows
are serialised by ``SheetWriter`` rather than element by element; bench/export.py compares the
result with raw openpyxl appends and with pandas. A sheet keeps its hyperlinks (at most
``MAX_HYPERLINKS_PER_SHEET``) as compact pairs. Every string that comes from users or imported
documents goes through ``safe_text`` and is quote-prefixed where it starts like a formula; only
the caller's own fixed labels are written as they are.

This module reaches into openpyxl's write-only internals on purpose (README, «Library
patches»); tests/test_library_shapes.py fails when openpyxl changes shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from copy import copy
from datetime import date, datetime
from typing import Any, Final, NamedTuple, cast, overload
from xml.sax.saxutils import escape, quoteattr

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell._writer import _set_attributes, etree_write_cell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.compat import safe_string
from openpyxl.packaging.relationship import RelationshipList
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.xml.constants import REL_NS
from openpyxl.xml.functions import Element

from exports.xlsx_layout import (
    BODY_FONT,
    DATE_STYLE,
    HEADER_STYLE,
    LINK_STYLE,
    TITLE_STYLE,
    WRAP,
    Column,
    header_layout,
    named_styles,
    row_height,
    set_up_printing,
    text_lines,
)

# Excel's limit of hyperlinks per sheet as XlsxWriter enforces it; past it links stay plain
# text. Read at call time, so tests can lower it.
MAX_HYPERLINKS_PER_SHEET = 65_530
MAX_CELL_CHARS: Final = 32_767
PROGRESS_EVERY: Final = 1_000

# OWASP's list of characters that make a spreadsheet treat a cell as a formula or DDE call.
_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")

# Most cells carry no style at all: the workbook's default cell format (the one a cell without
# an `s` attribute gets) is made top-aligned, wrapped and in the body font, and only titles,
# headers, dates, links and formula-like texts are styled. A styled cell costs openpyxl about
# twice a plain value (bench/export.py).
_TITLE_ROW: Final = 1
_HEADER_ROW: Final = 2


def new_workbook() -> tuple[Workbook, StyleArray]:
    """A write-only workbook whose default cell format is top-aligned, wrapped and in the body
    font, and the style array of a quote-prefixed text cell."""
    workbook = Workbook(write_only=True)
    # openpyxl writes a cell whose style array is all zeros without an `s` attribute, so Excel
    # and LibreOffice give it the first cell format; that format gets the alignment and font.
    default = StyleArray()
    default.alignmentId = workbook._alignments.add(WRAP)
    default.fontId = workbook._fonts.add(BODY_FONT)
    workbook._cell_styles = IndexedList([default])
    for style in named_styles():
        workbook.add_named_style(style)
    # Text that starts like a formula is stored as a string with the cell's «quote prefix» set:
    # shown as typed, and still text when someone edits the cell (Excel, LibreOffice).
    quoted = copy(default)
    quoted.quotePrefix = 1
    return workbook, quoted


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would take ``text``, typed into a cell, for a formula or DDE call."""
    # Leading spaces do not stop Excel or LibreOffice from evaluating « =1» once it is edited.
    return text.startswith(_FORMULA_TRIGGERS) or text.lstrip().startswith(_FORMULA_TRIGGERS)


class Link(NamedTuple):
    """A web address for a cell of its own, made a hyperlink while the sheet has room."""

    url: str


@overload
def safe_text(value: str) -> str: ...
@overload
def safe_text(value: None) -> None: ...
def safe_text(value: str | None) -> str | None:
    """User text fit for a cell: valid XML, within Excel's limit. The cell it goes into decides
    whether it needs the quote prefix (``formula_like``)."""
    if value is None:
        return None
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


class Progress:
    """Counts data rows across sheets and reports them every ``PROGRESS_EVERY`` rows."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self.rows = 0
        self._callback = callback

    def tick(self) -> None:
        self.rows += 1
        if self._callback is not None and self.rows % PROGRESS_EVERY == 0:
            self._callback(self.rows)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.rows)


class Sheet:
    """A write-only sheet: a title row, a bold frozen header, widths, autofilter, print setup,
    rows as tall as their wrapped text, and inert text cells. ``labels`` are the caller's own
    fixed texts (never user text, never a formula): written as they are, unchecked."""

    def __init__(
        self,
        workbook: Workbook,
        quoted: StyleArray,
        title: str,
        columns: Sequence[Column],
        progress: Progress,
        *,
        heading: str,
        period: str,
        title_columns: int = 1,
        labels: frozenset[str] = frozenset(),
    ) -> None:
        self._ws: WriteOnlyWorksheet = workbook.create_sheet(title)
        self._columns = columns
        self._progress = progress
        self._labels = labels
        self.rows = 0
        self.hyperlinks = 0
        # A named style set by name is looked up and rebuilt for every cell (a fifth of the
        # export's time, bench/export.py); the arrays it leaves on a cell are copied instead.
        self._date_style = _style_array(self._ws, DATE_STYLE)
        self._link_style = _style_array(self._ws, LINK_STYLE)
        self._quoted = quoted
        self._date_cells: dict[int, Cell] = {}
        # A write-only sheet emits its views and column widths with the first row.
        widths, header_height = header_layout(columns)
        self._widths = widths
        for index, width in enumerate(widths, 1):
            self._ws.column_dimensions[get_column_letter(index)].width = width
        self._ws.row_dimensions[_TITLE_ROW].height = 24
        self._ws.row_dimensions[_HEADER_ROW].height = header_height
        self._ws.freeze_panes = f"A{_HEADER_ROW + 1}"
        set_up_printing(
            self._ws, period=period, title_columns=title_columns, header_row=_HEADER_ROW
        )
        # What WriteOnlyWorksheet does on its first row, with a writer that streams the links.
        self._writer = SheetWriter(self._ws)
        self._ws._writer = self._writer
        self._writer.write_top()
        title_cell = WriteOnlyCell(self._ws, safe_text(heading))
        title_cell.style = TITLE_STYLE
        self._ws.append([title_cell])
        header = []
        for column in columns:
            cell = WriteOnlyCell(self._ws, column.title)
            cell.style = HEADER_STYLE
            header.append(cell)
        self._ws.append(header)

    def append(self, values: Sequence[Any]) -> None:
        if len(values) != len(self._columns):
            raise ValueError(f"{len(values)} values for {len(self._columns)} columns")
        lines = 1
        widths = self._widths
        cells = []
        for index, value in enumerate(values):
            # openpyxl writes the row before append() returns, so a column's cell is reused.
            cell = self._cell(value, index)
            cells.append(cell)
            text = value if isinstance(value, str) else None
            if isinstance(value, Link):
                text = value.url
            if text is not None and len(text) > widths[index] - 1:
                lines = max(lines, text_lines(text, widths[index]))
        # LibreOffice takes a row's height from the file and does not grow it on load.
        self._writer.row_height = row_height(lines)
        self._ws.append(cells)
        self.rows += 1
        self._progress.tick()

    def close(self) -> None:
        # The autofilter is written after the rows, so the final count can still go in.
        last = get_column_letter(len(self._columns))
        self._ws.auto_filter.ref = f"A{_HEADER_ROW}:{last}{self.rows + _HEADER_ROW}"

    def _cell(self, value: Any, column: int) -> Any:
        """A plain value where openpyxl reads it right (most cells), else a styled cell."""
        if isinstance(value, str):
            if value in self._labels:
                return value
            text = safe_text(value)
            quote = formula_like(text)
            if not quote and text not in ERROR_CODES:
                return text  # openpyxl stores it as a string
            # Shown as typed and never evaluated: a string cell, quote-prefixed where it starts
            # like a formula; «#N/A» typed by a user stays text, not an error value.
            cell = WriteOnlyCell(self._ws, text)
            cell.data_type = "s"
            if quote:
                cell._style = copy(self._quoted)
            return cell
        if isinstance(value, Link):
            cell = WriteOnlyCell(self._ws, safe_text(value.url))
            cell.data_type = "s"
            if self.hyperlinks < MAX_HYPERLINKS_PER_SHEET:
                cell.hyperlink = value.url
                cell._style = copy(self._link_style)
                self.hyperlinks += 1
            return cell
        if isinstance(value, datetime):
            raise TypeError("convert datetimes to local dates before writing them")
        if isinstance(value, date):
            date_cell = self._date_cells.get(column)
            if date_cell is None:
                date_cell = self._date_cells[column] = WriteOnlyCell(self._ws)
                # What `cell.style = ...` leaves on the cell (a StyleArray), without the lookup.
                date_cell._style = copy(self._date_style)
            date_cell.value = value
            return date_cell
        return value


def _style_array(ws: WriteOnlyWorksheet, name: str) -> Any:
    probe = WriteOnlyCell(ws)
    probe.style = name
    return probe._style


class _CompactLinks:
    """A sheet's hyperlinks as openpyxl collects them while rows are written, kept as
    (cell, address) pairs: a Hyperlink object apiece came to ~1 KB, 65 MB at Excel's limit."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def append(self, link: Hyperlink) -> None:
        # Only cells given a web address get a hyperlink here, so there is always a target.
        self.pairs.append((link.ref, cast(str, link.target)))

    def __len__(self) -> int:
        return len(self.pairs)


class _SheetRelationships(RelationshipList):
    """The sheet's relationships with its hyperlinks' addresses kept as strings.

    Hyperlinks take the ids rId1…rIdN; anything openpyxl appends later numbers on from there.
    Relationship objects exist only while the part is serialised.
    """

    def __init__(self) -> None:
        super().__init__()
        self.link_targets: list[str] = []

    def __len__(self) -> int:
        return len(self.link_targets) + super().__len__()

    def to_tree(self) -> Any:
        tree = super().to_tree()
        # Elements made directly, with the constant strings shared: no Relationship object and
        # no copy of the type URL per link.
        for number, target in enumerate(self.link_targets, 1):
            tree.append(
                Element(
                    "Relationship",
                    {
                        "Type": _HYPERLINK_REL_TYPE,
                        "Target": target,
                        "TargetMode": "External",
                        "Id": f"rId{number}",
                    },
                )
            )
        return tree


_HYPERLINK_REL_TYPE: Final = f"{REL_NS}/hyperlink"


class SheetWriter(WorksheetWriter):
    """openpyxl's sheet writer with two parts of its work done leaner.

    * Rows: openpyxl builds an ElementTree element per cell and serialises it with et_xmlfile —
      half of the export's time (bench/export.py). Here openpyxl still decides each cell's
      attributes and value (``_set_attributes``: coordinate, style, type, dates as numbers,
      hyperlinks) and the markup is written as text. With lxml installed openpyxl writes through
      lxml instead, and then its own path is used.
    * Hyperlinks: kept as (cell, address) pairs and streamed a link at a time.
    * Row heights: ``row_height``, set before each data row, is written on that row without a
      ``RowDimension`` kept per row for the rest of the sheet.
    """

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        super().__init__(ws)
        self.ws._hyperlinks = _CompactLinks()
        self._rels = _SheetRelationships()
        self.row_height: float | None = None

    def write_row(self, xf: Any, row: Iterable[Cell | MergedCell], row_idx: int) -> None:
        height, self.row_height = self.row_height, None
        dimensions = self.ws.row_dimensions
        write = getattr(xf, "_file", None)  # et_xmlfile's writer: its output function
        if not callable(write):
            if height is not None and row_idx not in dimensions:
                dimensions[row_idx].height = height
                super().write_row(xf, row, row_idx)
                del dimensions[row_idx]
            else:
                super().write_row(xf, row, row_idx)
            return
        if row_idx in dimensions:  # the title's and the header's heights
            attributes = {"r": str(row_idx), **dict(dimensions[row_idx])}
            write("<row" + "".join(f" {k}={quoteattr(v)}" for k, v in attributes.items()) + ">")
        elif height is not None:
            write(f'<row r="{row_idx}" ht="{height}" customHeight="1">')
        else:
            write(f'<row r="{row_idx}">')
        for cell in row:
            styled = cell.has_style
            if cell._value is None and not styled:
                continue
            if (
                cell.data_type == "f"
                or cell._comment is not None
                or not isinstance(cell._value, str | int | float | date | None)
            ):
                etree_write_cell(xf, self.ws, cell, styled)  # openpyxl's own way
                continue
            value, attrs = _set_attributes(cell, styled)
            # r, then s and t when present: a coordinate, a number and a type code.
            head = "<c" + "".join([f' {k}="{v}"' for k, v in attrs.items()])
            if not styled:
                # Excel gives a cell without `s` the first cell format; LibreOffice gives it its
                # own default style (not wrapped, another font), so the index is written.
                head += ' s="0"'
            if value is None or value == "":
                write(head + "/>")
            elif cell.data_type == "s":
                space = ' xml:space="preserve"' if value != value.strip() else ""
                write(f"{head}><is><t{space}>{escape(value)}</t></is></c>")
            else:
                write(f"{head}><v>{escape(safe_string(value))}</v></c>")
        write("</row>")

    def write_hyperlinks(self) -> None:
        links: _CompactLinks = self.ws._hyperlinks
        if not links:
            return
        xf = self.xf.send(True)
        with xf.element("hyperlinks"):
            for ref, target in links.pairs:
                self._rels.link_targets.append(target)
                rel_id = f"rId{len(self._rels.link_targets)}"
                xf.write(Hyperlink(ref=ref, id=rel_id).to_tree())
        self.xf.send(None)
        links.pairs.clear()
