"""Reads a generated .docx back with the standard library, as a person would see it: the body's
paragraphs and tables as text, which rows repeat as headers, links, pictures, page setup."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    repeated_header: bool


@dataclass
class Docx:
    parts: dict[str, bytes]
    paragraphs: list[tuple[str, str]] = field(default_factory=list)  # (style, text) outside tables
    tables: list[Table] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(text for _style, text in self.paragraphs)

    @property
    def rows(self) -> list[list[str]]:
        """Every table's rows after its header, continuation tables included, in order."""
        return [row for table in self.tables for row in table.rows]

    def xml(self, name: str) -> ElementTree.Element:
        return ElementTree.fromstring(self.parts[name])

    def links(self) -> dict[str, str]:
        """Relationship id -> target of the document's hyperlinks."""
        rels = self.xml("word/_rels/document.xml.rels")
        return {
            rel.get("Id", ""): rel.get("Target", "")
            for rel in rels.iter(f"{PKG_REL}Relationship")
            if rel.get("Type", "").endswith("/hyperlink")
        }

    def clicked(self) -> list[str]:
        """The addresses behind the body's hyperlinks, in order."""
        links = self.links()
        body = self.xml("word/document.xml")
        return [links[link.get(f"{R}id", "")] for link in body.iter(f"{W}hyperlink")]

    def pictures(self) -> list[str]:
        return [name for name in self.parts if name.startswith("word/media/")]


def _text(element: ElementTree.Element) -> str:
    """A paragraph's text: its runs' texts (hyperlinks included), tabs and breaks as spaces."""
    pieces = []
    for node in element.iter():
        if node.tag == f"{W}t":
            pieces.append(node.text or "")
        elif node.tag in (f"{W}tab", f"{W}br"):
            pieces.append(" ")
    return "".join(pieces)


def _cell(cell: ElementTree.Element) -> str:
    return "\n".join(_text(p) for p in cell.findall(f"{W}p"))


def read(data: bytes) -> Docx:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    for name, content in parts.items():  # every XML part is well-formed
        if name.endswith((".xml", ".rels")):
            ElementTree.fromstring(content)
    doc = Docx(parts)
    body = doc.xml("word/document.xml").find(f"{W}body")
    assert body is not None
    for block in body:
        if block.tag == f"{W}p":
            style = block.find(f"{W}pPr/{W}pStyle")
            doc.paragraphs.append(
                (style.get(f"{W}val", "") if style is not None else "", _text(block))
            )
        elif block.tag == f"{W}tbl":
            rows = block.findall(f"{W}tr")
            header = [_cell(c) for c in rows[0].findall(f"{W}tc")]
            repeated = rows[0].find(f"{W}trPr/{W}tblHeader") is not None
            doc.tables.append(
                Table(
                    header, [[_cell(c) for c in r.findall(f"{W}tc")] for r in rows[1:]], repeated
                )
            )
    return doc
