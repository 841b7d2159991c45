"""Application lifecycle: long polling with migrations first, admins seeded, clean shutdown."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import User as TgUser
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot import weekly_export
from bot.commands import set_default_commands, set_user_commands
from bot.config import ConfigError, Settings
from bot.db import create_engine, create_session_factory
from bot.dispatcher import create_bot, create_dispatcher
from bot.i18n import create_i18n
from bot.outbox import OUTBOX_SECONDS, Outbox
from bot.scheduler import Scheduler
from handlers import review, roadmap
from models import Role
from models.users import ensure_admins

logger = logging.getLogger(__name__)
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


async def run_polling(settings: Settings) -> None:
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
        roadmap.setup_reminders(scheduler, outbox, settings)
        review.setup_digests(scheduler, outbox, settings)
        scheduler.every(OUTBOX_SECONDS, "outbox", outbox.run)
        weekly_export.setup(scheduler, bot, i18n, settings, dp["read_session_factory"])
        await scheduler.start()
        logger.info("starting long polling as @%s", me.username)
        await dp.start_polling(
            bot,
            allowed_updates=dp.resolve_used_update_types(),
            handle_signals=True,
            close_bot_session=True,
        )
    except asyncio.CancelledError:
        pass
    finally:
        await scheduler.stop()
        await bot.session.close()
        await engine.dispose()
        logger.info("stopped")
