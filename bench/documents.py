"""Benchmark 6: the documents of issue 20 for a municipality's year, and the bot meanwhile.

Each document is built as /documents builds it: ``exports.documents.build_document`` through a
read-only engine — the queries on the event loop, the file rendered in a worker thread — for the
first municipality of a demo data set (about 300 schools) and the year up to its latest report;
the school report also for one school (the one with most reports), as a coordinator asks for it.
Beside it, in the same run, the alternative the handler avoids: rendering on the event loop.
While a document is built a ticker on the loop asks to wake every 5 ms; its worst lateness is how
long any other user's update would have waited. ``--libreoffice`` also times converting each file
of the typical municipality to PDF with headless LibreOffice (about how long opening it takes
there) and counts its pages.

    .venv/bin/python -m bench.documents          # the small data set's first municipality
    .venv/bin/python -m bench.documents --full   # also 300 schools with 60,000 reports a year
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.common import (
    SMALL,
    DataSet,
    describe_machine,
    ensure_dataset,
    machine,
    median,
    save,
    table,
    verdict,
)
from bot.db.engine import create_engine, create_session_factory
from exports.documents.build import build_document, module_for
from exports.documents.common import Request
from exports.documents.kinds import DocumentKind
from models import ActivityReport, School

TZ = ZoneInfo("Europe/Moscow")
# 300 schools writing 200 reports a year each: a busy municipality.
DENSE = DataSet("documents", 300, 60_000)
TICK = 0.005
TARGET_SECONDS = 10.0  # «builds in seconds»
TARGET_STALL_MS = 100.0  # no other update waits longer than a form step may take
T = TypeVar("T")


class Ticker:
    """A coroutine that wakes every ``TICK`` seconds and keeps its worst lateness."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, time.perf_counter() - asked - TICK)

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def _timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - started


