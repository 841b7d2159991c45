"""The access matrix, generated from the handlers the dispatcher really has.

Every command and every callback action × every role (stranger, teacher, coordinator, curator,
municipal coordinator) × own / foreign school: what the role may not use gets a polite refusal
and changes nothing in the database. A handler registered without an access rule fails here.
"""

from __future__ import annotations

import enum
import hashlib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.utils.i18n import gettext as _
from sqlalchemy import inspect, text

from bot.ui.access import PUBLIC, is_allowed
from models import Role
from tests.conftest import Harness, World
from tests.telegram import BOT_ID

ROLES: tuple[Role | None, ...] = (None, *Role)


@dataclass(frozen=True)
class Registered:
    name: str
    observer: str
    handler: HandlerObject

    @property
    def rule(self) -> Any:
        return self.handler.flags.get("access")

    def filters_of(self, kind: type) -> list[Any]:
        return [f.callback for f in self.handler.filters or [] if isinstance(f.callback, kind)]


def registered(dp: Dispatcher) -> Iterator[Registered]:
    for router in dp.chain_tail:
        for observer in ("message", "callback_query"):
            for handler in router.observers[observer].handlers:
                name = f"{router.name}.{getattr(handler.callback, '__name__', handler.callback)}"
                yield Registered(name, observer, handler)


def commands(dp: Dispatcher) -> list[tuple[str, Registered]]:
    found = []
    for item in registered(dp):
        for command_filter in item.filters_of(Command):
            for command in command_filter.commands:
                found.append((getattr(command, "command", command), item))
    return found


def callbacks(dp: Dispatcher) -> list[tuple[type[CallbackData], Registered]]:
    found = []
    for item in registered(dp):
        for callback_filter in item.filters_of(CallbackQueryFilter):
            found.append((callback_filter.callback_data, item))
    return found


def who(world: World, role: Role | None) -> int:
    if role is None:
        return 777_001
    return {
        Role.TEACHER: world.teacher,
        Role.COORDINATOR: world.coordinator,
        Role.CURATOR: world.curator,
        Role.MUNICIPAL: world.municipal,
    }[role].telegram_id


async def snapshot(session_factory) -> str:
    """A digest of every row but form state and handled marks: equal means nothing was touched."""
    digest = hashlib.sha256()
    async with session_factory() as session:
        names = await session.run_sync(lambda s: inspect(s.bind).get_table_names())
        for name in sorted(names):
            if name in {"fsm_records", "telegram_updates", "alembic_version"}:
                continue
            rows = await session.execute(text(f'SELECT * FROM "{name}" ORDER BY 1'))
            digest.update(name.encode())
            for row in rows:
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def refusals() -> set[str]:
    return {
        _(
            "This bot is for schools, their curators and municipal coordinators. "
            "To get access, ask your municipal coordinator or curator for an invite link "
            "and open it."
        ),
        _("This is not available for your role. /help lists what you can do."),
        _("This button is no longer active."),
        _("This is not available to you."),
        _("This item no longer exists or is not available to you."),
    }


def test_every_handler_declares_an_access_rule(dispatcher: Dispatcher) -> None:
    missing = [item.name for item in registered(dispatcher) if item.rule is None]
    assert missing == [], f"handlers without flags=allow(...)/public(): {missing}"
    unknown = [
        item.name
        for item in registered(dispatcher)
        if item.rule != PUBLIC
        and not (isinstance(item.rule, frozenset) and item.rule <= set(Role))
    ]
    assert unknown == []


def test_the_matrix_covers_the_features(dispatcher: Dispatcher) -> None:
    """Guards the generator itself: if it found nothing, the matrix below would prove nothing."""
    names = {command for command, _item in commands(dispatcher)}
    assert {"start", "help", "report", "my", "review", "invite", "addschool"} <= names
    assert len(callbacks(dispatcher)) >= 20


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "stranger")
async def test_commands_by_role(
    harness: Harness, world: World, role: Role | None, tg, session_factory, i18n_ru
) -> None:
    user = tg.user(who(world, role))
    # A command may have several handlers told apart by role (/diagnostics: teachers are told
    # who fills it in): it is open to a role if one of them admits it.
    rules: dict[str, list[Any]] = {}
    for command, item in commands(harness.dp):
        rules.setdefault(command, []).append(item.rule)
    for command, command_rules in rules.items():
        await harness.dp.fsm.storage.set_state(_key(user.id), None)
        before = await snapshot(session_factory)
        requests = await harness.send(user, f"/{command}")
        answers = [r.text for r in requests if isinstance(r, SendMessage)]
        if any(is_allowed(rule, role) for rule in command_rules):
            not_for_role = _("This is not available for your role. /help lists what you can do.")
            assert answers and not_for_role not in answers, (command, role)
        else:
            assert answers and set(answers) <= refusals(), (command, role, answers)
            assert await snapshot(session_factory) == before, (command, role)


def _key(user_id: int) -> StorageKey:
    return StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)


def _state_name(states: list[Any]) -> str | None:
    """A state the handler listens in, so stateful handlers are reached, not skipped."""
    if not states or states[0] in ("*", None):
        return None
    first = states[0]
    if isinstance(first, type) and issubclass(first, StatesGroup):
        first = first.__states__[0]
    return first.state if isinstance(first, State) else str(first)


def forged_instances(cls: type[CallbackData], ids: list[int]) -> list[CallbackData]:
    """Instances with every id field set to each given id, strings set to a plausible value."""
    hints = typing.get_type_hints(cls)
    made = []
    for value in ids:
        fields: dict[str, Any] = {}
        for name in cls.model_fields:
            hint = hints.get(name)
            if hint is int:
                fields[name] = value
            elif hint is bool:
                fields[name] = True
            elif isinstance(hint, type) and issubclass(hint, enum.Enum):
                fields[name] = next(iter(hint))  # a closed set: its first value
            elif typing.get_origin(hint) is typing.Literal:
                fields[name] = typing.get_args(hint)[0]
            else:
                fields[name] = {"action": "confirm", "purpose": "invite"}.get(name, "done")
        made.append(cls(**fields))
    return made


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "stranger")
async def test_callbacks_by_role_with_foreign_and_missing_ids(
    harness: Harness, world: World, role: Role | None, tg, session_factory, i18n_ru
) -> None:
    """Buttons pressed by a role that may not use them, or carrying another school's ids."""
    user = tg.user(who(world, role))
    foreign_ids = [world.school_b.id, world.teacher_b.id, 10**9]
    for cls, item in callbacks(harness.dp):
        states = [s for f in item.filters_of(StateFilter) for s in f.states]
        allowed = is_allowed(item.rule, role)
        carries_ids = int in typing.get_type_hints(cls).values()
        if allowed and not carries_ids:
            continue  # nothing to forge; the feature tests cover what it does
        for data in forged_instances(cls, foreign_ids if allowed else [world.school_a.id]):
            await harness.dp.fsm.storage.set_state(_key(user.id), _state_name(states))
            before = await snapshot(session_factory)
            requests = await harness.click(user, data.pack())
            if not allowed:
                answers = [r.text for r in requests if isinstance(r, AnswerCallbackQuery)]
                assert answers and set(answers) <= refusals(), (item.name, role, answers)
            assert await snapshot(session_factory) == before, (item.name, role, data.pack())
