"""Bot and Dispatcher factories: main.py and the tests build the bot through these."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.enums import ChatType, ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, DefaultKeyBuilder
from aiogram.fsm.storage.memory import DisabledEventIsolation, SimpleEventIsolation
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.db.storage import DatabaseStorage
from bot.middlewares import (
    AccessMiddleware,
    CallbackAnswerPolicy,
    RecordCallbackAnswers,
    ThrottlingMiddleware,
    UserLocaleMiddleware,
)
from bot.pipeline.json_session import JsonAiohttpSession
from bot.pipeline.locks import RedisLockIsolation, UserLockMiddleware, redis_client
from bot.pipeline.telegram_retry import RetryRequestMiddleware
from bot.pipeline.unit_of_work import CommitBeforeRequest, UnitOfWorkMiddleware
from handlers import get_routers


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """Every method call and file download goes through TELEGRAM_API_URL; calls without a
    file send their parameters as JSON (bot/pipeline/json_session.py)."""
    if session is None:
        session = JsonAiohttpSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url),
            limit=settings.telegram_connections,
        )
    session.middleware(RetryRequestMiddleware())
    session.middleware(RecordCallbackAnswers())
    # Outermost: the update's work is committed before a call goes out, and retries of that
    # call don't hold a transaction either.
    session.middleware(CommitBeforeRequest())
    return Bot(
        token=settings.require_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_fsm_storage(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> tuple[DatabaseStorage, BaseEventIsolation]:
    """Form state and drafts always live in the database, committed with the rows they
    describe; Redis (REDIS_URL) only holds the per-user lock across processes. Moving the
    state itself to Redis saved no CPU (0.95x, measured for issue 15) and could not commit
    together with the rows."""
    storage = DatabaseStorage(session_factory)
    if settings.redis_url is None:
        return storage, SimpleEventIsolation()
    redis = redis_client(settings.redis_url.get_secret_value(), settings.redis_pool_size)
    key_builder = DefaultKeyBuilder(prefix=settings.redis_key_prefix, with_destiny=True)
    return storage, RedisLockIsolation(redis, key_builder)


def create_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    i18n: I18n,
    *,
    storage: DatabaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
    read_session_factory: async_sessionmaker[AsyncSession] | None = None,
) -> Dispatcher:
    """The update pipeline (see bot/pipeline/unit_of_work.py): flood control, the user's
    lock, the unit of work (session, user, form state, handled mark), FSM context, locale,
    then access."""
    if read_session_factory is None:
        # Long readers (exports) get read-only sessions; no pool, so nothing is left to dispose.
        read_session_factory = create_session_factory(
            create_engine(settings.database_url, read_only=True, poolclass=NullPool)
        )
    default_isolation: BaseEventIsolation = SimpleEventIsolation()
    if storage is None:
        storage, default_isolation = create_fsm_storage(settings, session_factory)
    isolation = events_isolation or default_isolation
    dp = Dispatcher(
        storage=storage,
        # The lock is taken by UserLockMiddleware, before the unit of work reads form state.
        events_isolation=DisabledEventIsolation(),
        disable_fsm=True,
        settings=settings,
        session_factory=session_factory,
        read_session_factory=read_session_factory,
        i18n=i18n,
        user_locks=isolation,
    )
    dp.shutdown.register(isolation.close)
    # Every button press answered once: what the handler left unanswered is answered after it,
    # once the user's lock is free again (the next step needn't wait for that round trip).
    dp.update.outer_middleware(CallbackAnswerPolicy())
    dp.update.outer_middleware(
        ThrottlingMiddleware(settings.throttle_rate, settings.throttle_burst)
    )
    # One update per user at a time: a double tap on «Отправить» is handled in sequence.
    dp.update.outer_middleware(UserLockMiddleware(isolation, dp.fsm))
    dp.update.outer_middleware(UnitOfWorkMiddleware(session_factory, dp.fsm, storage))
    dp.update.outer_middleware(dp.fsm)
    locale_middleware = UserLocaleMiddleware(i18n)
    dp.update.outer_middleware(locale_middleware)
    # Error handlers run outside the update chain; they need the user's language too.
    dp.error.outer_middleware(locale_middleware)
    access = AccessMiddleware()
    dp.message.middleware(access)
    dp.callback_query.middleware(access)
    dp.edited_message.middleware(access)

    # School data never goes to groups or channels: only private chats reach the features.
    private = Router(name="private")
    private.message.filter(F.chat.type == ChatType.PRIVATE)
    private.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    private.edited_message.filter(F.chat.type == ChatType.PRIVATE)
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
