"""The documents as an office prints them: converted to PDF by headless LibreOffice, read by
poppler. A4 in the right orientation, Times New Roman (Liberation Serif where it stands in),
12–14 pt, page numbers, header words whole, every row's text on the page.

Skips, saying why, where LibreOffice (``soffice``) or poppler-utils is missing; ``.ci/run``
installs both from Debian's packages. To look at the pages: ``KEEP_DOCUMENT_PDFS=dir``, then
``pdftoppm -png``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exports.documents.kinds import DocumentKind
from exports.documents.templates import template
from tests.conftest import World
from tests.documents_data import EVIL_TITLE, make_season
from tests.docx_reader import Docx, read
from tests.test_documents import build
from tests.test_export_print import SOFFICE, _font_sizes, _run

POPPLER = shutil.which("pdfinfo") and shutil.which("pdftotext") and shutil.which("pdffonts")
pytestmark = pytest.mark.skipif(
    SOFFICE is None or not POPPLER,
    reason="needs LibreOffice (soffice) and poppler-utils (pdfinfo, pdftotext, pdffonts): "
    "apt-get install libreoffice-writer-nogui poppler-utils fonts-liberation",
)
A4 = (595.3, 841.9)  # points, portrait
KINDS = {
    DocumentKind.SCHOOL: "school_report",
    DocumentKind.ACTIVITIES: "activities",
    DocumentKind.MUNICIPAL: "municipal",
    DocumentKind.NOTE: "note",
}


@pytest.fixture
async def pdfs(
    world: World, session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> dict[DocumentKind, Path]:
    await make_season(world, session_factory)
    files = []
    for kind in DocumentKind:
        both = [world.school_a.id, world.school_b.id]
        schools = [world.school_a.id] if kind == DocumentKind.SCHOOL else both
        document, _doc = await build(session_factory, kind, schools)
        path = tmp_path / f"{kind}.docx"
        path.write_bytes(document.data)
        files.append(str(path))
    assert SOFFICE is not None
    # One LibreOffice for all four, with a profile of its own (parallel runs don't clash).
    profile = (tmp_path / f"lo-{os.getpid()}").as_uri()
    convert = [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf"]
    _run(*convert, "--outdir", str(tmp_path), *files)
    if keep := os.environ.get("KEEP_DOCUMENT_PDFS"):  # to look at the pages: pdftoppm -png
        for kind in DocumentKind:
            shutil.copy(tmp_path / f"{kind}.pdf", keep)
    return {kind: tmp_path / f"{kind}.pdf" for kind in DocumentKind}


async def test_documents_print_on_a4_in_named_fonts_with_page_numbers(pdfs) -> None:
    for kind, pdf in pdfs.items():
        spec = template(KINDS[kind])
        info = _run("pdfinfo", "-f", "1", "-l", "999", str(pdf))
        sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
        assert sizes, kind
        expected = A4[::-1] if spec.get("landscape") else A4
        for width, height in sizes:
            assert (float(width), float(height)) == pytest.approx(expected, abs=0.5), kind
        fonts = _run("pdffonts", str(pdf))
        assert "LiberationSerif" in fonts or "TimesNewRoman" in fonts, (kind, fonts)
        drawn = _font_sizes(pdf)
        assert drawn and min(drawn) >= 11.5 and max(drawn) <= 14.5, (kind, sorted(set(drawn)))
        text = _run("pdftotext", "-layout", str(pdf), "-")
        pages = len(sizes)
        assert f"Страница 1 из {pages}" in text and f"Страница {pages} из {pages}" in text, kind
        _header_words_whole(text, spec, read(pdf.with_suffix(".docx").read_bytes()), kind)


def _header_words_whole(text: str, spec: dict[str, Any], doc: Docx, kind: DocumentKind) -> None:
    """No header word broken across lines: a fragment would be a word of its own in the PDF
    (one the document itself doesn't have)."""
    titles = [
        column["title"]
        for key in ("columns", "school_columns", "action_columns")
        for column in spec.get(key, [])
    ]
    headers = {word for title in titles for word in re.findall(r"\w+", title)}
    written = doc.text + "\n".join("\n".join(row) for row in doc.rows)
    own = set(re.findall(r"\w+", written))
    fragments = {
        word
        for word in set(re.findall(r"\w+", text)) - own
        for header in headers
        if len(word) >= 2 and word != header and header.startswith(word)
    }
    assert not fragments, (kind, fragments)


async def test_what_the_tables_hold_is_on_the_page(pdfs) -> None:
    flat = {
        kind: re.sub(r"\s+", "", _run("pdftotext", "-raw", str(pdf), "-"))
        for kind, pdf in pdfs.items()
    }
    school = flat[DocumentKind.SCHOOL]
    for words in (
        "Проведениесамодиагностики",
        "+(среднийуровень)",
        "Образовательнаясреда",
        "https://school.ru/news/1",
        "файл:протокол.pdf",
        "Билетвбудущее(до20.09.2026)",
    ):
        assert words in school, words
    activities = flat[DocumentKind.ACTIVITIES]
    assert re.sub(r"\s+", "", EVIL_TITLE) in activities  # as typed, nothing evaluated
    assert "Урокшколы" in activities and "25обучающихся5–9классов" in activities
    assert "Проверкакураторамиотчётовшкол" in flat[DocumentKind.MUNICIPAL]
    note = flat[DocumentKind.NOTE]
    assert "5.Школы,требующиевнимания" in note and "Источниксведений" in note
    if shutil.which("pdfimages"):
        images = _run("pdfimages", "-list", str(pdfs[DocumentKind.NOTE]))
        kinds = [line.split()[2] for line in images.splitlines()[2:]]
        assert kinds.count("image") == 1  # the chart
