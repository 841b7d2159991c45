"""Roadmap tables: from rows of cell texts and merged ranges to activities, sections, title.

The readers in models/roadmap_formats.py turn each kind of file into such rows; everything
about what a roadmap table looks like (header names, sections, merged titles, continuations)
lives here, once for every format.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from models.duedates import Due, DueKind, parse_due, school_year_from_text, school_year_of
from models.errors import DomainError


class ImportErrorCode(StrEnum):
    NOT_SPREADSHEET = "not_spreadsheet"
    CORRUPT = "corrupt"
    ENCRYPTED = "encrypted"
    TOO_LARGE = "too_large"
    NO_HEADER = "no_header"
    EMPTY = "empty"


class RoadmapImportError(DomainError):
    """A file that can't be imported; `code` is an `ImportErrorCode`, `params` its details."""

    code = ImportErrorCode.CORRUPT


@dataclass
class ParsedItem:
    section: str | None
    number: str | None
    title: str
    result: str | None
    due_raw: str | None
    responsible: str | None
    external_help: str | None
    due: Due
    source_row: int
    direction: str | None = None
    mark: str | None = None
    done: str | None = None
    link: str | None = None
    participants: str | None = None


@dataclass
class ParsedRoadmap:
    sheet: str | None
    title: str | None
    header_row: int
    items: list[ParsedItem]
    sections: list[str]
    school_year: int | None
    columns: dict[str, str] = field(default_factory=dict)
    """Field name → the header text it was read from."""

    @property
    def unparsed_due_count(self) -> int:
        """Items whose deadline text gave no deadline."""
        return len(self.unparsed_due)

    @property
    def unparsed_due(self) -> list[ParsedItem]:
        """The items whose deadline text gave no deadline, in the file's order."""
        return [item for item in self.items if item.due_raw and item.due.kind is DueKind.UNKNOWN]


_COLUMN_ALIASES = {
    "number": ("№", "№ п/п", "№ п.п", "n п/п", "номер", "п/п"),
    "title": (
        "мероприятие",
        "мероприятия",
        "описание действий",
        "форма и тема мероприятия",
        "наименование мероприятия",
        "наименование мероприятий",
        "содержание мероприятия",
        "содержание мероприятий",
        "содержание деятельности",
        "содержание работы",
        "тема мероприятия",
    ),
    "result": (
        "характеристика результата",
        "результат",
        "результаты",
        "ожидаемый результат",
        "ожидаемые результаты",
        "планируемый результат",
        "планируемые результаты",
    ),
    "due": ("срок проведения", "сроки проведения", "срок", "сроки", "дата", "дата проведения"),
    "responsible": (
        "ответственные исполнители",
        "ответственный исполнитель",
        "ответственный",
        "ответственные",
        "исполнитель",
        "исполнители",
        "организатор",
    ),
    "external_help": ("внешняя помощь",),
    "direction": ("направление", "направления", "магистральное направление"),
    "mark": ("отметка о выполнении", "отметка об исполнении", "отметка"),
    "done": ("проведенные мероприятия", "проведенная работа"),
    "link": ("ссылка на размещенный материал", "ссылка"),
    "participants": ("количество и категория участников", "количество участников", "участники"),
}
_CONTENT_FIELDS = tuple(name for name in _COLUMN_ALIASES if name != "number")
HEADER_SCAN_ROWS = 30
# Column names are short; every row is checked for a repeated header, so long cells are skipped.
_MAX_HEADER_LENGTH = 100
# Sheets often carry formatting down to row 1048576; a long blank run is the end of the table.
_MAX_EMPTY_RUN = 200
# Merges are read from the file as they are; this bounds the work a hostile file can ask for.
_MAX_FILLED_CELLS = 100_000
_ITEM_NUMBER = re.compile(r"\d{1,3}(?:[.)]\s?\d{1,3})*[.)]*")

Cells = list[str | None]
Rows = Iterator[tuple[int, Cells]]
Merge = tuple[int, int, int, int]  # min_col, min_row, max_col, max_row, 1-based like openpyxl


