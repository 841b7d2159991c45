"""The municipal XLSX export: four sheets streamed from the database into a write-only workbook.

Memory stays flat whatever the number of rows: every sheet but «Сводка» (one row per school) is
read through a server-side cursor in batches of ``YIELD_PER`` and handed straight to openpyxl's
write-only sheets, which spill to temporary files. What is kept is one report or roadmap item at
a time and the hyperlinks of a sheet (at most ``MAX_HYPERLINKS_PER_SHEET``, as compact pairs).

Speed: most cells are plain values in the workbook's default (wrapped, top-aligned) format, and
rows are serialised by ``_SheetWriter`` rather than element by element; bench/export.py compares
the result with raw openpyxl appends and with pandas.

Choices a reader of the file may ask about:

* Schools are named by their short name on every sheet, so one autofilter value fits all four.
* «Ссылки на материалы» lists a report's links and files one per line (files as «файл: name»);
  the cell is a hyperlink to the first http(s) link. Other schemes, over-long addresses and links
  past Excel's per-sheet limit stay plain text.
* Every string that comes from users or imported documents goes through ``safe_text``; only our
  own fixed labels (marks, review states, directions, levels) are written as they are.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from copy import copy
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple, cast, overload
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

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
from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exports.schedule import format_period
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
from models.entities import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    Questionnaire,
    RoadmapItem,
    School,
    User,
)
from models.enums import DIRECTION_NAMES, EvidenceKind, Mark, ReviewState, RunStatus
from models.stats import (
    SchoolFigures,
    Schools,
    report_direction,
    school_figures,
    school_filter,
)

# Excel's limits as XlsxWriter enforces them: hyperlinks per sheet and characters in a link
# address; past them links stay plain text. Read at call time, so tests can lower the first.
MAX_HYPERLINKS_PER_SHEET = 65_530
MAX_URL_CHARS: Final = 2_079
MAX_CELL_CHARS: Final = 32_767
YIELD_PER: Final = 1_000
PROGRESS_EVERY: Final = 1_000

LEVEL_TITLES: Final[Mapping[str, str]] = {
    "below_basic": "ниже базового",
    "basic": "базовый",
    "medium": "средний",
    "high": "высокий",
    "low": "низкий",  # the lowest level of the 500+ risk profile
}
MARK_TITLES: Final[Mapping[Mark, str]] = {
    Mark.DONE: "+",
    Mark.PARTIAL: "Частично",
    Mark.NOT_DONE: "−",
}
REVIEW_TITLES: Final[Mapping[ReviewState, str]] = {
    ReviewState.SUBMITTED: "на проверке",
    ReviewState.CONFIRMED: "подтверждено",
    ReviewState.RETURNED: "на доработку",
}
YES: Final = "да"
NO: Final = "нет"
TOTAL: Final = "Итого"
ESTIMATE_SUFFIX: Final = "(оценка бота)"
FILE_PREFIX: Final = "файл: "
FILE_KIND_TITLES: Final[Mapping[EvidenceKind, str]] = {
    EvidenceKind.PHOTO: "фото",
    EvidenceKind.DOCUMENT: "документ",
    EvidenceKind.LINK: "ссылка",
}

# Our own vocabulary: none of it is user text and none of it can be a formula («+» alone is a
# plain string to openpyxl and Excel), so it is written without the neutralising quote.
_LABELS: Final[frozenset[str]] = frozenset(
    [
        *DIRECTION_NAMES.values(),
        *LEVEL_TITLES.values(),
        *MARK_TITLES.values(),
        *REVIEW_TITLES.values(),
        YES,
        NO,
        TOTAL,
    ]
)
# OWASP's list of characters that make a spreadsheet treat a cell as a formula or DDE call.
_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
_CLICKABLE_URL: Final = re.compile(r"https?://[^\s\"<>]+", re.IGNORECASE)

# Most cells carry no style at all: the workbook's default cell format (the one a cell without
# an `s` attribute gets) is made top-aligned, wrapped and in the body font, and only titles,
# headers, dates, links and formula-like texts are styled. A styled cell costs openpyxl about
# twice a plain value (bench/export.py).
_TITLE_ROW: Final = 1
_HEADER_ROW: Final = 2
_TITLE_SCHOOLS: Final = 5  # schools named in a sheet's title; the rest are counted


def _new_workbook() -> tuple[Workbook, StyleArray]:
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


def scope_title(names: Sequence[str]) -> str:
    """Which schools an export covers, for its titles: a few names, the rest counted."""
    shown = ", ".join(safe_text(name) for name in names[:_TITLE_SCHOOLS])
    more = len(names) - _TITLE_SCHOOLS
    tail = f" и ещё {more}" if more > 0 else ""
    return f"Школы ({len(names)}): {shown}{tail}" if names else "Школы: нет"


@dataclass(frozen=True)
class ExportSummary:
    """What was written: data rows per sheet, and the links of «Мероприятия»."""

    schools: int
    reports: int
    items: int
    diagnostics: int
    links: int
    hyperlinks: int
    files: int


_Column = Column


class _Link(NamedTuple):
    """A web address for a cell of its own, made a hyperlink while the sheet has room."""

    url: str


SUMMARY_COLUMNS: Final = (
    _Column("Школа", 20),
    _Column("Отчётов за период", 11),
    _Column("Всего отчётов", 10),
    _Column("Выполнено", 11),
    _Column("Частично", 10),
    _Column("Не выполнено", 11),
    _Column("Мероприятий в дорожной карте", 14),
    _Column("С отчётом", 10),
    _Column("Просрочено", 11),
    _Column("Ожидают проверки", 11),
    _Column("На доработке", 11),
    _Column("Последняя активность", 13),
    _Column("Уровень самодиагностики", 15),
)
REPORT_COLUMNS: Final = (
    _Column("№", 7),
    _Column("Школа", 14),
    _Column("Направление", 13),
    _Column("Дата", 11),
    _Column("Форма и тема мероприятия", 32),
    _Column("Организатор", 18),
    _Column("Отметка о выполнении", 12),
    _Column("Проведённые мероприятия", 48),
    _Column("Количество и категория участников", 18),
    _Column("Ссылка на материал", 36),
    _Column("Другие материалы", 36),
    _Column("Автор", 18),
    _Column("Статус проверки", 12),
)
ROADMAP_COLUMNS: Final = (
    _Column("Школа", 14),
    _Column("№ п/п", 6),
    _Column("Направление", 13),
    _Column("Мероприятие", 40),
    _Column("Сроки", 16),
    _Column("Срок", 11),
    _Column("Отметка о выполнении", 12),
    _Column("Просрочено", 12),
    _Column("Проведённые мероприятия", 30),
)
DIAGNOSTIC_COLUMNS: Final = (
    _Column("Школа", 14),
    _Column("Анкета", 24),
    _Column("Дата", 11),
    _Column("Направление", 26),
    _Column("Баллы", 8),
    _Column("Максимум", 10),
    _Column("Уровень", 15),
    _Column("Дефициты", 46),
)


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


def last_full_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one containing ``today``."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def export_filename(start: date, end: date) -> str:
    return f"отчёт_{start.isoformat()}_{end.isoformat()}.xlsx"


def direction_title(code: str | None, fallback: str | None = None) -> str | None:
    if code is None:
        return fallback
    return DIRECTION_NAMES.get(code) or fallback or code


def level_title(code: str | None) -> str | None:
    return None if code is None else LEVEL_TITLES.get(code, code)


class _Progress:
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


class _Sheet:
    """A write-only sheet: a title row, a bold frozen header, widths, autofilter, print setup,
    rows as tall as their wrapped text, and inert text cells."""

    def __init__(
        self,
        workbook: Workbook,
        quoted: StyleArray,
        title: str,
        columns: Sequence[_Column],
        progress: _Progress,
        *,
        heading: str,
        period: str,
        title_columns: int = 1,
    ) -> None:
        self._ws: WriteOnlyWorksheet = workbook.create_sheet(title)
        self._columns = columns
        self._progress = progress
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
        self._writer = _SheetWriter(self._ws)
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
            if isinstance(value, _Link):
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
            if value in _LABELS:
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
        if isinstance(value, _Link):
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


class _SheetWriter(WorksheetWriter):
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


async def _groups(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], key: Callable[[Row[Any]], Any]
) -> AsyncGenerator[list[Row[Any]]]:
    """Consecutive streamed rows with the same key, so a one-to-many join is read flat."""
    result = await session.stream(stmt.execution_options(yield_per=YIELD_PER))
    try:
        group: list[Row[Any]] = []
        # A batch at a time: iterating row by row costs a greenlet switch per row (~a third of
        # the reading time).
        async for batch in result.partitions():
            for row in batch:
                if group and key(row) != key(group[0]):
                    yield group
                    group = []
                group.append(row)
        if group:
            yield group
    finally:
        await result.close()


def _participants(count: int | None, category: str | None) -> str | None:
    """As the teacher wrote it: «12 педагогов» is stored as (12, «педагогов»)."""
    if count is None:
        return category or None
    return f"{count} {category}" if category else f"{count} чел."


def _evidence_text(url: str | None, name: str | None, kind: EvidenceKind | None) -> str:
    if url:
        return url
    label = name or (FILE_KIND_TITLES.get(kind, "") if kind is not None else "")
    return FILE_PREFIX + label


def _clickable(url: str) -> bool:
    return len(url) <= MAX_URL_CHARS and _CLICKABLE_URL.fullmatch(url) is not None


@dataclass
class _ReportCounts:
    reports: int = 0
    links: int = 0
    files: int = 0


def reports_query(schools: Schools, start: date, end: date) -> Select[*tuple[Any, ...]]:
    """Reports held in [start, end] joined to their evidence, one row per piece of evidence."""
    return (
        select(
            ActivityReport.id.label("report_id"),
            School.short_name,
            report_direction().label("direction"),
            ActivityReport.held_on,
            ActivityReport.title,
            ActivityReport.organizer,
            ActivityReport.mark,
            ActivityReport.description,
            ActivityReport.participants_count,
            ActivityReport.participants_category,
            User.full_name.label("author"),
            ActivityReport.review_state,
            Evidence.id.label("evidence_id"),
            Evidence.kind.label("evidence_kind"),
            Evidence.url,
            Evidence.file_name,
        )
        .join(School, School.id == ActivityReport.school_id)
        .outerjoin(RoadmapItem, RoadmapItem.id == ActivityReport.roadmap_item_id)
        .outerjoin(User, User.id == ActivityReport.author_id)
        .outerjoin(Evidence, Evidence.report_id == ActivityReport.id)
        .where(
            school_filter(ActivityReport.school_id, schools),
            ActivityReport.held_on.between(start, end),
        )
        .order_by(
            School.short_name,
            School.id,
            ActivityReport.held_on,
            ActivityReport.id,
            Evidence.id,
        )
    )


async def _write_reports(
    session: AsyncSession, sheet: _Sheet, schools: Schools, start: date, end: date
) -> _ReportCounts:
    counts = _ReportCounts()
    async with aclosing(
        _groups(session, reports_query(schools, start, end), lambda row: row.report_id)
    ) as groups:
        async for group in groups:
            report = group[0]
            evidence = [row for row in group if row.evidence_id is not None]
            texts = [_evidence_text(e.url, e.file_name, e.evidence_kind) for e in evidence]
            urls = [e.url for e in evidence if e.url]
            counts.reports += 1
            counts.links += len(urls)
            counts.files += len(evidence) - len(urls)
            # LibreOffice drops the line breaks of a hyperlink cell and glues its addresses
            # together: the first web address gets a cell (and link) of its own.
            first = next((i for i, e in enumerate(evidence) if e.url and _clickable(e.url)), None)
            link = None
            if first is not None:
                link = _Link(texts.pop(first))
            sheet.append(
                [
                    report.report_id,  # the report's number in the bot
                    report.short_name,
                    direction_title(report.direction),
                    report.held_on,
                    report.title,
                    report.organizer,
                    MARK_TITLES[report.mark],
                    report.description,
                    _participants(report.participants_count, report.participants_category),
                    link,
                    "\n".join(texts) or None,
                    report.author or None,
                    REVIEW_TITLES[report.review_state],
                ]
            )
    return counts


def roadmap_query(schools: Schools) -> Select[*tuple[Any, ...]]:
    """Roadmap items joined to their reports, one row per report."""
    return (
        select(
            RoadmapItem.id.label("item_id"),
            School.short_name,
            RoadmapItem.number,
            RoadmapItem.direction,
            RoadmapItem.title,
            RoadmapItem.due_raw,
            RoadmapItem.due_date,
            ActivityReport.id.label("report_id"),
            ActivityReport.held_on,
            ActivityReport.title.label("report_title"),
            ActivityReport.mark,
        )
        .join(School, School.id == RoadmapItem.school_id)
        .outerjoin(ActivityReport, ActivityReport.roadmap_item_id == RoadmapItem.id)
        .where(school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False))
        .order_by(
            School.short_name,
            School.id,
            RoadmapItem.position,
            RoadmapItem.id,
            ActivityReport.held_on,
            ActivityReport.id,
        )
    )


async def _write_roadmaps(
    session: AsyncSession, sheet: _Sheet, schools: Schools, today: date
) -> int:
    items = 0
    async with aclosing(
        _groups(session, roadmap_query(schools), lambda row: row.item_id)
    ) as groups:
        async for group in groups:
            item = group[0]
            reports = [row for row in group if row.report_id is not None]
            marks = {row.mark for row in reports}
            done = Mark.DONE in marks
            mark = MARK_TITLES[
                Mark.DONE if done else Mark.PARTIAL if Mark.PARTIAL in marks else Mark.NOT_DONE
            ]
            overdue = item.due_date is not None and item.due_date < today and not done
            lines: list[str] = []
            length = 0
            for row in reports:
                if length > MAX_CELL_CHARS:  # safe_text cuts the rest; don't build it
                    break
                lines.append(f"{row.held_on:%d.%m.%Y} — {row.report_title}")
                length += len(lines[-1]) + 1
            items += 1
            sheet.append(
                [
                    item.short_name,
                    item.number,
                    direction_title(item.direction),
                    item.title,
                    item.due_raw,
                    item.due_date,
                    mark,
                    YES if overdue else NO,
                    "\n".join(lines) or None,
                ]
            )
    return items


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _deficits(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    return "\n".join(d for d in value if isinstance(d, str) and d) or None


def diagnostics_query(schools: Schools) -> Select[Any]:
    """The latest completed run of every school and questionnaire code."""
    ranked = (
        select(
            DiagnosticRun.id,
            func.row_number()
            .over(
                partition_by=(DiagnosticRun.school_id, Questionnaire.code),
                order_by=(DiagnosticRun.completed_at.desc().nulls_last(), DiagnosticRun.id.desc()),
            )
            .label("run_rank"),
        )
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(
            school_filter(DiagnosticRun.school_id, schools),
            DiagnosticRun.status == RunStatus.COMPLETED,
        )
        .subquery("ranked_runs")
    )
    return (
        select(
            DiagnosticRun.id,
            School.short_name,
            Questionnaire.title.label("questionnaire"),
            DiagnosticRun.completed_at,
            DiagnosticRun.total_points,
            DiagnosticRun.max_points,
            DiagnosticRun.level,
            DiagnosticRun.result,
        )
        .join(ranked, ranked.c.id == DiagnosticRun.id)
        .join(School, School.id == DiagnosticRun.school_id)
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(ranked.c.run_rank == 1)
        .order_by(School.short_name, School.id, Questionnaire.code)
    )


def _estimated_level(code: Any, estimate: bool) -> str | None:
    title = level_title(code if isinstance(code, str) else None)
    return f"{title} {ESTIMATE_SUFFIX}" if title and estimate else title


def _diagnostic_rows(run: Row[Any], tz: ZoneInfo) -> Iterator[list[Any]]:
    """Rows of one run: a row per direction in its stored result, then the overall one."""
    result = run.result if isinstance(run.result, dict) else {}
    held = run.completed_at.astimezone(tz).date() if run.completed_at else None
    head = [run.short_name, run.questionnaire, held]
    # The domain asks for levels the bot computed to be labelled as its own estimate.
    estimate = result.get("estimate") is True
    directions = result.get("directions")
    for entry in directions if isinstance(directions, list) else []:
        if not isinstance(entry, dict):
            continue
        code, title = entry.get("code"), entry.get("title")
        yield [
            *head,
            direction_title(
                code if isinstance(code, str) else None,
                title if isinstance(title, str) else None,
            ),
            _number(entry.get("points")),
            _number(entry.get("max_points")),
            _estimated_level(entry.get("level"), estimate),
            _deficits(entry.get("deficits")),
        ]
    overall = result.get("overall")
    overall = overall if isinstance(overall, dict) else {}
    yield [
        *head,
        TOTAL,
        _number(overall.get("points", run.total_points)),
        _number(overall.get("max_points", run.max_points)),
        _estimated_level(overall.get("level", run.level), estimate),
        None,
    ]


async def _write_diagnostics(
    session: AsyncSession, sheet: _Sheet, schools: Schools, tz: ZoneInfo
) -> int:
    rows = 0
    async with aclosing(
        _groups(session, diagnostics_query(schools), lambda row: row.id)
    ) as groups:
        async for (run,) in groups:
            for values in _diagnostic_rows(run, tz):
                sheet.append(values)
                rows += 1
    return rows


def _write_summary(sheet: _Sheet, figures: Sequence[SchoolFigures]) -> int:
    """One row per school."""
    for school in figures:
        sheet.append(
            [
                school.short_name,
                school.reports_week,
                school.reports_total,
                school.done,
                school.partial,
                school.not_done,
                school.items_total,
                school.items_covered,
                school.overdue,
                school.awaiting_review,
                school.returned,
                school.last_activity,
                level_title(school.latest_level),
            ]
        )
    return len(figures)


async def build_export(
    session: AsyncSession,
    *,
    schools: Schools,
    start: date,
    end: date,
    tz: ZoneInfo,
    out: BinaryIO | Path,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> ExportSummary:
    """Write the workbook for reports held in [start, end] by ``schools`` to ``out``.

    ``today`` (default: now in ``tz``) decides what is overdue. ``progress`` gets the number of
    data rows written so far, every ``PROGRESS_EVERY`` rows and once at the end.
    """
    if end < start:
        raise ValueError("the period ends before it starts")
    today = today if today is not None else datetime.now(tz).date()
    counter = _Progress(progress)
    workbook, quoted = _new_workbook()
    period = format_period(start, end)

    # The figures (one row per school) are dropped before the big sheets are written.
    figures = await school_figures(session, schools, today=today, week_start=start, week_end=end)
    scope = scope_title([school.short_name for school in figures])
    school_count = len(figures)

    def sheet(title: str, columns: Sequence[_Column], heading: str, keys: int) -> _Sheet:
        return _Sheet(
            workbook,
            quoted,
            title,
            columns,
            counter,
            heading=f"{heading} · {scope}",
            period=period,
            title_columns=keys,
        )

    summary = sheet("Сводка", SUMMARY_COLUMNS, f"Сводка за {period} (на {today:%d.%m.%Y})", 1)
    _write_summary(summary, figures)
    summary.close()
    del figures

    reports = sheet("Мероприятия", REPORT_COLUMNS, f"Мероприятия за {period}", 2)
    report_counts = await _write_reports(session, reports, schools, start, end)
    reports.close()

    roadmaps = sheet("Дорожные карты", ROADMAP_COLUMNS, f"Дорожные карты (на {today:%d.%m.%Y})", 2)
    items = await _write_roadmaps(session, roadmaps, schools, today)
    roadmaps.close()

    diagnostics = sheet("Самодиагностика", DIAGNOSTIC_COLUMNS, "Самодиагностика", 1)
    diagnostic_rows = await _write_diagnostics(session, diagnostics, schools, tz)
    diagnostics.close()

    # Zipping the spilled sheets is CPU-bound: keep the event loop (and the bot) responsive.
    await asyncio.to_thread(workbook.save, out)
    counter.finish()
    return ExportSummary(
        schools=school_count,
        reports=report_counts.reports,
        items=items,
        diagnostics=diagnostic_rows,
        links=report_counts.links,
        hyperlinks=reports.hyperlinks,
        files=report_counts.files,
    )
