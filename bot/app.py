"""Application lifecycle shared by long polling and the webhook server.

`bot_runtime` builds and starts what both modes need — engine, i18n, bot, dispatcher, admins
from ADMIN_IDS, the commands menu, the scheduler with the outbox, reminders, digests and the
weekly export — and stops it in reverse order. `run_polling` serves updates by long polling
inside it; bot/webhook.py serves them over HTTP. Migrations are applied before either (main.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import User as TgUser
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import ConfigError, Settings
from bot.db.engine import create_engine, create_session_factory
from bot.dispatcher import create_bot, create_dispatcher
from bot.i18n import create_i18n
from bot.jobs import digests, reminders, surveys, weekly_export
from bot.jobs.outbox import OUTBOX_SECONDS, Outbox
from bot.jobs.scheduler import Scheduler
from bot.pipeline.polling import prune_handled, run_inbox_polling
from bot.ui.commands import set_default_commands, set_user_commands
from models import Role
from models.users import ensure_admins

logger = logging.getLogger(__name__)
PRUNE_SECONDS = 3600.0
STARTUP_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.6, jitter=0.1)


async def wait_for_telegram(bot: Bot) -> TgUser:
    """getMe until the Bot API answers: a bot started during a network outage keeps trying."""
    backoff = Backoff(config=STARTUP_BACKOFF)
    while True:
        try:
            return await bot.me()
        except TelegramUnauthorizedError:
            raise ConfigError("BOT_TOKEN: rejected by the Bot API (check the token)") from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            logger.warning(
                "Bot API not reachable (%s); retrying in %.0f s",
                type(exc).__name__,
                backoff.next_delay,
            )
            await backoff.asleep()


@dataclass(frozen=True)
class BotRuntime:
    """The started application: what a mode needs to serve updates."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    i18n: I18n
    bot: Bot
    dp: Dispatcher
    scheduler: Scheduler
    outbox: Outbox
    me: TgUser


@asynccontextmanager
async def bot_runtime(settings: Settings) -> AsyncIterator[BotRuntime]:
    """Set up and start everything both modes share; on exit stop the scheduler, close the bot
    session and dispose of the engine (in that order: jobs may still be sending)."""
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    i18n = create_i18n(settings.default_locale)
    bot: Bot = create_bot(settings)
    dp = create_dispatcher(settings, session_factory, i18n)
    scheduler = Scheduler(session_factory)
    try:
        async with session_factory() as session, session.begin():
            added = await ensure_admins(session, settings.admin_ids)
        if added:
            logger.info("registered %d municipal coordinator(s) from ADMIN_IDS", added)
        me = await wait_for_telegram(bot)
        try:
            with i18n.context():
                await set_default_commands(bot, i18n)
                with i18n.use_locale(settings.default_locale):
                    for admin_id in settings.admin_ids:
                        await set_user_commands(bot, admin_id, Role.MUNICIPAL)
        except TelegramAPIError as exc:
            logger.warning("could not set the commands menu: %s", type(exc).__name__)
        outbox = Outbox(bot, i18n)
        reminders.setup_reminders(scheduler, outbox, settings)
        digests.setup_digests(scheduler, outbox, settings)
        scheduler.every(OUTBOX_SECONDS, "outbox", outbox.run)
        scheduler.every(PRUNE_SECONDS, "handled_updates", prune_handled)
        surveys.setup(scheduler, settings)
        weekly_export.setup(scheduler, bot, i18n, settings, dp["read_session_factory"])
        await scheduler.start()
        # The ~300,000 objects of start-up (aiogram's API models, SQLAlchemy, the routers) live
        # as long as the process; keeping them out of the collector's generations spares every
        # full collection ~240 ms of walking them while users wait (bench/e2e.py, 4b).
        gc.collect()
        gc.freeze()
        yield BotRuntime(settings, engine, session_factory, i18n, bot, dp, scheduler, outbox, me)
    finally:
        gc.unfreeze()
        await scheduler.stop()
        await bot.session.close()
        await engine.dispose()
        logger.info("stopped")


async def run_polling(settings: Settings) -> None:
    try:
        async with bot_runtime(settings) as runtime:
            logger.info("starting long polling as @%s", runtime.me.username)
            await run_inbox_polling(runtime.dp, runtime.bot, runtime.session_factory)
    except asyncio.CancelledError:
        pass
