"""The real PostgreSQL and Redis for the scale-out tests, or a skip that says why not.

These tests always use PostgreSQL, also in the plain (SQLite) run: TEST_DATABASE_URL when it
names one, else SCALE_POSTGRES_URL, else the machines' local server. Redis: SCALE_REDIS_URL,
else the local one. Each test gets a database of its own and a Redis key prefix of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import upgrade
from tests import pg

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PROBE_SECONDS = 3.0
_databases = itertools.count()


def postgres_url() -> str:
    configured = os.environ.get("TEST_DATABASE_URL", "")
    if configured.startswith("postgresql"):
        return configured
    return os.environ.get("SCALE_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def redis_url() -> str:
    return os.environ.get("SCALE_REDIS_URL", DEFAULT_REDIS_URL)


async def _probe_postgres(url: str) -> None:
    engine = create_async_engine(url, connect_args={"timeout": PROBE_SECONDS})
    try:
        async with asyncio.timeout(PROBE_SECONDS * 2), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _probe_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=PROBE_SECONDS)
    try:
        async with asyncio.timeout(PROBE_SECONDS * 2):
            await client.ping()
    finally:
        await client.aclose()


def _unreachable(probe: object, url: str) -> str | None:
    try:
        asyncio.run(probe(url))  # type: ignore[operator]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


@pytest.fixture(scope="session")
def scale_postgres() -> str:
    """The server's URL (its maintenance database), or skip when it doesn't answer."""
    url = postgres_url()
    problem = _unreachable(_probe_postgres, url)
    if problem:
        where = make_url(url).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {where} ({problem})")
    return url


@pytest.fixture(scope="session")
def scale_template(scale_postgres: str) -> Iterator[str]:
    """A migrated template database; each test's database is a copy of it."""
    name = f"reports_scale_tpl_{os.getpid()}"
    pg.recreate(scale_postgres, name)
    upgrade(pg.with_database(scale_postgres, name))
    yield name
    pg.drop(scale_postgres, name)


@pytest.fixture
def pg_url(scale_postgres: str, scale_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own."""
    name = f"reports_scale_{os.getpid()}_{next(_databases)}"
    pg.recreate(scale_postgres, name, template=scale_template)
    yield pg.with_database(scale_postgres, name)
    pg.drop(scale_postgres, name)


@pytest.fixture
def empty_pg_url(scale_postgres: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (the processes migrate it)."""
    name = f"reports_scale_{os.getpid()}_{next(_databases)}"
    pg.recreate(scale_postgres, name)
    yield pg.with_database(scale_postgres, name)
    pg.drop(scale_postgres, name)


@pytest.fixture(scope="session")
def scale_redis() -> str:
    url = redis_url()
    problem = _unreachable(_probe_redis, url)
    if problem:
        parts = urlsplit(url)
        where = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        pytest.skip(f"Redis not reachable at {where} ({problem})")
    return url


@pytest.fixture
def redis_prefix(scale_redis: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix

    async def clean() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(scale_redis)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    asyncio.run(clean())
