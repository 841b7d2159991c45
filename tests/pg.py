"""Creating and dropping PostgreSQL test databases (only used with TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _run(url: str, *statements: str) -> None:
    # Fixtures that call this are synchronous; a fresh loop keeps them off the test's loop.
    asyncio.run(_admin(url, *statements))


def recreate(url: str, name: str, *, template: str | None = None) -> None:
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    _run(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create)


def drop(url: str, name: str) -> None:
    _run(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
