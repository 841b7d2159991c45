"""The outbox sender: Notification rows become Telegram messages, paced and exactly once.

Rows are written by feature code (models/reminders.py) with a unique `dedupe_key`; this job
sends what is due. Per row: claim it (push `due_at` forward by a lease, so a second process or
the next run leaves it alone), render it in the recipient's language, commit, send, then mark
`sent_at`. The database is never held while waiting on Telegram. A crash between sending and
marking can repeat one message after the lease; nothing else repeats.

The claim counts `attempts`, and the count is the claim's token: right before each request the
lease is renewed only if `attempts` is still the one this run set. A run that waited out flood
control past its lease, meanwhile taken over by another process, finds that and does not send.
(The scheduler's job lock already keeps a second process out while the first one is alive.)

Telegram's answers: 429 pauses all sending for `retry_after` and retries; 403 (the user blocked
the bot) and 400 (chat gone, text rejected) mark the row sent with `last_error`, as retrying
can't help; network and server errors retry with a growing delay, up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Notification, User
from models.base import utcnow

logger = logging.getLogger(__name__)

# Telegram allows about 30 messages a second to different chats and one a second to one chat;
# staying under that leaves room for the answers the bot gives to people meanwhile.
PER_SECOND = 25
PER_CHAT_INTERVAL = 1.0
MAX_ATTEMPTS = 5
# Renewed before each request; covers one sendMessage with the session's inline retries.
LEASE = timedelta(minutes=5)
# Longer flood waits end the run; the row is due again when Telegram allows.
MAX_INLINE_WAIT = 60.0
BATCH = 200
# How often the scheduler looks for due rows.
OUTBOX_SECONDS = 10


@dataclass(frozen=True)
class Outgoing:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


# Renders a row for its recipient, in the current locale; None: nothing to send any more.
Renderer = Callable[[AsyncSession, Notification, User], Awaitable[Outgoing | None]]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most `per_second` sends in any one-second window, and one per chat per interval."""

    def __init__(
        self,
        *,
        per_second: int = PER_SECOND,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self._sent: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._paused_until = -math.inf

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before a message to `chat_id` may go; 0 means now."""
        now = self.clock()
        while self._sent and now - self._sent[0] >= 1.0:
            self._sent.popleft()
        waits = [0.0, self._paused_until - now]
        if len(self._sent) >= self.per_second:
            waits.append(self._sent[0] + 1.0 - now)
        last = self._chat_last.get(chat_id)
        if last is not None:
            waits.append(last + self.per_chat_interval - now)
        return max(waits)

    def record(self, chat_id: int) -> None:
        now = self.clock()
        self._sent.append(now)
        self._chat_last[chat_id] = now
        if len(self._chat_last) > 10_000:
            cutoff = now - self.per_chat_interval
            self._chat_last = {k: v for k, v in self._chat_last.items() if v > cutoff}

    def pause(self, seconds: float) -> None:
        """Telegram said «retry after»: nothing goes to anyone until then."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def acquire(self, chat_id: int, sleep: Sleep = asyncio.sleep) -> None:
        while (wait := self.delay(chat_id)) > 0:
            await sleep(wait)
        self.record(chat_id)


class _Result(Enum):
    SENT = "sent"
    DROPPED = "dropped"
    LATER = "later"
    SKIPPED = "skipped"
    FLOOD = "flood"


class Outbox:
    """Sends due Notification rows; `run(session)` is the scheduler job."""

    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        *,
        limiter: RateLimiter | None = None,
        now: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        batch: int = BATCH,
    ) -> None:
        self.bot = bot
        self.i18n = i18n
        self.limiter = limiter or RateLimiter()
        self._now = now
        self._sleep = sleep
        self._batch = batch
        self._renderers: dict[str, Renderer] = {}

    def register(self, kind: str, renderer: Renderer) -> None:
        """How rows of `kind` become a message; each feature registers its own kinds."""
        self._renderers[kind] = renderer

    async def run(self, session: AsyncSession) -> int:
        """Send everything due now; returns how many messages went out."""
        sent = 0
        while True:
            ids = list(
                await session.scalars(
                    select(Notification.id)
                    .where(Notification.sent_at.is_(None), Notification.due_at <= self._now())
                    .order_by(Notification.due_at, Notification.id)
                    .limit(self._batch)
                )
            )
            await session.commit()
            for notification_id in ids:
                result = await self._deliver(session, notification_id)
                if result is _Result.SENT:
                    sent += 1
                elif result is _Result.FLOOD:
                    return sent
            if len(ids) < self._batch:
                return sent

    async def _deliver(self, session: AsyncSession, notification_id: int) -> _Result:
        now = self._now()
        claim = await session.scalar(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.sent_at.is_(None),
                Notification.due_at <= now,
            )
            .values(due_at=now + LEASE, attempts=Notification.attempts + 1)
            .returning(Notification.attempts)
        )
        await session.commit()
        if claim is None:
            return _Result.SKIPPED  # sent or claimed meanwhile by another run
        try:
            prepared = await self._prepare(session, notification_id)
        except Exception as exc:
            logger.exception("notification %s: rendering failed", notification_id)
            await session.rollback()
            return await self._finish(session, notification_id, error=exc, retry=True)
        if isinstance(prepared, str):
            return await self._finish(session, notification_id, reason=prepared)
        chat_id, outgoing = prepared
        return await self._send(session, notification_id, claim, chat_id, outgoing)

    async def _prepare(
        self, session: AsyncSession, notification_id: int
    ) -> tuple[int, Outgoing] | str:
        """(chat, message) to send, or why the row is dropped."""
        notification = await session.get(Notification, notification_id, populate_existing=True)
        if notification is None:
            return "deleted"
        if notification.attempts > MAX_ATTEMPTS:
            return f"gave up after {MAX_ATTEMPTS} attempts: {notification.last_error or ''}"
        user = await session.get(User, notification.user_id, populate_existing=True)
        renderer = self._renderers.get(notification.kind)
        if renderer is None:
            return f"no renderer for {notification.kind}"
        if user is None or not user.is_active:
            return "recipient inactive"
        locale = user.locale if user.locale in self.i18n.available_locales else None
        with self.i18n.context(), self.i18n.use_locale(locale or self.i18n.default_locale):
            outgoing = await renderer(session, notification, user)
        chat_id = user.telegram_id
        await session.commit()
        return (chat_id, outgoing) if outgoing is not None else "nothing left to say"

    async def _still_ours(self, session: AsyncSession, notification_id: int, claim: int) -> bool:
        """Renew the lease unless another run has claimed the row since (see the module doc)."""
        renewed = await session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.sent_at.is_(None),
                Notification.attempts == claim,
            )
            .values(due_at=self._now() + LEASE)
        )
        await session.commit()
        return getattr(renewed, "rowcount", 0) == 1

    async def _send(
        self,
        session: AsyncSession,
        notification_id: int,
        claim: int,
        chat_id: int,
        outgoing: Outgoing,
    ) -> _Result:
        floods = 0
        while True:
            await self.limiter.acquire(chat_id, self._sleep)
            if not await self._still_ours(session, notification_id, claim):
                logger.warning("outbox: %s was taken over by another run", notification_id)
                return _Result.SKIPPED
            try:
                await self.bot.send_message(
                    chat_id, outgoing.text, reply_markup=outgoing.reply_markup
                )
            except TelegramRetryAfter as exc:
                self.limiter.pause(exc.retry_after)
                floods += 1
                logger.warning("outbox: flood control, retry after %s s", exc.retry_after)
                if exc.retry_after > MAX_INLINE_WAIT or floods > 3:
                    await self._finish(
                        session, notification_id, error=exc, delay=float(exc.retry_after)
                    )
                    return _Result.FLOOD
                continue
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                logger.info("outbox: %s refused by Telegram: %s", notification_id, exc.message)
                return await self._finish(session, notification_id, error=exc)
            except (TelegramNetworkError, TelegramAPIError) as exc:
                logger.warning("outbox: %s not sent: %s", notification_id, type(exc).__name__)
                return await self._finish(session, notification_id, error=exc, retry=True)
            return await self._finish(session, notification_id)

    async def _finish(
        self,
        session: AsyncSession,
        notification_id: int,
        *,
        error: BaseException | None = None,
        reason: str | None = None,
        retry: bool = False,
        delay: float | None = None,
    ) -> _Result:
        """Record the outcome: sent, dropped with a reason, or due again later."""
        notification = await session.get(Notification, notification_id, populate_existing=True)
        if notification is None:
            await session.commit()
            return _Result.DROPPED
        now = self._now()
        message = reason or (f"{type(error).__name__}: {error}"[:500] if error else None)
        notification.last_error = message
        if delay is not None or retry:
            if delay is None:
                delay = min(3600.0, 60.0 * 2 ** max(0, notification.attempts - 1))
            notification.due_at = now + timedelta(seconds=delay)
            result = _Result.LATER
        else:
            notification.sent_at = now
            result = _Result.SENT if error is None and reason is None else _Result.DROPPED
        await session.commit()
        return result
