"""The SQLite driver shim: one trip to aiosqlite's thread per statement, DBAPI behaviour kept."""

from __future__ import annotations

import aiosqlite
import pytest
from sqlalchemy import CursorResult, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.sqlite_driver import OneTripDBAPI
from models import Municipality, School
from tests.conftest import World


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn, *args, **kwargs):
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


def _sqlite_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the shim is for SQLite")


async def test_a_statement_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    _sqlite_only(engine)
    assert isinstance(engine.dialect.dbapi, OneTripDBAPI)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # BEGIN and the first statement
        trips.clear()
        rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).all()
        assert trips == ["_execute"]  # was 4: cursor, execute, fetchall, close
    assert [tuple(r) for r in rows] == [(1,), (2,)]


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
