"""Where bench/e2e.py's bot keeps its data: a SQLite copy, a fresh PostgreSQL database, Redis.

Each session gets its own database made from the same demo data (``python main.py demo``, the
`users` data set: 100 schools, 200 teachers) and, with Redis, its own key prefix, removed after.
The bench reads the database only before and after the users' run, through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.common import PYTHON, ROOT, SEED, USERS, clean_env, copy_dataset, sqlite_url
from bench.e2e_users import Tally

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
_serial = itertools.count(1)


@dataclass
class Backend:
    """The bot's DATABASE_URL (and REDIS_URL) for one session, and how to clean up after it."""

    database_url: str
    redis_url: str | None = None
    redis_prefix: str | None = None
    admin_url: str | None = None  # PostgreSQL: where to drop the database from
    database: str | None = None

    def env(self) -> dict[str, str]:
        env = {"DATABASE_URL": self.database_url}
        if self.redis_url is not None and self.redis_prefix is not None:
            env |= {"REDIS_URL": self.redis_url, "REDIS_KEY_PREFIX": self.redis_prefix}
        return env

    async def fetch(self, sql: str, **params: Any) -> list[Any]:
        engine = create_async_engine(self.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()

    async def close(self) -> None:
        if self.redis_url is not None and self.redis_prefix is not None:
            from redis.asyncio import Redis

            redis = Redis.from_url(self.redis_url)
            try:
                keys = [k async for k in redis.scan_iter(match=f"{self.redis_prefix}:*")]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()
        if self.admin_url is not None and self.database is not None:
            await _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def make_backend(
    workdir: Path, *, postgres: str | None = None, redis: str | None = None
) -> Backend:
    """A fresh copy of the demo data for one bot session."""
    serial = f"{os.getpid()}_{next(_serial)}"
    if postgres is None:
        backend = Backend(sqlite_url(copy_dataset(USERS, workdir / "bot.sqlite3")))
    else:
        name = f"bench_e2e_{serial}"
        await _admin(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await _admin(postgres, f'CREATE DATABASE "{name}"')
        url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
        backend = Backend(url, admin_url=postgres, database=name)
        await asyncio.to_thread(_demo, url, workdir / "demo.log")
    if redis is not None:
        backend.redis_url = redis
        backend.redis_prefix = f"bench-e2e-{serial}"
    return backend


def _demo(url: str, log: Path) -> None:
    """The project's own generator, with the SQLite data set's sizes (bench/common.py)."""
    with open(log, "wb") as out:
        subprocess.run(
            [
                *(PYTHON, str(ROOT / "main.py"), "demo"),
                *("--schools", str(USERS.schools), "--reports", str(USERS.reports)),
                *("--seed", str(SEED)),
            ],
            env=clean_env(DATABASE_URL=url),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


async def teachers(backend: Backend, count: int) -> list[int]:
    rows = await backend.fetch(
        "SELECT telegram_id FROM users WHERE role = 'teacher' ORDER BY id LIMIT :n", n=count
    )
    if len(rows) < count:
        raise RuntimeError(f"the demo database has {len(rows)} teachers, {count} wanted")
    return [int(r[0]) for r in rows]


async def last_report_id(backend: Backend) -> int:
    rows = await backend.fetch("SELECT COALESCE(MAX(id), 0) FROM activity_reports")
    return int(rows[0][0])


async def reports_since(backend: Backend, after_id: int) -> list[tuple[int, int]]:
    """(report id, author's Telegram id) of the reports stored after `after_id`."""
    rows = await backend.fetch(
        "SELECT r.id, u.telegram_id FROM activity_reports r "
        "LEFT JOIN users u ON u.id = r.author_id WHERE r.id > :after ORDER BY r.id",
        after=after_id,
    )
    return [(int(r[0]), int(r[1] or 0)) for r in rows]


_FAILED = re.compile(r"update \d+ (failed: \w+|: reply not delivered: \w+)")


def log_failures(log: Path) -> dict[str, int]:
    """What the error router logged, by kind: evidence for the errors counted."""
    text = log.read_text(errors="replace")
    return dict(Counter(m.group(1) for m in _FAILED.finditer(text)))


async def check_reports(
    backend: Backend, before: int, chats: list[int], tallies: list[Tally]
) -> dict[str, int]:
    """Lost: confirmed numbers with no row. Duplicated: more rows than «Отправить» presses."""
    confirmed = sum(len(t.confirmed) for t in tallies)
    deadline = time.monotonic() + 10  # the last commits may follow the last answers
    while True:
        rows = await reports_since(backend, before)
        if len(rows) >= confirmed or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    ids = {report for report, _ in rows}
    per_chat = Counter(author for _, author in rows)
    lost = sum(1 for t in tallies for n in t.confirmed if n not in ids)
    duplicated = sum(max(0, per_chat[c] - t.submits) for c, t in zip(chats, tallies, strict=True))
    unconfirmed = sum(
        max(0, min(per_chat[c], t.submits) - len(t.confirmed))
        for c, t in zip(chats, tallies, strict=True)
    )
    return {
        "reports_stored": len(rows),
        "lost_reports": lost,
        "duplicated_reports": duplicated,
        "stored_unconfirmed": unconfirmed,
    }
