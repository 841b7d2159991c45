"""Last router: whatever no feature handled gets a hint instead of silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.ui.access import public, refuse
from models import User


async def unknown_message(message: Message, user: User | None) -> None:
    if user is None:
        await refuse(message, stranger=True)
        return
    await message.answer(_("I did not understand that. /help lists what you can do."))


async def edit_not_taken(message: Message, user: User | bool | None) -> None:
    """Telegram tells the bot about edits; only the current form's answers are taken."""
    if user is None:
        await refuse(message, stranger=True)
        return
    await message.answer(
        _(
            "Edits of sent messages aren't taken here. If something needs correcting, "
            "send it again as a new message."
        )
    )


async def stale_button(query: CallbackQuery, user: User | None) -> None:
    # Buttons of finished or cancelled forms, and forged data, end here: nothing is touched.
    # A stranger pressing a forwarded button learns first how to get access.
    if user is None:
        await refuse(query, stranger=True)
        return
    await query.answer(_("This button is no longer active."), show_alert=True)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(unknown_message, flags=public())
    router.edited_message.register(edit_not_taken, flags=public())
    router.callback_query.register(stale_button, flags=public())
    return router
