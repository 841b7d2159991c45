"""Benchmark 2: /status figures at national scale, SQL aggregate against counting in Python.

On a demo database (full: 40,000 schools, 1.2 million reports, 40,000 diagnostic runs) this times
``models.stats.school_figures`` — the one statement behind /status, the curator's table and the
export's «Сводка» — for one school, a curator's schools (about 20) and a municipal coordinator's
schools (about 300), each call in a fresh session of the bot's own engine, as a handler runs it.
Beside it, in the same loop and for the same schools, the alternative: load the rows of those
schools into Python and count there. Both results are compared, so the baseline is a real one.
One school's whole /status screen (figures, progress by direction, overdue items, latest reports)
is timed too.

    .venv/bin/python -m bench.status            # 2,000 schools, 60,000 reports
    .venv/bin/python -m bench.status --full     # 40,000 schools, 1.2 million reports
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, TypeVarTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import (
    FULL,
    SMALL,
    DataSet,
    describe_machine,
    ensure_dataset,
    machine,
    median,
    percentile,
    save,
    table,
    verdict,
)
from bot.db.engine import create_engine, create_session_factory
from models import (
    ActivityReport,
    DiagnosticRun,
    Mark,
    Questionnaire,
    ReviewState,
    RoadmapItem,
    Role,
    RunStatus,
    School,
    User,
)
from models.stats import (
    SchoolFigures,
    direction_progress,
    latest_reports,
    overdue_items,
    school_figures,
    school_filter,
)
from models.users import visible_schools_query

TZ = ZoneInfo("Europe/Moscow")
TARGETS_MS = {"one school": 10.0, "municipality (~300 schools)": 150.0}


def _today() -> date:
    return datetime.now(TZ).date()


def _week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())


async def python_figures(session: AsyncSession, schools: Any, today: date) -> list[SchoolFigures]:
    """The same figures from the rows themselves, counted in Python (the baseline)."""
    week_start = _week_start(today)
    week_end = week_start + timedelta(days=6)
    names = {
        sid: (name, short)
        for sid, name, short in await session.execute(
            select(School.id, School.name, School.short_name).where(
                school_filter(School.id, schools)
            )
        )
    }
    counters: dict[int, dict[str, Any]] = defaultdict(
        lambda: (
            dict.fromkeys(
                ("week", "total", "done", "partial", "not_done", "awaiting", "returned"), 0
            )
            | {
                "last": None,
                "items": 0,
                "covered": 0,
                "overdue": 0,
                "level": None,
                "level_at": None,
            }
        )
    )
    item_marks: dict[int, set[Mark]] = defaultdict(set)
    reports = await session.execute(
        select(
            ActivityReport.school_id,
            ActivityReport.held_on,
            ActivityReport.mark,
            ActivityReport.review_state,
            ActivityReport.roadmap_item_id,
        ).where(school_filter(ActivityReport.school_id, schools))
    )
    for school_id, held_on, mark, state, item_id in reports:
        c = counters[school_id]
        c["total"] += 1
        if week_start <= held_on <= week_end:
            c["week"] += 1
        c[mark.value] += 1
        if state == ReviewState.SUBMITTED:
            c["awaiting"] += 1
        elif state == ReviewState.RETURNED:
            c["returned"] += 1
        if c["last"] is None or held_on > c["last"]:
            c["last"] = held_on
        if item_id is not None:
            item_marks[item_id].add(mark)
    items = await session.execute(
        select(RoadmapItem.id, RoadmapItem.school_id, RoadmapItem.due_date).where(
            school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False)
        )
    )
    for item_id, school_id, due in items:
        c = counters[school_id]
        c["items"] += 1
        marks = item_marks.get(item_id)
        if marks:
            c["covered"] += 1
        if due is not None and due < today and not (marks and Mark.DONE in marks):
            c["overdue"] += 1
    runs = await session.execute(
        select(DiagnosticRun.id, DiagnosticRun.school_id, DiagnosticRun.level)
        .add_columns(DiagnosticRun.completed_at)
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(
            school_filter(DiagnosticRun.school_id, schools),
            DiagnosticRun.status == RunStatus.COMPLETED,
            Questionnaire.kind == "levels",
        )
    )
    best: dict[int, tuple[Any, ...]] = {}
    for run_id, school_id, level, completed in runs:
        key = (completed is not None, completed or datetime.min.replace(tzinfo=TZ), run_id)
        if school_id not in best or key > best[school_id][0]:
            best[school_id] = (key, level, completed)
    figures = []
    for school_id, (name, short) in names.items():
        c = counters[school_id]
        _, level, level_at = best.get(school_id, (None, None, None))
        figures.append(
            SchoolFigures(
                school_id,
                name,
                short,
                c["week"],
                c["total"],
                c["done"],
                c["partial"],
                c["not_done"],
                c["items"],
                c["covered"],
                c["overdue"],
                c["awaiting"],
                c["returned"],
                c["last"],
                level,
                level_at,
            )
        )
    return sorted(figures, key=lambda f: (f.short_name, f.school_id))


async def sql_figures(session: AsyncSession, schools: Any, today: date) -> list[SchoolFigures]:
    return await school_figures(session, schools, today=today, week_start=_week_start(today))


async def status_screen(session: AsyncSession, school_id: int, today: date) -> None:
    """Every query of one school's /status screen (handlers/status.py `_school_detail`)."""
    await school_figures(session, [school_id], today=today, week_start=_week_start(today))
    await direction_progress(session, school_id, today=today)
    await overdue_items(session, school_id, today=today, limit=10)
    await latest_reports(session, school_id, limit=5)


