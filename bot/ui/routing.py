"""Root filters that let an update skip a router whose handlers could not take it.

aiogram checks a router's handlers one by one, each with all its filters, and only then goes on
to the next router. A report step passes the routers in front of the report form's (errors,
/cancel and /help, /start, the municipal forms) and was checked against 14 of their handlers on
the way (1.7 % of an update's Python calls, bench/form_steps.py's flows). ``narrow`` gives such a
router one cheap check in front of its handlers — is this a command, a state of one of its
forms, a button of one of its kinds — so every other update passes it with a single filter call.

The check must accept everything at least one of the router's handlers accepts: a router's
handlers need a command, one of its states or one of its buttons (tests/test_routing.py checks
every narrowed router's handlers against this).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import StatesGroup
from aiogram.types import CallbackQuery, Message


@dataclass(frozen=True)
class Narrowing:
    """What a narrowed router lets in."""

    commands: bool
    groups: tuple[str, ...]  # «AddSchool:», the prefix of every state of a form
    prefixes: frozenset[str]  # the callback data prefixes of its buttons


NARROWED: weakref.WeakKeyDictionary[Router, Narrowing] = weakref.WeakKeyDictionary()


def narrow(
    router: Router,
    *,
    commands: bool = False,
    states: Iterable[type[StatesGroup]] = (),
    buttons: Iterable[type[CallbackData]] = (),
) -> Router:
    """Let messages in only when they are commands (``commands``) or sent in one of ``states``,
    and button presses only when their data is of one of ``buttons``."""
    groups = tuple(f"{group.__full_group_name__}:" for group in states)
    prefixes = frozenset(button.__prefix__ for button in buttons)

    def message_may_match(message: Message, raw_state: str | None = None) -> bool:
        if commands and (message.text or message.caption or "").lstrip().startswith("/"):
            return True
        return raw_state is not None and raw_state.startswith(groups)

    def button_may_match(query: CallbackQuery) -> bool:
        return (query.data or "").split(":", 1)[0] in prefixes

    NARROWED[router] = Narrowing(commands, groups, prefixes)
    router.message.filter(message_may_match)
    router.callback_query.filter(button_may_match)
    return router
