"""How the export looks on screen and on paper: fonts, styles, widths, row heights, print setup.

The file is opened in Excel and in LibreOffice and printed from either, so:

* Every style names its font. Calibri is Excel's default and LibreOffice substitutes Carlito,
  which has the same metrics; an unnamed font made LibreOffice fall back to a wide serif and
  break header words in columns sized for Calibri.
* Data rows carry explicit heights. LibreOffice does not recompute row heights when it loads a
  file, so wrapped text in a row without a height is cut at one line. Heights are estimated
  from text length and column width, on the generous side: a row a line too tall wastes a
  little paper, a line too short hides text.
* Printing: A4 landscape at 90 % (no fit-to-page, which shrank «Мероприятия» to 4.6 pt); wide
  sheets continue on a second page across, with the key columns and the header row repeated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from openpyxl.styles import Alignment, Font, NamedStyle

FONT_NAME: Final = "Calibri"  # LibreOffice: Carlito, metrically the same
FONT_SIZE: Final = 10
TITLE_SIZE: Final = 12
HEADER_FOOTER_SIZE: Final = 10
DATE_FORMAT: Final = "DD.MM.YYYY"

HEADER_STYLE: Final = "export-header"
DATE_STYLE: Final = "export-date"
LINK_STYLE: Final = "export-link"
TITLE_STYLE: Final = "export-title"

WRAP: Final = Alignment(wrap_text=True, vertical="top")
BODY_FONT: Final = Font(name=FONT_NAME, size=FONT_SIZE, family=2)

# Characters of 10 pt Calibri per unit of column width (a unit is the width of a digit of the
# workbook's 11 pt default font), measured on Cyrillic text printed by LibreOffice and rounded
# down; a cell's padding takes about one unit. Bold headers are a little wider.
CHARS_PER_UNIT: Final = 1.4
BOLD_CHARS_PER_UNIT: Final = 1.0
# Points per line of 10 pt text, and the padding of a row.
LINE_POINTS: Final = 12.75
ROW_PADDING: Final = 2.0
MAX_ROW_POINTS: Final = 409.0  # Excel's limit
# A4 landscape, 1 cm margins, printed at 90 % (10 pt text prints at 9 pt): about 155 width
# units across (a unit is 5.6 pt), so the summary and the roadmaps fit one page across and the
# reports take two, with «№» and «Школа» repeated.
MARGIN_INCHES: Final = 0.4
PRINT_SCALE: Final = 90
PAPER_A4: Final = "9"  # ECMA-376 paper size code


class Column(NamedTuple):
    title: str
    width: float


def named_styles() -> list[NamedStyle]:
    return [
        NamedStyle(
            HEADER_STYLE,
            font=Font(name=FONT_NAME, size=FONT_SIZE, family=2, bold=True),
            alignment=WRAP,
        ),
        NamedStyle(DATE_STYLE, font=BODY_FONT, alignment=WRAP, number_format=DATE_FORMAT),
        # The look of the built-in «Hyperlink» style, but wrapped like the other text cells.
        NamedStyle(
            LINK_STYLE,
            font=Font(
                name=FONT_NAME, size=FONT_SIZE, family=2, color="0563C1", underline="single"
            ),
            alignment=WRAP,
        ),
        # Not wrapped, so the title runs on over the empty cells to its right.
        NamedStyle(
            TITLE_STYLE,
            font=Font(name=FONT_NAME, size=TITLE_SIZE, family=2, bold=True),
            alignment=Alignment(vertical="center"),
        ),
    ]


def text_lines(text: str, width: float, chars_per_unit: float = CHARS_PER_UNIT) -> int:
    """Lines a wrapped cell of ``width`` units needs for ``text``, estimated generously."""
    per_line = max(1.0, (width - 1) * chars_per_unit)
    if "\n" not in text:
        return math.ceil(len(text) / per_line) or 1
    return sum(math.ceil(len(part) / per_line) or 1 for part in text.split("\n"))


def row_height(lines: int) -> float:
    return min(MAX_ROW_POINTS, lines * LINE_POINTS + ROW_PADDING)


def header_layout(columns: Sequence[Column]) -> tuple[list[float], float]:
    """Widths that keep each header's longest word whole, and the header row's height."""
    widths, lines = [], 1
    for column in columns:
        longest = max((len(word) for word in column.title.split()), default=1)
        width = max(column.width, math.ceil(longest / BOLD_CHARS_PER_UNIT) + 2)
        widths.append(width)
        lines = max(lines, _word_lines(column.title, width))
    return widths, row_height(lines)


def _word_lines(title: str, width: float) -> int:
    """Lines of a header wrapped at spaces (whole words only)."""
    per_line = (width - 2) * BOLD_CHARS_PER_UNIT
    lines, used = 1, 0.0
    for word in title.split():
        needed = len(word) if used == 0 else used + 1 + len(word)
        if needed > per_line and used > 0:
            lines, used = lines + 1, len(word)
        else:
            used = needed
    return lines


def set_up_printing(ws: Any, *, period: str, title_columns: int, header_row: int) -> None:
    """A4 landscape at 90 %, header row and key columns on every page, page numbers.

    ``ws`` is a write-only sheet (typed loosely: its stubs lack the print attributes)."""
    setup = ws.page_setup
    setup.paperSize = PAPER_A4
    setup.orientation = "landscape"
    setup.scale = PRINT_SCALE
    ws.print_options.gridLines = True
    margins = ws.page_margins
    margins.left = margins.right = MARGIN_INCHES
    margins.top = margins.bottom = 0.7
    margins.header = margins.footer = 0.3
    ws.print_title_rows = f"{header_row}:{header_row}"
    if title_columns:
        last = chr(ord("A") + title_columns - 1)
        ws.print_title_cols = f"A:{last}"
    # «&» starts a control code in a header; a period is digits, dots and a dash.
    for part, text in (
        (ws.oddHeader.left, f"Период: {period}"),
        (ws.oddHeader.right, "&A"),
        (ws.oddFooter.center, "Страница &P из &N"),
    ):
        part.text = text
        part.font = f"{FONT_NAME},Regular"
        part.size = HEADER_FOOTER_SIZE
