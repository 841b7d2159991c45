"""Benchmark 3: the XLSX export against pandas and raw openpyxl, time and peak memory.

The export (``exports.xlsx.build_export``, read-only engine, as ``main.py export`` runs it) writes
a region's reports of the last year: schools are taken in id order until their reports reach the
wanted row count. Its workbook is then read back, and the very same cells, sheet by sheet, are
written by (a) raw openpyxl write-only appends and (b) pandas ``DataFrame.to_excel`` (a
DataFrame per sheet, openpyxl engine). The baselines get their cells as ready Python lists (no
database, no text sanitising, no styles or hyperlinks), which favours them. Every variant runs
in a fresh process of its own, so its peak RSS (VmHWM) is its own; rounds alternate.

    .venv/bin/python -m bench.export            # 10,000 report rows (small database)
    .venv/bin/python -m bench.export --full     # 100,000 rows, then 1,000,000 rows (ours only)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import (
    FULL,
    PYTHON,
    ROOT,
    SMALL,
    DataSet,
    clean_env,
    describe_machine,
    ensure_dataset,
    machine,
    median,
    save,
    table,
    verdict,
)

TZ = ZoneInfo("Europe/Moscow")
TIME_RATIO_TARGET = 1.3
VARIANTS = ("ours", "openpyxl", "styled", "pandas")
MEMORY_TARGET_MB = 150.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    """The peak RSS of this process image: VmHWM. Not ru_maxrss, which Linux carries over
    from the parent through fork and exec (it reported the parent's size here)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _period() -> tuple[date, date]:
    today = datetime.now(TZ).date()
    return today - timedelta(days=366), today


# --- the variants, each run in a child process ---------------------------------------------


async def _ours(url: str, max_school: int, out: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from bot.db.engine import create_engine, create_session_factory
    from exports.xlsx import build_export
    from models import School

    start, end = _period()
    engine = create_engine(url, read_only=True)
    before = _rss_mb()
    started = time.perf_counter()
    try:
        async with create_session_factory(engine)() as session:
            summary = await build_export(
                session,
                schools=select(School.id).where(School.id <= max_school),
                start=start,
                end=end,
                tz=TZ,
                out=out,
            )
    finally:
        await engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "rss_before_mb": before,
        "reports": summary.reports,
        "rows": summary.schools + summary.reports + summary.items + summary.diagnostics,
    }


def _raw_openpyxl(sheets: list[tuple[str, list[list[Any]]]], out: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(out)


def _styled_openpyxl(sheets: list[tuple[str, list[list[Any]]]], out: Path) -> None:
    """Write-only appends with a named style on every cell, set through openpyxl's public API:
    what styling every cell costs (the export did so until 23.11.2026), without the database."""
    from datetime import datetime as dt

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, NamedStyle

    wrap = Alignment(wrap_text=True, vertical="top")
    workbook = Workbook(write_only=True)
    for style in (
        NamedStyle("header", font=Font(bold=True), alignment=wrap),
        NamedStyle("date", alignment=wrap, number_format="DD.MM.YYYY"),
        NamedStyle("wrap", alignment=wrap),
        NamedStyle("text", alignment=Alignment(vertical="top")),
    ):
        workbook.add_named_style(style)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for number, row in enumerate(rows):
            cells: list[Any] = []
            for value in row:
                if value is None:
                    cells.append(None)
                    continue
                cell = WriteOnlyCell(sheet, value)
                cell.style = (
                    "header"
                    if number == 0
                    else "date"
                    if isinstance(value, dt)
                    else "wrap"
                    if isinstance(value, str)
                    else "text"
                )
                cells.append(cell)
            sheet.append(cells)
    workbook.save(out)


def _pandas(sheets: list[tuple[str, list[list[Any]]]], out: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for title, rows in sheets:
            # The export's title row, then the header and the data.
            frame = pd.DataFrame(rows[2:], columns=rows[1])
            frame.to_excel(writer, sheet_name=title, index=False, startrow=1)
            writer.sheets[title].cell(1, 1, rows[0][0])


def child(variant: str, source: str, out: Path) -> dict[str, Any]:
    if variant == "ours":
        url, max_school = source.rsplit("|", 1)
        result = asyncio.run(_ours(url, int(max_school), out))
    else:
        with open(source, "rb") as file:
            sheets = pickle.load(file)
        write = {"openpyxl": _raw_openpyxl, "styled": _styled_openpyxl, "pandas": _pandas}[variant]
        if variant == "pandas":
            import pandas  # noqa: F401 - imported before the clock starts, like openpyxl
        else:
            import openpyxl  # noqa: F401
        before = _rss_mb()
        started = time.perf_counter()
        write(sheets, out)
        result = {
            "seconds": time.perf_counter() - started,
            "rss_before_mb": before,
            "rows": sum(len(rows) - 1 for _, rows in sheets),
        }
    return result | {"peak_rss_mb": _peak_mb(), "bytes": out.stat().st_size}


# --- the parent ------------------------------------------------------------------------------


def _run_child(variant: str, source: str, out: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [PYTHON, "-m", "bench.export", "--child", variant, "--source", source, "--out", str(out)],
        env=clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def _schools_for(data: DataSet, rows: int) -> tuple[int, int]:
    """The largest school id such that schools up to it have at least ``rows`` reports."""
    import sqlite3

    start, end = _period()
    with sqlite3.connect(data.path) as conn:
        counts = conn.execute(
            "SELECT school_id, COUNT(*) FROM activity_reports WHERE held_on BETWEEN ? AND ? "
            "GROUP BY school_id ORDER BY school_id",
            (start.isoformat(), end.isoformat()),
        ).fetchall()
    conn.close()
    total = 0
    for school_id, count in counts:
        total += count
        if total >= rows:
            return school_id, total
    return counts[-1][0], total


def _cells(path: Path) -> list[tuple[str, list[list[Any]]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    sheets = [
        (sheet.title, [list(row) for row in sheet.iter_rows(values_only=True)])
        for sheet in workbook.worksheets
    ]
    workbook.close()
    return sheets


def compare(data: DataSet, rows: int, rounds: int, workdir: Path) -> dict[str, Any]:
    max_school, reports = _schools_for(data, rows)
    source = f"{data.url}|{max_school}"
    print(f"{rows:,} rows: schools 1..{max_school}, {reports:,} reports", flush=True)
    # Our workbook, read back: the cells every variant writes.
    sample = workdir / "ours.xlsx"
    asyncio.run(_ours(data.url, max_school, sample))
    cells = workdir / "cells.pickle"
    with open(cells, "wb") as file:
        pickle.dump(_cells(sample), file)
    sample.unlink()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for round_ in range(rounds):
        order = list(VARIANTS)
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        for variant in order:
            result = _run_child(
                variant, source if variant == "ours" else str(cells), workdir / f"{variant}.xlsx"
            )
            runs[variant].append(result)
            print(
                f"  {variant:8} {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
                f" (before writing {result['rss_before_mb']:.0f} MB)",
                flush=True,
            )
    cells.unlink()
    summary = {
        variant: {
            "seconds_median": round(median([r["seconds"] for r in results]), 2),
            "peak_rss_mb_median": round(median([r["peak_rss_mb"] for r in results]), 1),
            "rss_before_mb_median": round(median([r["rss_before_mb"] for r in results]), 1),
            "rows": results[0]["rows"],
        }
        for variant, results in runs.items()
    }
    ours = summary["ours"]["seconds_median"]
    return {
        "report_rows": reports,
        "max_school_id": max_school,
        "runs": runs,
        "summary": summary,
        "ours_over_openpyxl": round(ours / summary["openpyxl"]["seconds_median"], 2),
        "ours_over_pandas": round(ours / summary["pandas"]["seconds_median"], 2),
        "ours_over_styled": round(ours / summary["styled"]["seconds_median"], 2),
    }


def flat(data: DataSet, rows: int, workdir: Path) -> dict[str, Any]:
    max_school, reports = _schools_for(data, rows)
    print(f"{rows:,} rows (ours only): schools 1..{max_school}, {reports:,} reports", flush=True)
    result = _run_child("ours", f"{data.url}|{max_school}", workdir / "big.xlsx")
    print(
        f"  ours     {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return {"report_rows": reports, "max_school_id": max_school, "result": result}


def report(payload: dict[str, Any]) -> str:
    lines = []
    for case in payload["comparisons"]:
        s = case["summary"]
        time_ok = case["ours_over_openpyxl"] <= TIME_RATIO_TARGET
        faster = case["ours_over_pandas"] < 1
        lines.append(
            f"**{case['report_rows']:,} report rows** ({s['ours']['rows']:,} rows in all)"
        )
        lines.append("")
        lines.append(
            table(
                ["variant", "time, s (median)", "peak RSS, MB", "RSS before writing, MB"],
                [
                    [
                        name,
                        f"{s[key]['seconds_median']:.2f}",
                        f"{s[key]['peak_rss_mb_median']:.0f}",
                        f"{s[key]['rss_before_mb_median']:.0f}",
                    ]
                    for key, name in (
                        ("ours", "build_export (from the database)"),
                        ("openpyxl", "raw openpyxl write-only (cells ready)"),
                        ("styled", "openpyxl write-only, a named style per cell (cells ready)"),
                        ("pandas", "pandas DataFrame.to_excel (cells ready)"),
                    )
                ],
            )
        )
        lines.append("")
        lines.append(
            f"ours ÷ raw openpyxl: {case['ours_over_openpyxl']:.2f}× (target ≤ "
            f"{TIME_RATIO_TARGET} — {verdict(time_ok)}); ours ÷ pandas: "
            f"{case['ours_over_pandas']:.2f}× (target < 1 — {verdict(faster)}); ours ÷ styled "
            f"openpyxl: {case['ours_over_styled']:.2f}×; peak "
            f"{s['ours']['peak_rss_mb_median']:.0f} MB (target ≤ {MEMORY_TARGET_MB:g} — "
            f"{verdict(s['ours']['peak_rss_mb_median'] <= MEMORY_TARGET_MB)})"
        )
        lines.append("")
    for case in payload["flat"]:
        r = case["result"]
        lines.append(
            f"**{case['report_rows']:,} report rows**, ours only: {r['seconds']:.1f} s, "
            f"{r['rows']:,} rows in all, peak RSS {r['peak_rss_mb']:.0f} MB (target ≤ "
            f"{MEMORY_TARGET_MB:g} — {verdict(r['peak_rss_mb'] <= MEMORY_TARGET_MB)})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 and 1,000,000 rows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.source, Path(args.out))))
        return 0
    info = machine()
    print(describe_machine(info), flush=True)
    data = FULL if args.full else SMALL
    ensure_dataset(data)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        workdir = Path(tmp)
        if args.full:
            comparisons = [compare(data, 100_000, args.rounds, workdir)]
            flats = [flat(data, 1_000_000, workdir)]
        else:
            comparisons = [compare(data, 10_000, args.rounds, workdir)]
            flats = []
    payload = {"comparisons": comparisons, "flat": flats}
    path = save("export" + ("_full" if args.full else ""), payload)
    print(report(payload))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
