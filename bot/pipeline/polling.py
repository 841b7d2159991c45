"""Long polling that loses no update: each batch is recorded before Telegram is told it arrived.

Telegram forgets an update once ``getUpdates`` is called with a higher offset. aiogram's own
polling makes that call while the previous batch is still being handled, so a process killed
meanwhile loses those updates. Here every batch is first written to ``telegram_updates`` (one
short transaction); only then is the offset advanced. Each update's unit of work marks its row
handled in the same transaction as its own rows (bot/pipeline/unit_of_work.py); this loop marks
the rest (updates that only read, or failed) once their handling ended. On start, rows still
unhandled — the process died while they were in flight — are handled again, oldest first; an
update that had committed its work is skipped by its unit of work, so nothing happens twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import TelegramUpdate
from models.base import utcnow

logger = logging.getLogger(__name__)
BACKOFF = BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.6, jitter=0.1)
UPDATES = cast(Table, TelegramUpdate.__table__)
# Telegram keeps an unconfirmed update for 24 hours; a handled mark is kept a day longer.
KEEP_HANDLED = timedelta(days=2)


async def record_received(
    session: AsyncSession, updates: Iterable[Update], finished: Iterable[int]
) -> None:
    """Store a batch (a row already there is left alone) and mark finished updates handled."""
    now = utcnow()
    rows = [
        {"update_id": u.update_id, "payload": u.model_dump_json(exclude_unset=True), "now": now}
        for u in updates
    ]
    if rows:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(UPDATES)
            .values(
                update_id=bindparam("update_id"),
                payload=bindparam("payload"),
                received_at=bindparam("now", type_=UPDATES.c.received_at.type),
            )
            .on_conflict_do_nothing(index_elements=[UPDATES.c.update_id])
        )
        await session.execute(stmt, rows)
    done = list(finished)
    if done:
        await session.execute(
            update(UPDATES)
            .where(UPDATES.c.update_id.in_(done), UPDATES.c.handled_at.is_(None))
            .values(handled_at=now, payload=None)
        )


async def unhandled(session: AsyncSession, bot: Bot) -> list[Update]:
    """Updates received but never handled, oldest first, bound to the bot like fresh ones."""
    rows = await session.execute(
        select(UPDATES.c.payload)
        .where(UPDATES.c.handled_at.is_(None), UPDATES.c.payload.is_not(None))
        .order_by(UPDATES.c.update_id)
    )
    return [Update.model_validate_json(payload, context={"bot": bot}) for (payload,) in rows]


async def prune_handled(session: AsyncSession) -> None:
    """A scheduler job: forget handled marks older than any redelivery can be."""
    await session.execute(delete(UPDATES).where(UPDATES.c.handled_at < utcnow() - KEEP_HANDLED))


class InboxPolling:
    """getUpdates → record the batch → advance the offset → handle each update as a task."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        allowed_updates: list[str] | None = None,
        polling_timeout: int = 10,
        backoff: BackoffConfig = BACKOFF,
    ) -> None:
        self.dp, self.bot, self.session_factory = dp, bot, session_factory
        self.allowed_updates = allowed_updates
        self.polling_timeout = polling_timeout
        self.backoff = backoff
        self.offset: int | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._finished: set[int] = set()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, *, grace: float = 3.0) -> None:
        """Poll until ``stop()``; then let the updates in flight finish for up to ``grace`` s."""
        try:
            await self.replay()
            while not self._stop.is_set():
                await self.poll_once()
        finally:
            if self._in_flight:
                logger.info("stopping: finishing %d update(s) in progress", len(self._in_flight))
                _, pending = await asyncio.wait(list(self._in_flight.values()), timeout=grace)
                for task in pending:
                    task.cancel()
            with contextlib.suppress(Exception):
                await self._record([])

    async def replay(self) -> int:
        async with self.session_factory() as session:
            updates = await unhandled(session, self.bot)
        if updates:
            logger.info("handling %d update(s) received before a restart", len(updates))
        for each in updates:
            self._start(each)
        return len(updates)

    async def poll_once(self) -> None:
        """One getUpdates round: fetch, record, confirm (by the next offset), dispatch."""
        backoff = Backoff(config=self.backoff)
        while True:
            try:
                updates = await self._get_updates()
                if updates is None:
                    return  # stopping
                await self._record(updates)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Nothing is confirmed: the same batch comes again after the pause.
                logger.warning(
                    "polling failed (%s); retrying in %.1f s",
                    type(exc).__name__,
                    backoff.next_delay,
                )
                if await self._sleep_or_stop(backoff.next_delay):
                    return
                next(backoff)
        if updates:
            self.offset = updates[-1].update_id + 1
            for each in updates:
                self._start(each)

    async def _get_updates(self) -> list[Update] | None:
        method = GetUpdates(
            offset=self.offset, timeout=self.polling_timeout, allowed_updates=self.allowed_updates
        )
        request_timeout = int((self.bot.session.timeout or 0) + self.polling_timeout)
        fetch = asyncio.ensure_future(self.bot(method, request_timeout=request_timeout))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
            return None
        return fetch.result()

    async def _sleep_or_stop(self, delay: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop.wait()
        return self._stop.is_set()

    async def _record(self, updates: list[Update]) -> None:
        finished = set(self._finished)
        if not updates and not finished:
            return
        async with self.session_factory() as session, session.begin():
            await record_received(session, updates, finished)
        self._finished -= finished

    def _start(self, update: Update) -> None:
        if update.update_id in self._in_flight:
            return  # a replay still running, delivered again by Telegram
        task = asyncio.create_task(self._handle(update))
        self._in_flight[update.update_id] = task

    async def _handle(self, update: Update) -> None:
        try:
            await self.dp.feed_update(self.bot, update)
        except Exception:
            # Told to the user by the error router; handling it again would fail again.
            logger.exception("update %s failed", update.update_id)
        except BaseException:
            # Cancelled while stopping: left unhandled in the inbox, handled after the restart.
            self._in_flight.pop(update.update_id, None)
            raise
        self._in_flight.pop(update.update_id, None)
        self._finished.add(update.update_id)


async def run_inbox_polling(
    dp: Dispatcher, bot: Bot, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """``main.py run``: inbox polling until SIGTERM or Ctrl-C."""
    polling = InboxPolling(
        dp, bot, session_factory, allowed_updates=dp.resolve_used_update_types()
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, polling.stop)
    await dp.emit_startup(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
    try:
        await polling.run()
    finally:
        await dp.emit_shutdown(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
