"""Access rules, declared on every handler as the `access` flag and enforced in one middleware.

A handler registered without the flag is refused for everybody (fail closed), and the access
matrix test lists such handlers by name.
"""

from __future__ import annotations

from typing import Any, Final

from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from models.enums import Role

PUBLIC: Final = "public"
EVERY_ROLE: Final = frozenset(Role)
SCHOOL_STAFF: Final = frozenset({Role.TEACHER, Role.COORDINATOR})
OVERSIGHT: Final = frozenset({Role.CURATOR, Role.MUNICIPAL})


def allow(*roles: Role | frozenset[Role]) -> dict[str, Any]:
    """Handler flags admitting the given roles (single roles or role sets)."""
    admitted: set[Role] = set()
    for role in roles:
        admitted |= role if isinstance(role, frozenset) else {role}
    return {"access": frozenset(admitted)}


def public() -> dict[str, Any]:
    """Handler flags for what strangers may use too (/start, /help, /lang, /cancel)."""
    return {"access": PUBLIC}


def is_allowed(rule: object, role: Role | None) -> bool:
    if rule == PUBLIC:
        return True
    if isinstance(rule, frozenset):
        return role is not None and role in rule
    return False


async def refuse(event: TelegramObject, *, stranger: bool) -> None:
    text = (
        _(
            "This bot is for schools, their curators and municipal coordinators. "
            "To get access, ask your municipal coordinator or curator for an invite link "
            "and open it."
        )
        if stranger
        else _("This is not available for your role. /help lists what you can do.")
    )
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    elif isinstance(event, Message):
        await event.answer(text)
