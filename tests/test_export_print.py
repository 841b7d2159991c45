"""The export as an office prints it: converted to PDF by headless LibreOffice, read by poppler.

Skips, saying why, where LibreOffice (``soffice``) or poppler-utils (``pdfinfo``, ``pdftotext``)
is missing; ``.ci/run`` installs both from Debian's packages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exports.xlsx import build_export
from exports.xlsx_sheets import (
    DIAGNOSTIC_COLUMNS,
    REPORT_COLUMNS,
    ROADMAP_COLUMNS,
    SUMMARY_COLUMNS,
)
from models import ActivityReport, Evidence, EvidenceKind, Mark, RoadmapItem
from tests.conftest import World

TZ = ZoneInfo("Europe/Moscow")
START, END = date(2026, 11, 16), date(2026, 11, 22)
TODAY = date(2026, 11, 25)
A4_LANDSCAPE = (841.89, 595.28)  # points
MIN_FONT_POINTS = 8.0

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
POPPLER = shutil.which("pdfinfo") and shutil.which("pdftotext")
pytestmark = pytest.mark.skipif(
    SOFFICE is None or not POPPLER,
    reason="needs LibreOffice (soffice) and poppler-utils (pdfinfo, pdftotext): "
    "apt-get install libreoffice-calc-nogui poppler-utils fonts-crosextra-carlito",
)

LONG = (
    "Провели открытое занятие для родителей и педагогов: разобрали результаты диагностики, "
    "наметили шаги по дорожной карте, договорились о следующих встречах и распределили "
    "ответственных за каждое направление работы в течение учебного года"
)
FORMULA_LIKE = "-2+3 отдел"


async def _week(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    """A week of one school: long texts, several links per report, formula-like text."""
    school = world.school_a
    async with session_factory() as session, session.begin():
        items = [
            RoadmapItem(
                school_id=school.id,
                position=n,
                number=f"{n}.",
                direction="knowledge",
                title=f"{LONG} (пункт {n}, итогпункта{n})",
                due_raw="В течение учебного года, по отдельному графику",
                due_date=date(2026, 11, 1 + n),
            )
            for n in range(1, 9)
        ]
        session.add_all(items)
        await session.flush()
        for n in range(1, 25):
            report = ActivityReport(
                school_id=school.id,
                author_id=world.teacher.id,
                roadmap_item_id=items[n % len(items)].id,
                held_on=date(2026, 11, 16 + n % 7),
                title=FORMULA_LIKE if n == 1 else f"Педагогический совет «Цели года» №{n}",
                organizer="Заместитель директора по учебно-воспитательной работе",
                mark=Mark.DONE if n % 3 else Mark.PARTIAL,
                description=f"{LONG}. {LONG} (запись {n}, конецотчёта{n})",
                participants_count=12,
                participants_category="педагогов",
            )
            session.add(report)
            await session.flush()
            session.add_all(
                [
                    Evidence(
                        report_id=report.id,
                        kind=EvidenceKind.LINK,
                        url=f"https://vk.com/wall-2170{n}_{n}{n}{n}",
                    ),
                    Evidence(
                        report_id=report.id,
                        kind=EvidenceKind.LINK,
                        url=f"https://sosh2-dalnerechensk.edusite.ru/p{n}aa1.html",
                    ),
                    Evidence(
                        report_id=report.id,
                        kind=EvidenceKind.DOCUMENT,
                        file_name=f"протокол_{n}.pdf",
                    ),
                ]
            )


def _run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd, check=True)
    return done.stdout


def _font_sizes(pdf: Path) -> list[float]:
    """Sizes of the text LibreOffice drew: every ``Tf`` operator, times the text matrix's scale
    when one follows (LibreOffice writes sizes into ``Tf``, with an unscaled matrix)."""
    data = pdf.read_bytes()
    sizes: list[float] = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            text = zlib.decompress(stream).decode("latin-1")
        except zlib.error:
            continue
        for block in re.findall(r"BT(.*?)ET", text, re.DOTALL):
            scale = 1.0
            matrix = re.search(
                r"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) [-\d.]+ [-\d.]+ Tm", block
            )
            if matrix:
                scale = abs(float(matrix.group(4)))
            sizes += [float(size) * scale for size in re.findall(r"/F\d+ ([\d.]+) Tf", block)]
    return sizes


@pytest.fixture
async def pdf(
    world: World, session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> Path:
    await _week(world, session_factory)
    xlsx = tmp_path / "export.xlsx"
    async with session_factory() as session:
        await build_export(
            session,
            schools=[world.school_a.id],
            start=START,
            end=END,
            tz=TZ,
            out=xlsx,
            today=TODAY,
        )
    assert SOFFICE is not None
    # A profile of its own, so parallel runs (and a desktop LibreOffice) don't clash.
    profile = (tmp_path / f"lo-{os.getpid()}").as_uri()
    _run(
        SOFFICE,
        f"-env:UserInstallation={profile}",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        str(tmp_path),
        str(xlsx),
    )
    out = tmp_path / "export.pdf"
    if keep := os.environ.get("KEEP_EXPORT_PDF"):  # to look at the pages: pdftoppm -png
        shutil.copy(out, keep)
    return out


async def test_export_prints_on_a4_legibly(pdf: Path) -> None:
    info = _run("pdfinfo", "-f", "1", "-l", "999", str(pdf))
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert len(sizes) >= 4  # every sheet prints
    for width, height in sizes:  # LibreOffice rounds A4 to its own units
        assert (float(width), float(height)) == pytest.approx(A4_LANDSCAPE, abs=0.5)

    fonts = _font_sizes(pdf)
    assert fonts and min(fonts) >= MIN_FONT_POINTS
    assert "Carlito" in _run("pdffonts", str(pdf)) or "Calibri" in _run("pdffonts", str(pdf))

    text = _run("pdftotext", "-layout", str(pdf), "-")
    assert f"Мероприятия за {START:%d.%m.%Y}–{END:%d.%m.%Y} · Школы (1): СОШ №2" in text
    assert f"Период: {START:%d.%m.%Y}–{END:%d.%m.%Y}" in text
    pages = len(sizes)
    assert f"Страница 1 из {pages}" in text and f"Страница {pages} из {pages}" in text
    # Shown as typed: no apostrophe in front, and not evaluated (to 1).
    assert FORMULA_LIKE in text and "'" + FORMULA_LIKE not in text
    assert "12 педагогов" in text

    # No header word broken across lines: a fragment would be a word of its own in the PDF.
    words = set(re.findall(r"\w+", text))
    headers = {
        word
        for columns in (SUMMARY_COLUMNS, REPORT_COLUMNS, ROADMAP_COLUMNS, DIAGNOSTIC_COLUMNS)
        for column in columns
        for word in re.findall(r"\w+", column.title)
    }
    fragments = {
        word
        for word in words
        for header in headers
        if len(word) >= 2 and word != header and header.startswith(word) and word not in headers
    }
    assert not fragments

    # Wrapped texts are whole (rows tall enough) and every link is readable.
    flat = re.sub(r"\s+", "", _run("pdftotext", "-raw", str(pdf), "-"))
    for n in range(1, 25):
        assert f"конецотчёта{n})" in flat
        assert f"https://vk.com/wall-2170{n}_{n}{n}{n}" in flat
        assert f"https://sosh2-dalnerechensk.edusite.ru/p{n}aa1.html" in flat
    for n in range(1, 9):
        assert f"итогпункта{n})" in flat