def _normalize_header(text: str) -> str:
    text = text.lower().replace("ё", "е").replace("№", " № ")
    text = re.sub(r"\(.*?\)", " ", text)  # «Организатор мероприятия (ИРО, ОО и т.п.)»
    return " ".join(re.sub(r"[^\w№]+", " ", text).split())


_ALIASES = {
    name: tuple(_normalize_header(alias) for alias in aliases)
    for name, aliases in _COLUMN_ALIASES.items()
}


def _field_of(header: str) -> str | None:
    exact = next((name for name, aliases in _ALIASES.items() if header in aliases), None)
    if exact is not None:
        return exact
    prefixes = [
        (len(alias), name)
        for name, aliases in _ALIASES.items()
        for alias in aliases
        if header.startswith(alias + " ")
    ]
    return max(prefixes)[1] if prefixes else None


def cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        text = value.strftime("%d.%m.%Y")
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.replace("_x000D_", "").replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    return text or None


@dataclass
class _Header:
    row: int
    columns: dict[str, int]
    """Field name → 0-based column index."""
    texts: dict[int, str]
    """Column index → header text as written."""

    @property
    def first_column(self) -> int:
        return min(self.columns.values())

    @property
    def width(self) -> int:
        return max(self.columns.values()) - self.first_column + 1


def find_header(row: int, cells: Cells) -> _Header | None:
    columns: dict[str, int] = {}
    texts: dict[int, str] = {}
    for index, text in enumerate(cells):
        if not text or len(text) > _MAX_HEADER_LENGTH:
            continue
        name = _field_of(_normalize_header(text))
        if name is not None and name not in columns:
            columns[name] = index
            texts[index] = text
    if "title" not in columns and "direction" in columns:
        # A school's participation report names each line by its direction.
        columns["title"] = columns["direction"]
    if "title" not in columns or len(texts) < 2:
        return None
    return _Header(row, columns, texts)


@dataclass
class _Sheet:
    """What one pass over a sheet found: the rows above and below a header, if there is one."""

    name: str | None
    has_content: bool = False
    title_lines: list[str] = field(default_factory=list)
    header: _Header | None = None
    rows: list[tuple[int, Cells]] = field(default_factory=list)


# A scanned sheet and how to get its merged ranges, read only for the sheet that is used.
Candidate = tuple[_Sheet, Callable[[], Sequence[Merge]]]


def scan(name: str | None, rows: Rows) -> _Sheet:
    sheet = _Sheet(name)
    for number, cells in rows:
        sheet.has_content = sheet.has_content or any(cells)
        sheet.header = find_header(number, cells)
        if sheet.header is not None:
            break
        if number >= HEADER_SCAN_ROWS:
            return sheet
        if line := " ".join(text for text in cells if text):
            sheet.title_lines.append(line)
    empty_run = 0
    for number, cells in rows:
        if any(cells):
            empty_run = 0
            sheet.rows.append((number, cells))
        else:
            empty_run += 1
            if empty_run > _MAX_EMPTY_RUN:
                break
    return sheet


