"""Middlewares: locale, access, throttling (the unit of work: bot/pipeline/unit_of_work.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, TelegramObject, Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.pipeline.unit_of_work import REDELIVERED
from bot.ui.access import is_allowed, refuse
from models import User

logger = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UserLocaleMiddleware(I18nMiddleware):
    """The user's stored choice, else their Telegram language if we have it, else the default."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n=i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        # Remembered for the error handlers, which run after a rollback has expired the user.
        if "locale" not in data:
            data["locale"] = self._resolve(data)
        return str(data["locale"])

    def _resolve(self, data: dict[str, Any]) -> str:
        user: User | None = data.get("user")
        if user is not None and user.locale in self.i18n.available_locales:
            return user.locale
        tg_user: TgUser | None = data.get("event_from_user")
        if tg_user is not None and tg_user.language_code:
            language = tg_user.language_code.split("-")[0].lower()
            if language in self.i18n.available_locales:
                return language
        return self.i18n.default_locale


class AccessMiddleware(BaseMiddleware):
    """Enforces each handler's `access` flag; refuses politely and touches nothing else."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        rule = get_flag(data, "access")
        user: User | None = data.get("user")
        if rule is None:
            callback = data.get("handler")
            logger.error(
                "handler %s has no access rule; refused", getattr(callback, "callback", "?")
            )
        if is_allowed(rule, user.role if user else None):
            return await handler(event, data)
        await refuse(event, stranger=user is None)
        return None


class ThrottlingMiddleware(BaseMiddleware):
    """Per-user token bucket in front of everything: a hammered button costs no database work.

    A throttled button press still gets an (empty) answer so the phone stops its spinner; a
    throttled message is dropped. Per process: with several webhook processes each keeps its own.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] | None = None) -> None:
        import time

        self.rate, self.burst = rate, burst
        self.clock = clock or time.monotonic
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, user_id: int) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            # Forget idle users rather than grow without bound.
            cutoff = now - self.burst / max(self.rate, 1e-6)
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] >= cutoff}
        return True

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        if self.rate <= 0 or tg_user is None or self.allow(tg_user.id):
            return await handler(event, data)
        logger.info("throttled user %s", tg_user.id)
        query = getattr(event, "callback_query", None)
        if isinstance(query, CallbackQuery):
            await query.answer()
        return None


# The ids of the button presses answered while the current update is handled.
_answered: ContextVar[set[str] | None] = ContextVar("answered_queries", default=None)


class CallbackAnswerPolicy(BaseMiddleware):
    """Every button press is answered exactly once, so the phone stops its spinner.

    The outermost of our update middlewares: after the handler (or when no handler took the
    press) it answers, without a text, each press nobody answered (also when a reply to
    Telegram failed). A handler answers itself only to say something (a toast or an alert),
    or first thing before slow work (a chart, a file), so the spinner stops at once. When the
    handler fails, the error handler answers with its apology instead.

    Outside the user's lock and the unit of work: by the time the press is answered the
    update's work is committed and the user's next update may already run — with Telegram
    150–250 ms away, waiting for this answer inside the lock held every next step up by a
    round trip.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = event.callback_query if isinstance(event, Update) else None
        if query is None:
            return await handler(event, data)
        answered: set[str] = set()
        token = _answered.set(answered)
        try:
            result = await handler(event, data)
        except TelegramAPIError:
            # A reply failed: the error handler tells the user in the chat; the press itself
            # still gets its answer here, so the spinner stops.
            if query.id not in answered:
                await self._answer(query)
            raise
        finally:
            _answered.reset(token)
        if query.id not in answered and not data.get(REDELIVERED):
            await self._answer(query)
        return result

    @staticmethod
    async def _answer(event: CallbackQuery) -> None:
        try:
            await event.answer()
        except TelegramAPIError as error:
            # Too late (a slow handler let the query expire), or Telegram is unreachable: the
            # screen, or the error handler's message, is what the user sees.
            logger.info("button press not answered: %s", type(error).__name__)


class RecordCallbackAnswers(BaseRequestMiddleware):
    """Bot session middleware: notes each answerCallbackQuery for CallbackAnswerPolicy."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, AnswerCallbackQuery):
            answered = _answered.get()
            if answered is not None:
                answered.add(method.callback_query_id)
        return await make_request(bot, method)
