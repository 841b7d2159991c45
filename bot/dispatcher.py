"""Bot and Dispatcher factories: main.py and the tests build the bot through these."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.enums import ChatType, ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.middlewares import (
    AccessMiddleware,
    DbSessionMiddleware,
    ThrottlingMiddleware,
    UserLocaleMiddleware,
    UserMiddleware,
)
from bot.storage import DatabaseStorage
from bot.telegram_retry import RetryRequestMiddleware
from handlers import get_routers


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """Every method call and file download goes through TELEGRAM_API_URL."""
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(RetryRequestMiddleware())
    return Bot(
        token=settings.require_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_fsm_storage(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Form state and drafts: Redis with REDIS_URL (and a lock per user across processes),
    else the database with a lock per user inside this process."""
    if settings.redis_url is None:
        return DatabaseStorage(session_factory), SimpleEventIsolation()
    from aiogram.fsm.storage.redis import RedisStorage

    storage = RedisStorage.from_url(
        settings.redis_url.get_secret_value(),
        key_builder=DefaultKeyBuilder(prefix=settings.redis_key_prefix, with_destiny=True),
    )
    return storage, storage.create_isolation()


def create_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    i18n: I18n,
    *,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
    read_session_factory: async_sessionmaker[AsyncSession] | None = None,
) -> Dispatcher:
    if read_session_factory is None:
        # Long readers (exports) get read-only sessions; no pool, so nothing is left to dispose.
        read_session_factory = create_session_factory(
            create_engine(settings.database_url, read_only=True, poolclass=NullPool)
        )
    default_isolation: BaseEventIsolation = SimpleEventIsolation()
    if storage is None:
        storage, default_isolation = create_fsm_storage(settings, session_factory)
    dp = Dispatcher(
        storage=storage,
        # One update per user at a time: a double tap on «Отправить» is handled in sequence.
        events_isolation=events_isolation or default_isolation,
        settings=settings,
        session_factory=session_factory,
        read_session_factory=read_session_factory,
        i18n=i18n,
    )
    dp.update.outer_middleware(
        ThrottlingMiddleware(settings.throttle_rate, settings.throttle_burst)
    )
    dp.update.outer_middleware(DbSessionMiddleware(session_factory))
    dp.update.outer_middleware(UserMiddleware(session_factory))
    locale_middleware = UserLocaleMiddleware(i18n)
    dp.update.outer_middleware(locale_middleware)
    # Error handlers run outside the update chain; they need the user's language too.
    dp.error.outer_middleware(locale_middleware)
    access = AccessMiddleware()
    dp.message.middleware(access)
    dp.callback_query.middleware(access)

    # School data never goes to groups or channels: only private chats reach the features.
    private = Router(name="private")
    private.message.filter(F.chat.type == ChatType.PRIVATE)
    private.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    private.include_routers(*get_routers())
    dp.include_router(private)
    run_sync_filters_inline(dp)
    return dp


def run_sync_filters_inline(router: Router) -> int:
    """Make the routers' synchronous filters run on the event loop; returns how many.

    aiogram hands every synchronous filter (a bare ``State``, an ``F`` expression) to a worker
    thread with ``asyncio.to_thread``: 4–15 thread hops per update here for checks that take
    microseconds, 7–9 % of a form step's CPU (bench/form_steps.py). None of our filters blocks.
    The filter keeps the parameters aiogram read from the original callable.
    """
    count = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            filters = list(observer._handler.filters or ())
            for handler in observer.handlers:
                filters.extend(handler.filters or ())
            for event_filter in filters:
                if not event_filter.awaitable:
                    _make_awaitable(event_filter)
                    count += 1
    return count


def _make_awaitable(event_filter: FilterObject) -> None:
    check = event_filter.callback

    async def run_inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    event_filter.callback = run_inline
    event_filter.awaitable = True
