"""Periodic jobs inside the bot process: reminders, the outbox, weekly exports.

Usage::

    scheduler = Scheduler(session_factory)
    scheduler.every(60, "reminders", build_reminders_job)   # async def job(session) -> None
    await scheduler.start()
    ...
    await scheduler.stop()                                  # cancels and waits, within 5 s

Each run gets its own session; the scheduler commits after the job returns and rolls back if
it raises. A job that waits on the network between writes (the outbox) may commit on its own
to let go of the database meanwhile. An exception is logged with its traceback and the job runs
again at its next interval: a failing job never stops the others or the bot. Runs of one job
never overlap — the interval counts from the end of the previous run. Jobs must be idempotent
(the outbox's unique keys, ExportRun's unique period): a restart runs them again at once.

Several processes (webhook mode behind a load balancer) each run a scheduler. On PostgreSQL a
run holds a session-level advisory lock named after its job, on a connection of its own, for
the whole run: of all the processes only one runs a job at a time, and the others skip that
turn (``run_once`` returns None). If the holder dies, its connection closes and PostgreSQL
releases the lock, so another process takes the next turn. The rows' own unique keys, claims and
leases stay the second line of defence: a process cut off from the database loses the lock
while it may still be working. (SQLite serves one process; each transaction takes the write
lock up front, see bot/db/engine.py.)
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[object]]
Sleep = Callable[[float], Awaitable[None]]
STOP_TIMEOUT = 5.0
# The first key of the jobs' advisory locks (the second is the job name's CRC-32).
LOCK_NAMESPACE = 7_310_002


@dataclass
class _Entry:
    name: str
    seconds: float
    job: Job
    first_delay: float


class Scheduler:
    """Runs registered async jobs every N seconds until stopped."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session_factory = session_factory
        self._sleep = sleep
        self._entries: dict[str, _Entry] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False

    def every(self, seconds: float, name: str, job: Job, *, first_delay: float = 0.0) -> None:
        """Run `job(session)` now (or after `first_delay`) and then `seconds` after each run."""
        if seconds <= 0:
            raise ValueError("the interval must be positive")
        if name in self._entries:
            raise ValueError(f"a job named {name!r} is already registered")
        entry = _Entry(name, seconds, job, first_delay)
        self._entries[name] = entry
        if self.running:
            self._tasks[name] = asyncio.create_task(self._loop(entry), name=f"job:{name}")

    @property
    def jobs(self) -> list[str]:
        return list(self._entries)

    @property
    def running(self) -> bool:
        return self._started

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for entry in self._entries.values():
            self._tasks[entry.name] = asyncio.create_task(
                self._loop(entry), name=f"job:{entry.name}"
            )
        logger.info("scheduler started: %s", ", ".join(self._entries) or "no jobs")

    async def stop(self, grace: float = STOP_TIMEOUT) -> None:
        """Cancel every job and wait for them to finish, at most `grace` seconds."""
        self._started = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            logger.warning("job %s did not stop within %.0f s", task.get_name(), grace)

    async def run_once(self, name: str) -> bool | None:
        """Run one job now in its own session; True if it succeeded, None if another process
        is running it (tests, manual triggers)."""
        return await self._run(self._entries[name])

    async def _loop(self, entry: _Entry) -> None:
        if entry.first_delay > 0:
            await self._sleep(entry.first_delay)
        while True:
            await self._run(entry)
            await self._sleep(entry.seconds)

    async def _run(self, entry: _Entry) -> bool | None:
        try:
            async with self._exclusive(entry.name) as ours:
                if not ours:
                    logger.debug("job %s is running in another process; skipped", entry.name)
                    return None
                return await self._run_in_session(entry)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database is unreachable, say: this turn fails, the next one tries again.
            logger.exception("scheduled job %s: taking or releasing its lock failed", entry.name)
            return False

    @asynccontextmanager
    async def _exclusive(self, name: str) -> AsyncIterator[bool]:
        """On PostgreSQL: hold the job's advisory lock, or yield False if another has it."""
        engine: AsyncEngine | None = self._session_factory.kw.get("bind")
        if engine is None or engine.dialect.name != "postgresql":
            yield True
            return
        key = {"ns": LOCK_NAMESPACE, "job": zlib.crc32(name.encode()) - 2**31}
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            if not await connection.scalar(text("SELECT pg_try_advisory_lock(:ns, :job)"), key):
                yield False
                return
            try:
                yield True
            finally:
                try:
                    await connection.execute(text("SELECT pg_advisory_unlock(:ns, :job)"), key)
                except BaseException:
                    # A pooled connection must not keep the lock: closing it releases the lock.
                    await connection.invalidate()
                    raise

    async def _run_in_session(self, entry: _Entry) -> bool:
        async with self._session_factory() as session:
            try:
                await entry.job(session)
                await session.commit()
                return True
            except asyncio.CancelledError:
                raise  # stopping: closing the session below rolls back what was not committed
            except Exception:
                logger.exception("scheduled job %s failed", entry.name)
                try:
                    await session.rollback()
                except Exception:
                    logger.exception("rollback after job %s failed", entry.name)
                return False