Ts = TypeVarTuple("Ts")
R = TypeVar("R")


async def _timed(
    factory: async_sessionmaker[AsyncSession],
    call: Callable[[AsyncSession, *Ts], Awaitable[R]],
    *args: *Ts,
) -> tuple[float, R]:
    started = time.perf_counter()
    async with factory() as session:
        result = await call(session, *args)
        await session.commit()
    return (time.perf_counter() - started) * 1000, result


async def run(data: DataSet, repeats: int) -> dict[str, Any]:
    ensure_dataset(data)
    engine = create_engine(data.url)
    factory = create_session_factory(engine)
    rng = random.Random(2)
    today = _today()
    try:
        async with factory() as session:
            school_ids = list(await session.scalars(select(School.id)))
            curators = list(await session.scalars(select(User).where(User.role == Role.CURATOR)))
            municipals = list(
                await session.scalars(select(User).where(User.role == Role.MUNICIPAL))
            )
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("one school", lambda: [rng.choice(school_ids)]),
            ("curator (~20 schools)", lambda: visible_schools_query(rng.choice(curators))),
            ("municipality (~300 schools)", lambda: visible_schools_query(rng.choice(municipals))),
        ]
        rows = []
        for label, pick in cases:
            sql_ms: list[float] = []
            py_ms: list[float] = []
            sizes: list[int] = []
            for index in range(repeats + 3):
                schools = pick()
                # Alternate which goes first, so neither always finds the pages the other read.
                first, second = (sql_figures, python_figures)[:: 1 if index % 2 else -1]
                a_ms, a = await _timed(factory, first, schools, today)
                b_ms, b = await _timed(factory, second, schools, today)
                if a != b:
                    raise RuntimeError(f"{label}: SQL and Python figures differ")
                if index < 3:
                    continue  # warm-up
                s_ms, p_ms = (a_ms, b_ms) if first is sql_figures else (b_ms, a_ms)
                sql_ms.append(s_ms)
                py_ms.append(p_ms)
                sizes.append(len(a))
            rows.append(_row(label, sql_ms, py_ms, sizes))
            print(_line(rows[-1]), flush=True)
        screen_ms = []
        for index in range(repeats + 3):
            school_id = rng.choice(school_ids)
            ms, _ = await _timed(factory, status_screen, school_id, today)
            if index >= 3:
                screen_ms.append(ms)
        rows.append(_row("one school: whole /status screen", screen_ms, None, [1] * repeats))
        print(_line(rows[-1]), flush=True)
    finally:
        await engine.dispose()
    return {
        "data": {"schools": data.schools, "reports": data.reports, "file": data.path.name},
        "repeats": repeats,
        "cases": rows,
    }


def _row(
    label: str, sql_ms: list[float], py_ms: list[float] | None, sizes: list[int]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": label,
        "schools_median": median(sizes),
        "sql_median_ms": round(median(sql_ms), 2),
        "sql_p95_ms": round(percentile(sql_ms, 95), 2),
    }
    if py_ms is not None:
        row |= {
            "python_median_ms": round(median(py_ms), 2),
            "python_p95_ms": round(percentile(py_ms, 95), 2),
            "python_over_sql": round(median(py_ms) / median(sql_ms), 2),
        }
    target = TARGETS_MS.get(label)
    if target is not None:
        row |= {"target_ms": target, "met": row["sql_p95_ms"] <= target}
    return row


def _line(row: dict[str, Any]) -> str:
    text = (
        f"{row['case']}: SQL median {row['sql_median_ms']} ms, p95 {row['sql_p95_ms']} ms"
        f" ({row['schools_median']} schools)"
    )
    if "python_median_ms" in row:
        text += f"; Python median {row['python_median_ms']} ms, p95 {row['python_p95_ms']} ms"
    return text


def report(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["cases"]:
        target = (
            f"≤ {r['target_ms']:g} ms — {verdict(r['met'])} (p95)" if "target_ms" in r else "—"
        )
        rows.append(
            [
                r["case"],
                f"{r['schools_median']:g}",
                f"{r['sql_median_ms']:.1f} / {r['sql_p95_ms']:.1f}",
                (
                    f"{r['python_median_ms']:.1f} / {r['python_p95_ms']:.1f}"
                    if "python_median_ms" in r
                    else "—"
                ),
                f"{r['python_over_sql']:.1f}×" if "python_over_sql" in r else "—",
                target,
            ]
        )
    return table(
        [
            "case",
            "schools",
            "SQL median / p95, ms",
            "Python counting median / p95, ms",
            "Python ÷ SQL",
            "target",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the national-scale database")
    parser.add_argument("--repeats", type=int, help="timed calls per case (default 50 / 200)")
    args = parser.parse_args(argv)
    data = FULL if args.full else SMALL
    repeats = args.repeats or (200 if args.full else 50)
    info = machine()
    print(describe_machine(info), flush=True)
    payload = asyncio.run(run(data, repeats))
    path = save("status" + ("_full" if args.full else ""), payload)
    print(report(payload))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
