"""One update per user at a time: in this process, or across processes through Redis.

With REDIS_URL the lock is a Redis key with a short time to live (``LOCK_TTL_SECONDS``) that a
background task renews while the update is handled. A process that dies stops renewing, so its
users are free again within seconds, not after a minute. If a renewal fails (Redis away, the
key expired under a stalled process) the update's ``LockGuard`` says so and its unit of work
refuses to commit: a handler that outlived its lock never writes behind another one's back.

Redis connections come from a bounded pool that waits for a free connection
(``BlockingConnectionPool``, REDIS_POOL_SIZE) instead of failing when all are busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation, DefaultKeyBuilder, KeyBuilder, StorageKey
from aiogram.types import TelegramObject
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import LockError, RedisError

from bot.pipeline.unit_of_work import LockGuard, current_guard

if TYPE_CHECKING:
    from aiogram.fsm.middleware import FSMContextMiddleware

logger = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

LOCK_TTL_SECONDS = 5.0
# How long an update waits for its user's previous one before it gives up (and is redelivered).
LOCK_WAIT_SECONDS = 60.0
POOL_WAIT_SECONDS = 30.0


def redis_client(url: str, pool_size: int) -> Redis:
    """A client whose pool waits up to POOL_WAIT_SECONDS for a connection instead of raising."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=POOL_WAIT_SECONDS
    )
    return Redis(connection_pool=pool)


class RedisLockIsolation(BaseEventIsolation):
    """A per-user Redis lock with a short TTL, renewed while the update runs."""

    def __init__(
        self,
        redis: Redis,
        key_builder: KeyBuilder | None = None,
        *,
        ttl: float = LOCK_TTL_SECONDS,
        wait: float = LOCK_WAIT_SECONDS,
        poll: float = 0.02,
    ) -> None:
        self.redis = redis
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        self.ttl, self.wait, self.poll = ttl, wait, poll

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = self.key_builder.build(key, "lock")
        lock = self.redis.lock(name, timeout=self.ttl, sleep=self.poll, blocking_timeout=self.wait)
        if not await lock.acquire():
            raise LockError(f"lock of {name} not acquired within {self.wait:.0f} s")
        guard = LockGuard()
        # Most updates end long before the first renewal is due: a timer, not a task, so an
        # update that ends in time costs no extra turns of the event loop (under load each
        # turn is a wait behind every other runnable task).
        stop = asyncio.Event()
        renewal: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self.ttl / 3,
            lambda: renewal.append(asyncio.ensure_future(self._renew(lock, guard, name, stop))),
        )
        token = current_guard.set(guard)
        try:
            yield None
        finally:
            current_guard.reset(token)
            timer.cancel()
            # Stopped by an event, never cancelled: a renewal cancelled while it waits for a
            # pool connection can swallow the pool's wake-up (asyncio.Condition before Python
            # 3.13), leaving another update waiting for a free connection until the pool's
            # timeout — seen as 2-3 updates in 1,000 that never finished (BENCHMARKS.md, §4).
            stop.set()
            for task in renewal:
                await task
            if not guard.lost:
                try:
                    await lock.release()
                except (LockError, RedisError) as exc:
                    logger.warning("user lock %s not released: %s", name, type(exc).__name__)

    async def _renew(self, lock: Any, guard: LockGuard, name: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await lock.reacquire()
            except (LockError, RedisError) as exc:
                guard.lost = True
                logger.warning("user lock %s lost: %s", name, type(exc).__name__)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl / 3)

    async def close(self) -> None:
        await self.redis.aclose()
        # A pool handed to the client is not the client's to close.
        await self.redis.connection_pool.disconnect()


class UserLockMiddleware(BaseMiddleware):
    """Outer update middleware: the rest of the update runs under the user's lock."""

    def __init__(self, isolation: BaseEventIsolation, fsm: FSMContextMiddleware) -> None:
        self.isolation = isolation
        self.fsm = fsm

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.isolation.lock(context.key):
            return await handler(event, data)
