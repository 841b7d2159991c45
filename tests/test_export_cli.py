"""`python main.py export`: a valid workbook without Telegram, progress, defaults, bad input."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import exports.xlsx as xlsx
import exports.xlsx_writer as writer
import main
from bot.config import load_settings
from models import ActivityReport, Mark
from tests.conftest import World
from tests.documents_data import make_surveys

ROOT = Path(__file__).resolve().parent.parent
SHEETS = ["Сводка", "Мероприятия", "Дорожные карты", "Самодиагностика", "Опросы"]


@pytest.fixture
async def reports(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        for day in range(16, 23):
            for school in (world.school_a, world.school_b):
                session.add(
                    ActivityReport(
                        school_id=school.id,
                        held_on=date(2026, 11, day),
                        title=f"Мероприятие {day}",
                        mark=Mark.DONE,
                    )
                )


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return tmp_path


async def run(*args: str) -> int:
    return await asyncio.to_thread(main.main, ["export", *args])


def summary_schools(path: Path) -> list[object]:
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == SHEETS
    return [row[0] for row in workbook["Сводка"].iter_rows(min_row=3, values_only=True)]


async def test_writes_a_valid_workbook_without_a_token(
    world: World, reports, cli_env: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(writer, "PROGRESS_EVERY", 5)
    monkeypatch.setattr(main, "EXPORT_PROGRESS_ROWS", 10)
    out = cli_env / "week.xlsx"

    assert await run("--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)) == 0

    assert summary_schools(out) == ["СОШ №2", "СОШ №5"]
    reports = list(load_workbook(out, read_only=True)["Мероприятия"].iter_rows(min_row=3))
    assert len(reports) == 14
    captured = capsys.readouterr()
    assert "… 10 rows" in captured.err  # progress on stderr
    assert f"{out}: 2 schools, 14 reports" in captured.out
    assert not [p for p in os.listdir(cli_env) if p.endswith(".part")]


async def test_one_school_and_russian_dates(world: World, reports, cli_env: Path):
    out = cli_env / "a.xlsx"
    args = ["--from", "16.11.2026", "--to", "18.11.2026", "--school", str(world.school_b.id)]
    assert await run(*args, "--out", str(out)) == 0
    assert summary_schools(out) == ["СОШ №5"]
    rows = list(load_workbook(out, read_only=True)["Мероприятия"].iter_rows(min_row=3))
    assert len(rows) == 3


def test_defaults_are_the_last_full_week_and_a_dated_name(
    world: World, reports, cli_env: Path, capsys
):
    settings = load_settings()
    args = argparse.Namespace(start=None, end=None, out=None, school=[])
    assert main.cmd_export(settings, args, today=date(2026, 11, 25)) == 0
    out = cli_env / xlsx.export_filename(date(2026, 11, 16), date(2026, 11, 22))
    assert summary_schools(out) == ["СОШ №2", "СОШ №5"]
    assert "14 reports" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "2026-11-31", "--to", "2026-12-01"], "2026-11-31"),
        (["--from", "16/11/2026", "--to", "2026-11-22"], "16/11/2026"),
        (["--from", "2026-11-22", "--to", "2026-11-16"], "--from is after --to"),
        (["--from", "2026-11-16"], "--to"),
    ],
)
async def test_bad_dates_are_one_line_and_exit_code_2(
    cli_env: Path, capsys, args: list[str], needle: str
):
    assert await run(*args, "--out", "x.xlsx") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert not (cli_env / "x.xlsx").exists()


async def test_unknown_school_and_unwritable_path(world: World, cli_env: Path, capsys):
    assert await run("--school", "999999", "--out", "x.xlsx") == 1
    assert "no school with id 999999" in capsys.readouterr().err
    assert await run("--out", str(cli_env / "missing" / "x.xlsx")) == 1
    assert "cannot write" in capsys.readouterr().err


async def test_a_bad_export_schedule_stops_with_one_line(
    cli_env: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("EXPORT_SCHEDULE", "понедельник утром")
    assert await run("--out", "x.xlsx") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "EXPORT_SCHEDULE" in lines[0]


async def test_a_real_process_without_telegram(world: World, reports, database_url, tmp_path):
    """No BOT_TOKEN, and TELEGRAM_API_URL pointing nowhere: the export never needs Telegram."""
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env = base | {"DATABASE_URL": database_url, "TELEGRAM_API_URL": "http://127.0.0.1:9"}
    args = ["--from", "2026-11-16", "--to", "2026-11-22", "--out", "week.xlsx"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "export",
        *args,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert summary_schools(tmp_path / "week.xlsx") == ["СОШ №2", "СОШ №5"]
    assert "aiogram" not in err.decode()


async def test_survey_figures_follow_the_configured_minimum(
    world: World, session_factory, cli_env: Path, monkeypatch: pytest.MonkeyPatch
):
    """SURVEY_MIN_RESPONSES reaches the CLI's export, not the exports' own default of 5."""
    await make_surveys(world, session_factory)
    period = ["--from", "2026-09-01", "--to", "2026-11-30", "--school", str(world.school_a.id)]
    shown, hidden = cli_env / "shown.xlsx", cli_env / "hidden.xlsx"
    assert await run(*period, "--out", str(shown)) == 0
    monkeypatch.setenv("SURVEY_MIN_RESPONSES", "7")
    assert await run(*period, "--out", str(hidden)) == 0

    def counts(path: Path) -> list[object]:
        rows = load_workbook(path)["Опросы"].iter_rows(min_row=3, values_only=True)
        return [row[8] for row in rows]  # «Число ответов»

    assert any(isinstance(count, int) for count in counts(shown))
    assert all(count is None for count in counts(hidden))
