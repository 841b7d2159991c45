"""The migrated database matches the models, and SQLite runs with the promised settings."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Base, Municipality, School
from tests.conftest import ON_POSTGRES


async def test_migrations_produce_exactly_the_models(engine: AsyncEngine) -> None:
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite settings; the suite is running on PostgreSQL")
async def test_sqlite_pragmas(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        # 0: a statement that finds the database locked waits in aiosqlite's thread with the
        # full busy timeout instead (tests/test_sqlite_driver.py).
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one() == 0


async def test_foreign_keys_are_enforced(session_factory) -> None:
    async with session_factory() as session:
        session.add(School(municipality_id=999, name="Нет такого МО", short_name="x"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_datetimes_come_back_timezone_aware(session_factory) -> None:
    async with session_factory() as session, session.begin():
        session.add(Municipality(name="МО"))
    async with session_factory() as session:
        municipality = await session.scalar(select(Municipality))
        assert municipality.created_at.tzinfo is not None


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite locking; the suite is running on PostgreSQL")
async def test_a_long_reader_does_not_block_writers(database_url: str, session_factory) -> None:
    """An export's read transaction on the read-only engine leaves the bot free to write."""
    from bot.db.engine import create_engine

    reader = create_engine(database_url, read_only=True)
    try:
        async with reader.connect() as connection:
            await connection.execute(select(Municipality.id))  # the snapshot is open now
            async with session_factory() as session, session.begin():
                session.add(Municipality(name="Пока идёт выгрузка"))
            seen = (await connection.execute(select(Municipality.name))).all()
            assert seen == []  # the reader keeps its snapshot
    finally:
        await reader.dispose()
    async with session_factory() as session:
        assert await session.scalar(select(Municipality.name)) == "Пока идёт выгрузка"