class _Builder:
    """Turns the data rows under a header into items, sections and continuations."""

    def __init__(self, header: _Header, merges: Sequence[Merge]) -> None:
        self.header = header
        self.merges = merges
        self.items: list[dict[str, Any]] = []
        self.sections: list[str] = []
        self.section: str | None = None
        self.numbered = False
        self.wide = {(top, left - 1): right - left + 1 for left, top, right, _ in merges}

    def build(self, rows: list[tuple[int, Cells]]) -> None:
        self.numbered = self._uses_numbers(rows)
        fills = self._fills(rows)
        by_row = dict(rows)
        for number, cells in rows:
            filled = set()
            for column, source_row in fills.get(number, ()):
                source = _at(by_row.get(source_row, []), column)
                if source and not _at(cells, column):
                    cells.extend([None] * (column + 1 - len(cells)))
                    cells[column] = source
                    filled.add(column)
            self._add(number, cells, filled)
        used = {item["section"] for item in self.items}
        self.sections = [name for name in self.sections if name in used]

    def _fills(self, rows: list[tuple[int, Cells]]) -> dict[int, list[tuple[int, int]]]:
        """Row → (column, row to copy from) for cells hidden under a tall merge.

        Only the top-left cell of a merge holds its text, yet a title merged over three rows
        belongs to each of them («one row per deadline»).
        """
        last_row = rows[-1][0] if rows else 0
        fills: dict[int, list[tuple[int, int]]] = {}
        budget = _MAX_FILLED_CELLS
        for left, top, _, bottom in self.merges:
            for row in range(top + 1, min(bottom, last_row) + 1):
                fills.setdefault(row, []).append((left - 1, top))
                budget -= 1
                if budget <= 0:
                    return fills
        return fills

    def _uses_numbers(self, rows: list[tuple[int, Cells]]) -> bool:
        """Word's automatic numbering is lost on export, leaving the № column empty."""
        column = self.header.columns.get("number")
        if column is None:
            return False
        numbers = sum(1 for _, cells in rows if _ITEM_NUMBER.fullmatch(_at(cells, column) or ""))
        return numbers * 3 >= len(rows)

    def _values(self, cells: Cells) -> dict[str, str | None]:
        return {name: _at(cells, column) for name, column in self.header.columns.items()}

    def _add(self, row: int, cells: Cells, filled: set[int]) -> None:
        occupied = [index for index, text in enumerate(cells) if text]
        if not occupied or set(occupied) <= filled or self._is_header_again(cells):
            return
        values = self._values(cells)
        number = values.get("number")
        content = {name for name in _CONTENT_FIELDS if values.get(name)}
        if self._is_section(row, cells, occupied, number):
            self._start_section(" ".join(cells[index] or "" for index in occupied))
            return
        if number and _ITEM_NUMBER.fullmatch(number):
            if content:
                self._promote_parent(number)
                self._new_item(row, values)
            return
        previous = self.items[-1] if self.items else None
        if number or previous is None:
            if content:
                self._new_item(row, values)
            return
        starts_item = values.get("due") or (
            not self.numbered and (values.get("title") or "")[:1].isupper()
        )
        if starts_item:
            self._new_item(row, values)
            return
        columns = self.header.columns
        for name in content:
            if columns[name] in filled:
                continue
            text = values[name]
            previous[name] = f"{previous[name]}\n{text}" if previous.get(name) else text

    def _is_header_again(self, cells: Cells) -> bool:
        """A header repeated after a page break, or the «1 2 3 4 5» row under a header."""
        again = find_header(0, cells)
        if again is not None:
            columns = self.header.columns
            return sum(columns.get(name) == index for name, index in again.columns.items()) >= 2
        numbered = [(index, text) for index, text in enumerate(cells) if text]
        return (
            len(numbered) >= 3
            and all(text.isdigit() for _, text in numbered)
            and (len({int(text) - index for index, text in numbered}) == 1)
        )

    def _is_section(self, row: int, cells: Cells, occupied: list[int], number: str | None) -> bool:
        if len(occupied) == 1:
            index = occupied[0]
            width = self.wide.get((row, index), 1)
            if width >= 2 and width * 2 >= self.header.width:
                return True
            text = cells[index] or ""
            # A lone text in the leftmost column heads a section, unless it carries on a title
            # cut by a page break in a table without a № column.
            continues_title = index == self.header.columns["title"] and not text[:1].isupper()
            leftmost = index <= self.header.first_column
            return leftmost and not continues_title and not _ITEM_NUMBER.fullmatch(text)
        # «II. | Кадры», «Раздел 1 | Организационные мероприятия»: a label where a number goes.
        heading = {self.header.columns.get("number"), self.header.columns["title"]}
        return (
            set(occupied) <= heading and bool(number) and not _ITEM_NUMBER.fullmatch(number or "")
        )

    def _start_section(self, name: str) -> None:
        if name != self.section:
            self.section = name
            self.sections.append(name)

    def _promote_parent(self, number: str) -> None:
        """«1. Нормативное обеспечение» followed by «1.1»: the bare «1.» row was a section."""
        if not self.items:
            return
        previous = self.items[-1]
        parent = (previous["number"] or "").rstrip(".) ")
        bare = not any(previous.get(name) for name in _CONTENT_FIELDS if name != "title")
        if parent and bare and number.startswith(parent + ".") and len(number) > len(parent) + 1:
            self.items.pop()
            self._start_section(previous["title"])

    def _new_item(self, row: int, values: dict[str, str | None]) -> None:
        previous = self.items[-1] if self.items else None
        if (
            not values.get("title")
            and previous
            and values.get("number") in {None, previous["number"]}
        ):
            # One of several rows under a title cell that was merged before export.
            values["title"] = previous["title"]
        self.items.append({**values, "section": self.section, "source_row": row})


