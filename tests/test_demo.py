"""The demo data generator (bot/db/demo.py) and `python main.py demo` on a tiny size."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.demo import HISTORY_DAYS, DemoError, generate
from bot.db.engine import create_engine
from models import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    Municipality,
    ReviewState,
    RoadmapItem,
    Role,
    School,
    User,
    curator_schools,
)
from models.stats import school_figures
from tests.conftest import ON_POSTGRES

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 3, 16)


async def test_generated_rows_are_consistent(engine, session_factory) -> None:
    summary = await generate(engine, schools=7, reports=300, seed=3, today=TODAY)

    assert (summary.municipalities, summary.schools, summary.reports, summary.runs) == (
        1,
        7,
        300,
        7,
    )
    async with session_factory() as session:
        schools = {s.id: s for s in await session.scalars(select(School))}
        users = {u.id: u for u in await session.scalars(select(User))}
        items = {i.id: i for i in await session.scalars(select(RoadmapItem))}
        reports = list(await session.scalars(select(ActivityReport)))
        evidence = list(await session.scalars(select(Evidence)))
        runs = list(await session.scalars(select(DiagnosticRun)))
        curated = Counter(
            school_id for _, school_id in await session.execute(select(curator_schools))
        )
        municipalities = await session.scalar(select(func.count()).select_from(Municipality))

    assert len(schools) == 7 and municipalities == 1
    assert len(users) == summary.users == 7 * 3 + 1 + 1  # staff, one curator, one coordinator
    assert curated == Counter(list(schools))  # every school has exactly one curator
    per_school = Counter(item.school_id for item in items.values())
    assert set(per_school) == set(schools) and all(6 <= n <= 14 for n in per_school.values())
    assert any(item.due_date is not None for item in items.values())
    assert len(reports) == 300 and len(evidence) == summary.evidence
    for report in reports:
        author = users[report.author_id]
        assert author.school_id == report.school_id
        assert author.role in (Role.TEACHER, Role.COORDINATOR)
        if report.roadmap_item_id is not None:
            item = items[report.roadmap_item_id]
            assert item.school_id == report.school_id and item.title == report.title
        assert TODAY - timedelta(days=HISTORY_DAYS) <= report.held_on <= TODAY
        reviewed = report.review_state != ReviewState.SUBMITTED
        assert (report.reviewer_id is not None) == reviewed == (report.reviewed_at is not None)
        if reviewed:
            assert users[report.reviewer_id].role == Role.CURATOR
    report_ids = {r.id for r in reports}
    assert all(e.report_id in report_ids for e in evidence)
    assert all(e.url.startswith("https://") for e in evidence if e.url)
    for run in runs:
        assert run.result is not None and run.completed_at is not None
        assert run.result["overall"]["level"] == run.level
        assert {"code", "title", "points", "max_points", "level", "deficits"} <= set(
            run.result["directions"][0]
        )

    async with session_factory() as session:
        figures = await school_figures(
            session, list(schools), today=TODAY, week_start=TODAY - timedelta(days=7)
        )
    assert sum(f.reports_total for f in figures) == 300
    assert sum(f.items_total for f in figures) == len(items)


async def test_refuses_a_database_with_schools_unless_forced(engine) -> None:
    await generate(engine, schools=2, reports=10, seed=1, today=TODAY)
    with pytest.raises(DemoError):
        await generate(engine, schools=2, reports=10, seed=1, today=TODAY)
    summary = await generate(engine, schools=2, reports=10, seed=1, today=TODAY, force=True)
    assert summary.schools == 2
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(School)) == 4


@pytest.mark.skipif(ON_POSTGRES, reason="compares two SQLite files")
async def test_the_same_seed_gives_the_same_rows(migrated_template: Path, tmp_path: Path) -> None:
    dumps = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copyfile(migrated_template, path)
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await generate(engine, schools=4, reports=80, seed=11, today=TODAY)
        finally:
            await engine.dispose()
        with sqlite3.connect(path) as conn:
            dumps.append(
                [
                    conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                    for table in ("schools", "users", "roadmap_items", "activity_reports")
                ]
            )
        conn.close()
    assert dumps[0] == dumps[1]


def test_demo_command_fills_a_new_database(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"

    def demo(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                str(ROOT / "main.py"),
                "demo",
                "--schools",
                "3",
                "--reports",
                "40",
                *extra,
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = demo("--seed", "5")
    assert first.returncode == 0, first.stderr
    assert "3 schools" in first.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM activity_reports").fetchone() == (40,)
        assert conn.execute("SELECT COUNT(*) FROM schools").fetchone() == (3,)
    conn.close()
    again = demo()
    assert again.returncode == 1 and "--force" in again.stderr
    assert demo("--force").returncode == 0
