"""The database commands of `main.py` migrate a fresh database first and fail in one line."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import main

ROOT = Path(__file__).resolve().parent.parent
ROADMAP = ROOT / "tests" / "fixtures" / "roadmap_001.xlsx"
BOT_USERNAME = "school_reports_bot"


def _env(db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    # No token and a Bot API that isn't there: none of these commands may need Telegram.
    return keep | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "BOT_USERNAME": BOT_USERNAME,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }


async def _cli(db: Path, cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        env=_env(db),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"this is not an SQLite database " * 64)
    return path


def _use(db: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same environment for `main.main` in this process."""
    monkeypatch.chdir(cwd)
    for name, value in _env(db).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_TOKEN", raising=False)


async def test_school_add_then_invite_on_a_database_the_bot_never_started(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.sqlite3"

    code, out, err = await _cli(
        db, tmp_path, "school", "add", "--municipality", "Тестовый МО", "--name", "МБОУ «СОШ №2»"
    )
    assert code == 0, err
    school_id = out.split()[1].rstrip(":")
    code, out, err = await _cli(db, tmp_path, "invite", "--role", "teacher", "--school", school_id)
    assert code == 0, err

    assert out.strip().startswith(f"https://t.me/{BOT_USERNAME}?start=")
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT id, name FROM schools").fetchall() == [
            (int(school_id), "МБОУ «СОШ №2»")
        ]
        assert connection.execute("SELECT count(*) FROM invites").fetchone() == (1,)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["school", "list"], ""),
        (["export", "--from", "2026-11-16", "--to", "2026-11-22", "--out", "w.xlsx"], "0 reports"),
    ],
)
async def test_reading_commands_work_on_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, args: list[str], expected: str
) -> None:
    _use(tmp_path / "data" / "bot.sqlite3", tmp_path, monkeypatch)

    assert await asyncio.to_thread(main.main, args) == 0

    assert expected in capsys.readouterr().out


async def test_a_database_error_is_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    corrupt = _corrupt(tmp_path / "corrupt.sqlite3")
    # A "directory" for the database that is a file: the database can't be created there.
    unwritable = tmp_path / "corrupt.sqlite3" / "bot.sqlite3"
    runs = [
        (corrupt, ("school", "add", "--municipality", "Тестовый МО", "--name", "СОШ №5")),
        (corrupt, ("db", "upgrade")),
        (unwritable, ("invite", "--role", "coordinator", "--school", "1")),
    ]

    results = await asyncio.gather(*(_cli(db, tmp_path, *args) for db, args in runs))

    for (db, args), (code, _out, err) in zip(runs, results, strict=True):
        lines = err.strip().splitlines()
        if args[0] == "db":  # `db upgrade` logs what it does before it fails
            lines = [line for line in lines if " INFO " not in line]
        assert code == 1 and len(lines) == 1, (args, err)
        assert lines[0].startswith("database error: ") and str(db) in lines[0], (args, err)
    assert "file is not a database" in results[0][2]


@pytest.mark.parametrize(
    "args",
    [
        ["school", "list"],
        ["invite", "--role", "teacher", "--school", "1"],
        ["roadmap", "import", "--school", "1", str(ROADMAP)],
        ["export", "--out", "week.xlsx"],
        ["backup", "copy.sqlite3"],
    ],
)
async def test_every_database_command_reports_a_corrupt_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, args: list[str]
) -> None:
    db = _corrupt(tmp_path / "bot.sqlite3")
    _use(db, tmp_path, monkeypatch)

    assert await asyncio.to_thread(main.main, args) == 1

    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"database error: file is not a database (sqlite+aiosqlite:///{db})"]
    assert not (tmp_path / "week.xlsx").exists() and not (tmp_path / "copy.sqlite3").exists()
