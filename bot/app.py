"""Application lifecycle: long polling with migrations first, admins seeded, clean shutdown."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.commands import set_default_commands, set_user_commands
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.dispatcher import create_bot, create_dispatcher
from bot.i18n import create_i18n
from models import Role
from models.users import ensure_admins

logger = logging.getLogger(__name__)


async def run_polling(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    i18n = create_i18n(settings.default_locale)
    bot: Bot = create_bot(settings)
    dp = create_dispatcher(settings, session_factory, i18n)
    try:
        async with session_factory() as session, session.begin():
            added = await ensure_admins(session, settings.admin_ids)
        if added:
            logger.info("registered %d municipal coordinator(s) from ADMIN_IDS", added)
        try:
            await set_default_commands(bot, i18n)
            with i18n.use_locale(settings.default_locale):
                for admin_id in settings.admin_ids:
                    await set_user_commands(bot, admin_id, Role.MUNICIPAL)
        except TelegramAPIError as exc:
            logger.warning("could not set the commands menu: %s", type(exc).__name__)
        me = await bot.me()
        logger.info("starting long polling as @%s", me.username)
        await dp.start_polling(
            bot,
            allowed_updates=dp.resolve_used_update_types(),
            handle_signals=True,
            close_bot_session=True,
        )
    finally:
        await bot.session.close()
        await engine.dispose()
        logger.info("stopped")
