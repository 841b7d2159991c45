"""Narrowed routers (bot/ui/routing.py): the root filter lets in everything their handlers take."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.filters.state import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, Message, User
from aiogram.utils.magic_filter import MagicFilter

from bot.ui.routing import NARROWED, Narrowing, narrow
from handlers import get_routers


def _states(callback: object) -> list[str] | None:
    if isinstance(callback, State):
        return [callback.state or ""]
    if isinstance(callback, StateFilter):
        names: list[str] = []
        for each in callback.states:
            if isinstance(each, type) and issubclass(each, StatesGroup):
                names += [state.state or "" for state in each.__all_states__]
            else:
                names.append((each.state or "") if isinstance(each, State) else str(each))
        return names
    return None


def _taken(handler_filters: Sequence[object], spec: Narrowing, *, button: bool) -> bool:
    """Whether one of a handler's filters (all must pass) is something the root lets in."""
    for callback in handler_filters:
        if button and isinstance(callback, CallbackQueryFilter):
            if callback.callback_data.__prefix__ in spec.prefixes:
                return True
        elif not button and isinstance(callback, Command):
            if spec.commands:
                return True
        elif not button and isinstance(getattr(callback, "__self__", None), MagicFilter):
            # F.text.startswith("/") and the like: takes a command's text, never plain text.
            magic: MagicFilter = callback.__self__  # type: ignore[attr-defined]
            takes_commands_only = bool(magic.resolve(_message("/x"))) and not magic.resolve(
                _message("plain text")
            )
            if spec.commands and takes_commands_only:
                return True
        states = _states(callback)
        if not button and states and all(s.startswith(spec.groups) for s in states):
            return True
    return False


def _uncovered(router: Router) -> list[str]:
    spec = NARROWED[router]
    missing = []
    for button, observer in ((False, router.message), (True, router.callback_query)):
        for handler in observer.handlers:
            filters = [f.callback for f in handler.filters or ()]
            if not _taken(filters, spec, button=button):
                missing.append(getattr(handler.callback, "__name__", "?"))
    return missing


def test_every_handler_of_a_narrowed_router_gets_through_its_root_filter() -> None:
    narrowed = [router for router in get_routers() if router in NARROWED]
    assert {router.name for router in narrowed} >= {
        "handlers.common",
        "handlers.start",
        "handlers.admin",
    }
    for router in narrowed:
        assert _uncovered(router) == [], router.name


def test_a_handler_the_root_filter_would_turn_away_is_found() -> None:
    # The check above must be able to fail: a form state the root filter doesn't know.
    from bot.ui.states import ReportForm

    router = narrow(Router(), commands=True)
    router.message.register(lambda message: None, ReportForm.description)
    assert _uncovered(router) == ["<lambda>"]


def _message(text: str) -> Message:
    return Message.model_validate(
        {
            "message_id": 1,
            "date": 0,
            "chat": Chat(id=5, type="private"),
            "from": User(id=5, is_bot=False, first_name="T"),
            "text": text,
        }
    )


def test_root_filters_let_in_commands_states_and_buttons_only() -> None:
    from bot.ui.callbacks import Cancel, ReportMark
    from bot.ui.states import AddSchool

    router = narrow(Router(), commands=True, states=(AddSchool,), buttons=(Cancel,))
    let_message = router.message._handler.filters[0].callback  # type: ignore[index]
    let_button = router.callback_query._handler.filters[0].callback  # type: ignore[index]
    assert let_message(_message("/invite"), raw_state=None)
    assert let_message(_message("Школа №5"), raw_state=AddSchool.name.state)
    assert not let_message(_message("Школа №5"), raw_state="ReportForm:description")
    assert not let_message(_message("Школа №5"), raw_state=None)
    # aiogram's Command reads a caption too, and a command after a stray space.
    caption = _message("").model_copy(update={"text": None, "caption": "/cancel"})
    assert let_message(caption, raw_state=None)
    assert let_message(_message(" /help"), raw_state=None)
    user = User(id=5, is_bot=False, first_name="T")
    press = CallbackQuery(id="1", from_user=user, chat_instance="c", data=Cancel(form="f").pack())
    assert let_button(press)
    other = CallbackQuery(
        id="2", from_user=user, chat_instance="c", data=ReportMark(mark="done").pack()
    )
    assert not let_button(other)
