"""The SQLite driver shim: the main engine's statements on the event loop, waits for locks and
the read-only engine's reads in aiosqlite's thread (one trip each); DBAPI behaviour kept."""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite
import pytest
from sqlalchemy import CursorResult, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import sqlite_driver
from bot.db.engine import create_engine
from bot.db.sqlite_driver import OneTripConnection, OneTripDBAPI
from models import Municipality, School
from tests.conftest import World


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn, *args, **kwargs):
        name = getattr(fn, "__name__", None)
        if name is None:  # a partial: what it waits for
            name = "+".join(getattr(f, "__name__", "?") for f in (fn.func, *fn.args))
        seen.append(name)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


def _sqlite_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the shim is for SQLite")


async def test_the_main_engine_makes_no_trip_to_the_thread(
    engine: AsyncEngine, trips: list[str], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(engine)
    # The periodic checkpoint (every CHECKPOINT_EVERY commits in the process) is not due here.
    monkeypatch.setattr(OneTripConnection, "_commits", 1)
    assert isinstance(engine.dialect.dbapi, OneTripDBAPI) and engine.dialect.dbapi.inline
    async with engine.begin() as conn:
        await conn.execute(text("SELECT 1"))  # the pool's connection is set up by now
        trips.clear()
        rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).all()
        await conn.execute(update(School).where(School.id == -1).values(name="x"))
        busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        checkpoints = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one()
    assert trips == []  # statements and the commit ran inline (a SELECT was 4 trips once)
    assert [tuple(r) for r in rows] == [(1,), (2,)]
    # A locked database fails at once here and waits in the thread; checkpoints run there too.
    assert (busy, checkpoints) == (0, 0)


async def test_the_read_only_engine_makes_one_trip_per_statement(
    settings: Settings, trips: list[str]
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the shim is for SQLite")
    reader = create_engine(settings.database_url, read_only=True)
    try:
        assert isinstance(reader.dialect.dbapi, OneTripDBAPI) and not reader.dialect.dbapi.inline
        async with reader.connect() as conn:
            await conn.execute(text("SELECT 1"))  # BEGIN and the first statement
            trips.clear()
            rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).all()
            assert trips == ["_execute"]  # was 4: cursor, execute, fetchall, close
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        assert busy == sqlite_driver.SQLITE_BUSY_TIMEOUT_MS
    finally:
        await reader.dispose()


async def test_a_locked_database_is_waited_for_in_the_thread_not_on_the_loop(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    trips: list[str],
    world: World,
) -> None:
    """Another writer (a CLI import, another process) holds the lock: the update's statement
    goes to the thread and waits there while the loop serves everything else."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the shim is for SQLite")
    async with session_factory() as session, session.begin():
        await session.execute(select(School.id))  # the pool's connection is set up
    other = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        trips.clear()

        async def write() -> None:
            async with session_factory() as session, session.begin():
                session.add(
                    School(municipality_id=world.municipality.id, name="Ждёт", short_name="Ждёт")
                )

        task = asyncio.create_task(write())
        loop_turns = 0
        while "_waiting+_execute" not in trips:
            await asyncio.sleep(0)
            loop_turns += 1
            assert loop_turns < 100_000, "the write never reached the thread"
        for _ in range(50):  # the loop keeps turning while the write waits in the thread
            await asyncio.sleep(0)
        assert not task.done()
    finally:
        other.commit()
        other.close()
    await task
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).where(School.name == "Ждёт")) == 1
        # The busy timeout is 0 again for the next inline statement.
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0
    # BEGIN IMMEDIATE waited in the thread; everything after it ran inline again.
    assert trips == ["_waiting+_execute"]


async def test_checkpoints_run_in_the_thread_every_so_many_commits(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    trips: list[str],
    monkeypatch: pytest.MonkeyPatch,
    world: World,
) -> None:
    _sqlite_only(engine)
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 3)
    async with session_factory() as session:
        await session.execute(select(School.id))  # the pool's connection is set up
    monkeypatch.setattr(sqlite_driver.OneTripConnection, "_commits", 0)
    trips.clear()
    for number in range(6):
        async with session_factory() as session, session.begin():
            session.add(
                School(municipality_id=world.municipality.id, name=f"К{number}", short_name="К")
            )
    assert trips == ["_waiting+_checkpoint"] * 2


async def test_row_counts_ids_many_rows_and_errors(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    _sqlite_only(engine)
    async with session_factory() as session, session.begin():
        school = School(municipality_id=world.municipality.id, name="Новая", short_name="Новая")
        session.add(school)
        await session.flush()
        assert school.id is not None  # lastrowid / RETURNING

        # Conditional UPDATEs (invites, export claims) rely on the row count.
        hit = await session.execute(
            update(School).where(School.id == school.id).values(short_name="Н")
        )
        miss = await session.execute(update(School).where(School.id == -1).values(name="x"))
        assert isinstance(hit, CursorResult) and isinstance(miss, CursorResult)
        assert (hit.rowcount, miss.rowcount) == (1, 0)

        # executemany, then a result read in batches.
        await session.execute(
            insert(School),
            [
                {"municipality_id": world.municipality.id, "name": f"Ш{i}", "short_name": f"Ш{i}"}
                for i in range(25)
            ],
        )
        result = await session.execute(select(School.name).where(School.name.like("Ш%")))
        batches = [len(batch) for batch in result.partitions(10)]
        assert batches == [10, 10, 5]
        municipalities = select(func.count()).select_from(Municipality)
        assert (await session.execute(municipalities)).scalar_one() >= 1

    with pytest.raises(IntegrityError):
        async with session_factory() as session, session.begin():
            session.add(School(municipality_id=10**9, name="Сирота", short_name="Сирота"))


async def test_a_statement_queued_behind_the_thread_still_waits_for_the_lock(
    settings: Settings, engine: AsyncEngine, trips: list[str], world: World
) -> None:
    """While the connection is busy in the thread, the next statement queues for the thread
    too; there it must wait for a locked database (busy timeout), not fail at once."""
    _sqlite_only(engine)
    other = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await conn.rollback()
        adapted = (await conn.get_raw_connection()).dbapi_connection
        assert isinstance(adapted, sqlite_driver.OneTripConnection)
        other.execute("BEGIN IMMEDIATE")
        try:
            await adapted._execute_mutex.acquire()  # as if a statement were in the thread
            trips.clear()

            async def write() -> None:
                async with conn.begin():
                    await conn.execute(
                        insert(School).values(
                            municipality_id=world.municipality.id, name="Ждёт", short_name="Ж"
                        )
                    )

            task = asyncio.create_task(write())
            for _ in range(50):
                await asyncio.sleep(0)
            adapted._execute_mutex.release()
            turns = 0
            while not trips and not task.done():
                await asyncio.sleep(0)
                turns += 1
                assert turns < 100_000, "the write never reached the thread"
            assert trips == ["_waiting+_execute"]
        finally:
            other.commit()
            other.close()
        await task
        count = await conn.scalar(select(func.count()).where(School.name == "Ждёт"))
    assert count == 1


async def test_a_failed_checkpoint_does_not_fail_the_commit_before_it(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    world: World,
) -> None:
    _sqlite_only(engine)

    def broken(connection: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_driver, "_checkpoint", broken)
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 1)
    async with session_factory() as session, session.begin():
        session.add(
            School(municipality_id=world.municipality.id, name="Сохранена", short_name="С")
        )
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).where(School.name == "Сохранена")) == 1