async def scope(url: str) -> dict[str, Any]:
    """The first municipality's schools, its busiest school and the year to its last report."""
    engine = create_engine(url, read_only=True)
    try:
        async with create_session_factory(engine)() as session:
            municipality = await session.scalar(select(func.min(School.municipality_id)))
            ids = list(
                await session.scalars(
                    select(School.id).where(School.municipality_id == municipality)
                )
            )
            end = await session.scalar(
                select(func.max(ActivityReport.held_on)).where(ActivityReport.school_id.in_(ids))
            )
            assert end is not None
            start = end - timedelta(days=364)
            busiest, reports = (
                await session.execute(
                    select(ActivityReport.school_id, func.count())
                    .where(ActivityReport.school_id.in_(ids), ActivityReport.held_on >= start)
                    .group_by(ActivityReport.school_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).one()
            total = await session.scalar(
                select(func.count())
                .select_from(ActivityReport)
                .where(ActivityReport.school_id.in_(ids), ActivityReport.held_on >= start)
            )
    finally:
        await engine.dispose()
    return {
        "schools": ids,
        "start": start,
        "end": end,
        "busiest": busiest,
        "busiest_reports": reports,
        "reports": total,
    }


async def one_build(
    url: str, kind: DocumentKind, schools: list[int], start: date, end: date, *, thread: bool
) -> dict[str, Any]:
    """One build with the loop watched; split into queries and rendering."""
    engine = create_engine(url, read_only=True)
    today = end + timedelta(days=1)
    try:
        async with Ticker() as ticker, create_session_factory(engine)() as session:
            if thread:
                document, seconds = await _timed(
                    lambda: build_document(
                        session, kind, schools=schools, start=start, end=end, today=today, tz=TZ
                    )
                )
                data, rows = document.data, document.rows
                queries = render = float("nan")
            else:
                module = module_for(kind)
                request = Request(schools, start, end, today, TZ, datetime.now(UTC))
                facts, queries = await _timed(lambda: module.collect(session, request))

                async def on_the_loop() -> tuple[bytes, int]:
                    return module.render_docx(facts)

                (data, rows), render = await _timed(on_the_loop)
                seconds = queries + render
    finally:
        await engine.dispose()
    return {
        "seconds": seconds,
        "queries": queries,
        "render": render,
        "stall_ms": ticker.worst * 1000,
        "kb": len(data) / 1024,
        "rows": rows,
        "data": data,
    }


def libreoffice(data: bytes, workdir: Path) -> tuple[float, int] | None:
    """Seconds headless LibreOffice takes to turn the file into a PDF, and its pages."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdfinfo") is None:
        return None
    source = workdir / "document.docx"
    source.write_bytes(data)
    profile = (workdir / f"lo-{os.getpid()}").as_uri()
    convert = [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf"]
    started = time.perf_counter()
    subprocess.run(
        [*convert, "--outdir", str(workdir), str(source)],
        capture_output=True,
        check=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    info = subprocess.run(
        ["pdfinfo", str(workdir / "document.pdf")], capture_output=True, text=True, check=True
    ).stdout
    pages = next(int(line.split()[1]) for line in info.splitlines() if line.startswith("Pages:"))
    return seconds, pages


async def run_case(data: DataSet, rounds: int, workdir: Path, office: bool) -> dict[str, Any]:
    url = data.url
    found = await scope(url)
    async with Ticker() as idle:  # the machine's own noise: the loop with nothing to do
        await asyncio.sleep(3)
    cases = [(kind, found["schools"]) for kind in DocumentKind]
    cases.insert(0, (DocumentKind.SCHOOL, [found["busiest"]]))
    results = []
    for kind, schools in cases:
        runs: dict[str, list[dict[str, Any]]] = {"thread": [], "loop": []}
        for index in range(rounds):
            # Rounds alternate which variant goes first.
            order = ("thread", "loop") if index % 2 == 0 else ("loop", "thread")
            for variant in order:
                runs[variant].append(
                    await one_build(
                        url,
                        kind,
                        schools,
                        found["start"],
                        found["end"],
                        thread=variant == "thread",
                    )
                )
        last = runs["thread"][-1]
        results.append(
            {
                "kind": kind.value,
                "schools": len(schools),
                "rows": last["rows"],
                "kb": last["kb"],
                "seconds": median([r["seconds"] for r in runs["thread"]]),
                "queries": median([r["queries"] for r in runs["loop"]]),
                "render": median([r["render"] for r in runs["loop"]]),
                "stall_thread_ms": max(r["stall_ms"] for r in runs["thread"]),
                "stall_loop_ms": max(r["stall_ms"] for r in runs["loop"]),
                "libreoffice": libreoffice(last["data"], workdir) if office else None,
            }
        )
        print(
            f"  {kind.value} ({len(schools)} schools): {results[-1]['seconds']:.2f} s", flush=True
        )
    return {
        "data_set": data.path.name,
        "reports": found["reports"],
        "busiest_reports": found["busiest_reports"],
        "period": [found["start"].isoformat(), found["end"].isoformat()],
        "idle_stall_ms": idle.worst * 1000,
        "results": results,
    }


def report(payload: dict[str, Any]) -> str:
    lines = []
    for case in payload["cases"]:
        lines.append(
            f"**{case['data_set']}**: {case['results'][1]['schools']} schools, "
            f"{case['reports']:,} reports held {case['period'][0]} – {case['period'][1]} "
            f"(the busiest school: {case['busiest_reports']})"
        )
        lines.append("")
        rows = []
        for r in case["results"]:
            office = "—"
            if r["libreoffice"] is not None:
                office = f"{r['libreoffice'][0]:.1f} ({r['libreoffice'][1]:,} pages)"
            rows.append(
                [
                    f"{r['kind']} ({r['schools']} school{'s' if r['schools'] > 1 else ''})",
                    f"{r['rows']:,}",
                    f"{r['kb']:,.0f}",
                    f"{r['seconds']:.2f}",
                    f"{r['queries']:.2f} + {r['render']:.2f}",
                    f"{r['stall_thread_ms']:.0f}",
                    f"{r['stall_loop_ms']:.0f}",
                    office,
                ]
            )
        lines.append(
            table(
                [
                    "document",
                    "table rows",
                    "size, KB",
                    "build, s (median)",
                    "queries + rendering, s",
                    "worst loop stall, ms (rendered in a thread)",
                    "the same, rendered on the loop",
                    "LibreOffice to PDF, s (pages)",
                ],
                rows,
            )
        )
        worst = max(r["seconds"] for r in case["results"])
        stall = max(r["stall_thread_ms"] for r in case["results"])
        lines.append("")
        lines.append(
            f"slowest build {worst:.2f} s (target ≤ {TARGET_SECONDS:g} s — "
            f"{verdict(worst <= TARGET_SECONDS)}); worst loop stall while building "
            f"{stall:.0f} ms (target ≤ {TARGET_STALL_MS:g} ms — "
            f"{verdict(stall <= TARGET_STALL_MS)}); with nothing to do, the loop's worst "
            f"lateness was {case['idle_stall_ms']:.0f} ms"
        )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also 300 schools, 60,000 reports")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--libreoffice", action="store_true", help="time LibreOffice opening")
    args = parser.parse_args(argv)
    print(describe_machine(machine()), flush=True)
    # As bot/app.py does after start-up: what is loaded by now stays out of the collector's
    # generations, so a full collection walks only what the documents make.
    gc.collect()
    gc.freeze()
    sets = [SMALL, DENSE] if args.full else [SMALL]
    cases = []
    with tempfile.TemporaryDirectory(prefix="bench-documents-") as tmp:
        for data in sets:
            ensure_dataset(data)
            print(f"{data.path.name}:", flush=True)
            # LibreOffice only for the typical municipality: the dense one's school report is
            # some 12,000 pages, which takes LibreOffice many minutes to lay out.
            office = args.libreoffice and data is SMALL
            cases.append(asyncio.run(run_case(data, args.rounds, Path(tmp), office)))
    payload = {"cases": cases}
    path = save("documents" + ("_full" if args.full else ""), payload)
    print(report(payload))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
