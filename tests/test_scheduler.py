"""The in-process scheduler: periodic runs, a session per run, errors logged, clean stop."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from bot.jobs.scheduler import Scheduler
from models import Municipality


class Ticks:
    """An injected sleep: lets `allowed` sleeps pass at once, then parks the job forever."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.calls: list[float] = []
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) > self.allowed:
            self.parked.set()
            await asyncio.Event().wait()  # until cancelled
        await asyncio.sleep(0)


async def count_municipalities(session_factory) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count(Municipality.id))) or 0


async def test_jobs_run_every_interval_each_in_its_own_committed_session(session_factory):
    ticks = Ticks(allowed=2)
    scheduler = Scheduler(session_factory, sleep=ticks.sleep)
    sessions = []

    async def job(session) -> None:
        sessions.append(session)
        session.add(Municipality(name=f"МО {len(sessions)}"))

    scheduler.every(60, "adds", job)
    await scheduler.start()
    await asyncio.wait_for(ticks.parked.wait(), 5)
    await scheduler.stop()

    assert len(sessions) == 3 and len({id(s) for s in sessions}) == 3
    assert ticks.calls == [60, 60, 60]
    assert await count_municipalities(session_factory) == 3
    assert not scheduler.running


async def test_a_failing_job_is_logged_rolled_back_and_runs_again(session_factory, caplog):
    scheduler = Scheduler(session_factory, sleep=Ticks(allowed=10**6).sleep)
    runs: list[int] = []
    failed_twice, healthy_ran = asyncio.Event(), asyncio.Event()

    async def failing(session) -> None:
        runs.append(1)
        if len(runs) >= 2:
            failed_twice.set()
        session.add(Municipality(name=f"не сохранится {len(runs)}"))
        await session.flush()
        raise RuntimeError("boom")

    healthy_runs: list[int] = []

    async def healthy(session) -> None:
        healthy_runs.append(1)
        if len(healthy_runs) == 1:
            session.add(Municipality(name="сохранится"))
        else:
            healthy_ran.set()  # the first run has been committed by now

    scheduler.every(10, "failing", failing)
    scheduler.every(10, "healthy", healthy)
    with caplog.at_level(logging.ERROR, logger="bot.jobs.scheduler"):
        await scheduler.start()
        await asyncio.wait_for(asyncio.gather(failed_twice.wait(), healthy_ran.wait()), 5)
        await scheduler.stop()
    # As the app does after stopping the scheduler: a job cancelled in the middle of a statement
    # may leave its connection holding SQLite's lock until the pool lets it go.
    await session_factory.kw["bind"].dispose()

    assert any("scheduled job failing failed" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    async with session_factory() as session:
        names = set(await session.scalars(select(Municipality.name)))
    assert names == {"сохранится"}


async def test_stop_cancels_a_job_in_the_middle_of_a_run(session_factory):
    started = asyncio.Event()
    cancelled = []

    async def slow(session) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    scheduler = Scheduler(session_factory)
    scheduler.every(3600, "slow", slow)
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()

    assert cancelled == [True] and not scheduler.running
    await scheduler.stop()  # stopping twice is harmless


async def test_run_once_and_registration_rules(session_factory):
    scheduler = Scheduler(session_factory)

    async def job(session) -> None:
        session.add(Municipality(name="МО"))

    scheduler.every(5, "job", job)
    assert scheduler.jobs == ["job"]
    with pytest.raises(ValueError):
        scheduler.every(5, "job", job)
    with pytest.raises(ValueError):
        scheduler.every(0, "other", job)
    assert await scheduler.run_once("job") is True
    assert await count_municipalities(session_factory) == 1


async def test_a_job_added_while_running_starts_at_once(session_factory):
    ticks = Ticks(allowed=0)
    scheduler = Scheduler(session_factory, sleep=ticks.sleep)
    ran = asyncio.Event()

    async def job(session) -> None:
        ran.set()

    await scheduler.start()
    assert scheduler.running
    scheduler.every(30, "late", job)
    await asyncio.wait_for(ran.wait(), 5)
    await scheduler.stop()
