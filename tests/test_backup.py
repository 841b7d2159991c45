"""`main.py backup` copies the live SQLite database consistently; a restored copy works."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.db.backup import BackupError, backup_sqlite
from bot.db.migrate import upgrade
from models import Municipality
from tests.conftest import ON_POSTGRES
from tests.test_config import run_main


def test_backup_while_another_connection_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        connection = sqlite3.connect(db, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        i = 0
        while not stop.is_set() and i < 5000:
            with connection:
                connection.execute(
                    "INSERT INTO municipalities (name, created_at, updated_at) "
                    "VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                    (f"МО {i}",),
                )
            written.append(i)
            i += 1
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 200:
            stop.wait(0.001)
        copies = [tmp_path / f"copy{n}.sqlite3" for n in range(3)]
        for copy in copies:
            backup_sqlite(url, copy, pages_per_step=1)
    finally:
        stop.set()
        thread.join()

    for copy in copies:
        connection = sqlite3.connect(copy)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = [r[0] for r in connection.execute("SELECT name FROM municipalities ORDER BY id")]
        # A consistent snapshot: a prefix of what was written, with no gaps.
        assert names == [f"МО {i}" for i in range(len(names))] and names
        connection.close()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite backup; PostgreSQL deployments use pg_dump")
async def test_restored_copy_is_a_working_database(
    tmp_path: Path, session_factory, database_url, tg
) -> None:
    async with session_factory() as session, session.begin():
        session.add(Municipality(name="Восстановленный МО"))
    copy = tmp_path / "restore" / "bot.sqlite3"
    backup_sqlite(database_url, copy)

    # Restore = put the copy where DATABASE_URL points; migrations and the bot accept it.
    restored_url = f"sqlite+aiosqlite:///{copy}"
    await asyncio.to_thread(upgrade, restored_url)
    result = run_main("school", "list", env={"DATABASE_URL": restored_url}, cwd=tmp_path)
    assert result.returncode == 0
    connection = sqlite3.connect(copy)
    assert connection.execute("SELECT name FROM municipalities").fetchall() == [
        ("Восстановленный МО",)
    ]


def test_backup_refuses_postgres_and_same_file(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+asyncpg://u@localhost/db", tmp_path / "x")
    db = tmp_path / "a.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{db}")
    with pytest.raises(BackupError):
        backup_sqlite(f"sqlite+aiosqlite:///{db}", db)


def test_backup_cli(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite3"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    assert run_main("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    result = run_main("backup", str(tmp_path / "out.sqlite3"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.sqlite3").exists()
