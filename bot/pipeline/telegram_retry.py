"""Retries Bot API calls on flood control (429), server errors and dropped connections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

logger = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[Any]]

# aiogram validates every reply as ``Response[method.__returning__]``, and pydantic keeps such
# parametrized models only in a weak cache: once the garbage collector has dropped one, the next
# reply builds it again from the whole Message schema (milliseconds, ~15% of a form step's CPU
# in bench/form_steps.py). Holding one reference per method type keeps each built once.
_RESPONSE_TYPES: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {}


def _keep_response_type(method: TelegramMethod[Any]) -> None:
    kind = type(method)
    if kind not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[kind] = Response[method.__returning__]  # type: ignore[name-defined]


class RetryRequestMiddleware(BaseRequestMiddleware):
    """A few bounded retries: a reply delayed by seconds is better than a reply lost.

    Long waits are not retried inline (a handler holds a database transaction meanwhile): the
    error surfaces, the handler's work is committed and the user is told (see the error router).
    """

    def __init__(
        self,
        attempts: int = 3,
        max_wait: float = 5.0,
        base_delay: float = 0.5,
        sleep: Sleep | None = None,
    ) -> None:
        self.attempts, self.max_wait, self.base_delay = attempts, max_wait, base_delay
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        _keep_response_type(method)
        if method.__api_method__ == GetUpdates.__api_method__:
            # Polling has its own backoff (bot/pipeline/polling.py).
            return await make_request(bot, method)
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                delay = float(error.retry_after)
                if attempt >= self.attempts or delay > self.max_wait:
                    raise
                reason = "flood control"
            except TelegramEntityTooLarge:
                raise  # a network error to aiogram, but sending the same file again can't help
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt >= self.attempts:
                    raise
                delay = self.base_delay * 2 ** (attempt - 1)
                reason = type(error).__name__
            logger.warning(
                "%s failed (%s); retry %d in %.1f s", type(method).__name__, reason, attempt, delay
            )
            await (self.sleep or asyncio.sleep)(delay)
            attempt += 1
