"""A WordprocessingML (.docx) writer on the standard library: paragraphs, tables, one picture.

Why not python-docx: it needs lxml, and with lxml importable openpyxl writes through lxml
instead of et_xmlfile, which takes the XLSX export off its measured path (README, «Library
patches»). A document here is a few kinds of element, so the XML is written as text, with the
package's fixed parts (styles, fonts, footer, page setup) kept as data in
``templates/docx_parts.toml``.

Every text from users or the database goes through ``xml_text``: characters XML can't hold are
dropped and the rest is escaped, so it is shown as typed. Word evaluates nothing in a text run
(a leading ``=``, ``+``, ``-`` or ``@`` is just a character; fields exist only where we write
field codes, and no user text goes into one), so unlike the XLSX export nothing needs a quote
prefix. Web addresses become hyperlinks only when they are plain ``http(s)`` URLs.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Final, NamedTuple
from urllib.parse import quote
from xml.sax.saxutils import escape

from exports.documents.templates import docx_parts

# XML 1.0 forbids these (and lone surrogates): a report typed with a control character must
# not make the whole document unreadable.
_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPECIAL: Final = re.compile("[&<>\t\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CLICKABLE: Final = re.compile(r"https?://[^\s\"<>]+", re.IGNORECASE)
MAX_URL_CHARS: Final = 2_079  # Office's limit for a link address; longer ones stay text

TWIPS_PER_MM: Final = 1440 / 25.4
EMU_PER_TWIP: Final = 635
# A4 in twips, portrait; margins as Russian office documents have them (ГОСТ Р 7.0.97-2016:
# left 30 mm, right 15 mm, top and bottom 20 mm).
A4: Final = (11_906, 16_838)
MARGINS: Final = {"top": 1_134, "right": 850, "bottom": 1_134, "left": 1_701}
_SAFE_URL_CHARS: Final = ":/?#[]@!$&'()*+,;=%~-._"
_FIXED_RELATIONSHIPS: Final = 4  # styles, settings, fontTable, footer: rId1…rId4
_SLICE: Final = 2_000  # pieces of the body joined and written at a time
TABLE_ROWS: Final = 100
# A row this many lines long or shorter moves to the next page whole; a longer one may break
# (a row taller than the page can't be kept, and Word would cut it off).
KEEP_ROW_LINES: Final = 12
_ROW_KEPT: Final = "<w:tr><w:trPr><w:cantSplit/></w:trPr>"
# An average character of 12-pt Times New Roman is about 110 twips wide.
_TWIPS_PER_CHAR: Final = 110


def xml_text(text: str) -> str:
    """Text fit for a ``w:t`` element: XML-legal, escaped, tabs and line ends as spaces."""
    if _SPECIAL.search(text) is None:  # most texts: nothing to do, and a search is cheap
        return text
    return escape(_ILLEGAL.sub("", text).replace("\t", " ").replace("\r", ""))


def xml_attr(text: str) -> str:
    """Text fit for an attribute value in double quotes."""
    return escape(_ILLEGAL.sub("", text), {'"': "&quot;"})


def clickable(url: str) -> bool:
    return len(url) <= MAX_URL_CHARS and _CLICKABLE.fullmatch(url) is not None


class Link(NamedTuple):
    """A web address shown as itself, clickable where ``clickable`` allows."""

    url: str


class Bold(NamedTuple):
    text: str


Run = str | Link | Bold
# A paragraph: one text, or runs in a row. A cell: a text (one paragraph a line) or paragraphs.
Paragraph = str | Sequence[Run]
Cell = str | Sequence[Paragraph]


@dataclass(frozen=True)
class Column:
    title: str
    width: float  # a share: the widths of a table are scaled to the text width


@dataclass
class _Package:
    links: dict[str, str] = field(default_factory=dict)  # url -> relationship id
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (relationship id, png)

    def link_id(self, url: str) -> str:
        rid = self.links.get(url)
        if rid is None:
            rid = self.links[url] = f"rId{self._next()}"
        return rid

    def image_id(self, png: bytes) -> str:
        rid = f"rId{self._next()}"
        self.images.append((rid, png))
        return rid

    def _next(self) -> int:
        return _FIXED_RELATIONSHIPS + len(self.links) + len(self.images) + 1


class DocxWriter:
    """Builds ``word/document.xml`` a block at a time; ``to_bytes`` packs the .docx."""

    def __init__(self, *, title: str, landscape: bool = False) -> None:
        self.title = title
        self.landscape = landscape
        self._body: list[str] = []
        self._package = _Package()

    @property
    def text_width(self) -> int:
        """The width between the margins, in twips."""
        width = A4[1] if self.landscape else A4[0]
        return width - MARGINS["left"] - MARGINS["right"]

    # --- blocks --------------------------------------------------------------------------------

    def paragraph(
        self, content: Paragraph, style: str = "Body", *, keep_next: bool = False
    ) -> None:
        self._body.append(self._paragraph(content, style, keep_next=keep_next))

    def page_break(self) -> None:
        self._body.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')

    def table(
        self,
        columns: Sequence[Column],
        rows: Iterable[Sequence[Cell] | str],
        *,
        body_style: str = "TableText",
    ) -> int:
        """A bordered table whose header row repeats on every page; a row given as a plain
        string spans every column (a group heading). Returns the number of rows written.

        Every ``TABLE_ROWS`` rows the table is closed and continued in a new one under the same
        header: LibreOffice lays out one long table in time quadratic in its length (3,000 rows:
        162 s as one table, 21 s as tables of 100), and a reader sees the header again."""
        total = sum(column.width for column in columns) or 1
        widths = [round(self.text_width * column.width / total) for column in columns]
        header = [docx_parts()["table_start"], "<w:tblGrid>"]
        header += [f'<w:gridCol w:w="{width}"/>' for width in widths]
        header.append("</w:tblGrid><w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>")
        header += [
            self._cell(column.title, width, "TableHeading", shaded=True)
            for column, width in zip(columns, widths, strict=True)
        ]
        header.append("</w:tr>")
        opening = "".join(header)
        # Word needs a paragraph between a table and what follows it (another table included).
        closing = '</w:tbl><w:p><w:pPr><w:pStyle w:val="TableAfter"/></w:pPr></w:p>'
        out = self._body
        out.append(opening)
        count = 0
        full = sum(widths)
        for row in rows:
            if count and count % TABLE_ROWS == 0:
                out.append(closing)
                out.append(opening)
            if isinstance(row, str):
                out.append(_ROW_KEPT)
                out.append(self._cell(row, full, "TableGroup", span=len(columns), shaded=True))
            else:
                if len(row) != len(columns):
                    raise ValueError(f"{len(row)} cells for {len(columns)} columns")
                short = max(map(_lines, row, widths)) <= KEEP_ROW_LINES
                out.append(_ROW_KEPT if short else "<w:tr>")
                for cell, width in zip(row, widths, strict=True):
                    out.append(self._cell(cell, width, body_style))
            out.append("</w:tr>")
            count += 1
        out.append(closing)
        return count

    def picture(self, png: bytes, *, description: str, width_share: float = 1.0) -> None:
        """A PNG centred on its own line, ``width_share`` of the text width wide (narrower when
        it would be taller than most of a page)."""
        width_px, height_px = png_size(png)
        cx = int(self.text_width * width_share) * EMU_PER_TWIP
        cy = int(cx * height_px / max(width_px, 1))
        max_cy = (A4[0 if self.landscape else 1] - MARGINS["top"] - MARGINS["bottom"]) * (
            EMU_PER_TWIP * 8 // 10
        )
        if cy > max_cy:  # a tall chart keeps its proportions and fits the page
            cx, cy = int(cx * max_cy / cy), max_cy
        rid = self._package.image_id(png)
        number = len(self._package.images)
        self._body.append(
            docx_parts()["picture"].format(
                rid=rid,
                cx=cx,
                cy=cy,
                id=number,
                name=f"chart{number}",
                description=xml_attr(description),
            )
        )

    # --- the package ---------------------------------------------------------------------------

    def to_bytes(self, *, created: datetime, footer: str) -> bytes:
        """The .docx; ``footer`` is a text with ``{page}`` and ``{pages}`` placeholders. The
        writer is spent: its body is freed as it is written."""
        parts = docx_parts()
        width, height = A4
        orient = ""
        if self.landscape:
            width, height, orient = height, width, ' w:orient="landscape"'
        section = parts["section"].format(width=width, height=height, orient=orient, **MARGINS)
        head, tail = parts["document"].split("{body}")
        buffer = BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            archive.writestr("[Content_Types].xml", parts["content_types"])
            archive.writestr("_rels/.rels", parts["package_rels"])
            archive.writestr(
                "docProps/core.xml",
                parts["core"].format(
                    title=xml_text(self.title),
                    created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ),
            )
            with archive.open("word/document.xml", "w") as handle:
                # Written a slice at a time: one join of a municipality's body (tens of MB) and
                # its encoding would each hold the GIL, and so the bot's event loop, for a while.
                handle.write(head.encode())
                body = self._body
                for start in range(0, len(body), _SLICE):
                    stop = min(start + _SLICE, len(body))
                    handle.write("".join(body[start:stop]).encode())
                    body[start:stop] = [""] * (stop - start)  # freed a slice at a time too
                handle.write(tail.format(section=section).encode())
            archive.writestr("word/_rels/document.xml.rels", self._relationships())
            archive.writestr("word/styles.xml", parts["styles"])
            archive.writestr("word/settings.xml", parts["settings"])
            archive.writestr("word/fontTable.xml", parts["font_table"])
            archive.writestr("word/footer1.xml", parts["footer"].format(runs=_footer(footer)))
            for rid, png in self._package.images:
                archive.writestr(f"word/media/{rid}.png", png, zipfile.ZIP_STORED)
        return buffer.getvalue()

    def _relationships(self) -> str:
        parts = docx_parts()
        items = [parts["document_rels"]]
        for url, rid in self._package.links.items():
            # Percent-encoded (no control character or quote survives), then attribute-escaped.
            target = xml_attr(quote(url, safe=_SAFE_URL_CHARS))
            items.append(parts["link_rel"].format(rid=rid, target=target))
        for rid, _png in self._package.images:
            items.append(parts["image_rel"].format(rid=rid))
        items.append("</Relationships>")
        return "".join(items)

    # --- pieces --------------------------------------------------------------------------------

    def _paragraph(self, content: Paragraph, style: str, *, keep_next: bool = False) -> str:
        keep = "<w:keepNext/>" if keep_next else ""
        opening = f'<w:p><w:pPr><w:pStyle w:val="{style}"/>{keep}</w:pPr>'
        if isinstance(content, str):
            return f'{opening}<w:r><w:t xml:space="preserve">{xml_text(content)}</w:t></w:r></w:p>'
        return f"{opening}{''.join([self._run(run) for run in content])}</w:p>"

    def _run(self, run: Run) -> str:
        if isinstance(run, Link):
            text = xml_text(run.url)
            if not clickable(run.url):
                return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'
            rid = self._package.link_id(run.url)
            return (
                f'<w:hyperlink r:id="{rid}" w:history="1"><w:r><w:rPr>'
                f'<w:rStyle w:val="Hyperlink"/></w:rPr><w:t xml:space="preserve">{text}</w:t>'
                "</w:r></w:hyperlink>"
            )
        if isinstance(run, Bold):
            return (
                '<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">'
                f"{xml_text(run.text)}</w:t></w:r>"
            )
        return f'<w:r><w:t xml:space="preserve">{xml_text(run)}</w:t></w:r>'

    def _cell(
        self, content: Cell, width: int, style: str, *, span: int = 1, shaded: bool = False
    ) -> str:
        properties = f'<w:tcW w:w="{width}" w:type="dxa"/>'
        if span > 1:
            properties += f'<w:gridSpan w:val="{span}"/>'
        if shaded:
            properties += '<w:shd w:val="clear" w:color="auto" w:fill="E7E6E6"/>'
        paragraphs = content.split("\n") if isinstance(content, str) else content or [""]
        inner = "".join([self._paragraph(p, style) for p in paragraphs])
        return f"<w:tc><w:tcPr>{properties}</w:tcPr>{inner}</w:tc>"


def _lines(cell: Cell, width: int) -> int:
    """About how many lines ``cell`` takes in a column ``width`` twips wide (a paragraph is
    one line more than its full lines: close enough to tell a short row from a long one)."""
    per_line = max(1, (width - 170) // _TWIPS_PER_CHAR)
    if isinstance(cell, str):
        return cell.count("\n") + 1 + len(cell) // per_line
    total = 0
    for paragraph in cell:
        if isinstance(paragraph, str):
            length = len(paragraph)
        else:
            length = sum(len(run) if isinstance(run, str) else len(run[0]) for run in paragraph)
        total += 1 + length // per_line
    return total


def _footer(template: str) -> str:
    """Runs of the footer: its text with ``{page}`` / ``{pages}`` as PAGE / NUMPAGES fields."""
    runs = []
    for piece in re.split(r"(\{page\}|\{pages\})", template):
        if piece == "{page}":
            runs.append(docx_parts()["field"].format(instruction="PAGE"))
        elif piece == "{pages}":
            runs.append(docx_parts()["field"].format(instruction="NUMPAGES"))
        elif piece:
            runs.append(f'<w:r><w:t xml:space="preserve">{xml_text(piece)}</w:t></w:r>')
    return "".join(runs)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return width, height