def _at(cells: Cells, index: int) -> str | None:
    return cells[index] if index < len(cells) else None


def _roadmap(
    sheet: _Sheet, header: _Header, merges: Sequence[Merge], filename: str
) -> ParsedRoadmap:
    builder = _Builder(header, merges)
    builder.build(sheet.rows)
    title = "\n".join(sheet.title_lines) or None
    school_year = next(
        (
            year
            for text in (title, sheet.name, PurePath(filename).stem)
            if text and (year := school_year_from_text(text)) is not None
        ),
        None,
    )
    if school_year is None:
        # «за период сентябрь – декабрь 2022г.» names no school year but the dated rows do, and
        # a yearless «ноябрь» in such a table means the November of that school year.
        dated = Counter(
            school_year_of(due.end)
            for due in (parse_due(values.get("due")) for values in builder.items)
            if due.end is not None
        )
        school_year = dated.most_common(1)[0][0] if dated else None
    items = [
        ParsedItem(
            section=values["section"],
            number=values.get("number"),
            title=values.get("title") or "",
            result=values.get("result"),
            due_raw=values.get("due"),
            responsible=values.get("responsible"),
            external_help=values.get("external_help"),
            due=parse_due(values.get("due"), school_year=school_year),
            source_row=values["source_row"],
            direction=values.get("direction"),
            mark=values.get("mark"),
            done=values.get("done"),
            link=values.get("link"),
            participants=values.get("participants"),
        )
        for values in builder.items
    ]
    columns = {name: header.texts[index] for name, index in header.columns.items()}
    return ParsedRoadmap(
        sheet=sheet.name,
        title=title,
        header_row=header.row,
        items=items,
        sections=builder.sections,
        school_year=school_year,
        columns=columns,
    )


def pick(sheets: Iterator[Candidate], filename: str) -> ParsedRoadmap:
    """The first sheet with a header and at least one item; the reason why not otherwise."""
    seen_content = seen_header = False
    for sheet, merges in sheets:
        seen_content = seen_content or sheet.has_content
        if sheet.header is None:
            continue
        seen_header = True
        roadmap = _roadmap(sheet, sheet.header, merges(), filename)
        if roadmap.items:
            return roadmap
    if seen_header or not seen_content:
        # A header with nothing under it, or a workbook with nothing at all in it.
        raise RoadmapImportError(ImportErrorCode.EMPTY, header=seen_header)
    raise RoadmapImportError(ImportErrorCode.NO_HEADER)


def limited(rows: Iterator[Sequence[Any]], max_rows: int) -> Rows:
    """Number the rows, convert them to text and stop a runaway file while it is being read."""
    number = 0
    while True:
        try:
            values = next(rows, None)
        except Exception as exc:  # csv.Error, or openpyxl's KeyError, ParseError, zlib.error ...
            raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
        if values is None:
            return
        number += 1
        if number > max_rows:
            raise RoadmapImportError(ImportErrorCode.TOO_LARGE, max_rows=max_rows)
        yield number, [cell_text(value) for value in values]
