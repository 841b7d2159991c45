"""Keyboard builders: they take what they show as parameters and do no queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.ui.callbacks import (
    Cancel,
    InviteDone,
    InviteRole,
    InviteSchool,
    LangChoice,
    MunicipalityPick,
    ProjectChoice,
    SchoolsPage,
)
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager
from bot.ui.texts import project_name, role_name
from models import Municipality, Project, Role, School

PAGE_SIZE = 8


def cancel_button(builder: Keyboard) -> None:
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())


def languages() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text="Русский", callback_data=LangChoice(code="ru"))
    builder.button(text="English", callback_data=LangChoice(code="en"))
    return builder.as_markup()


def projects() -> InlineKeyboardMarkup:
    builder = Keyboard()
    for project in Project:
        builder.button(text=project_name(project), callback_data=ProjectChoice(value=project))
    cancel_button(builder)
    builder.adjust(1)
    return builder.as_markup()


def municipalities(items: Iterable[Municipality]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for item in items:
        builder.button(
            text=item.name[:60], callback_data=MunicipalityPick(municipality_id=item.id)
        )
    cancel_button(builder)
    builder.adjust(1)
    return builder.as_markup()


def invite_roles(roles: Sequence[Role]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for role in roles:
        builder.button(text=role_name(role), callback_data=InviteRole(role=role))
    cancel_button(builder)
    builder.adjust(1)
    return builder.as_markup()


def school_picker(
    schools: Sequence[School],
    *,
    page: int,
    total: int,
    purpose: str,
    selected: frozenset[int] = frozenset(),
    multi: bool = False,
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for school in schools:
        mark = "✅ " if school.id in selected else ""
        builder.button(
            text=f"{mark}{school.short_name}"[:64], callback_data=InviteSchool(school_id=school.id)
        )
    sizes = [1] * len(schools)
    nav = add_pager(
        builder,
        page=page,
        total=total,
        per_page=PAGE_SIZE,
        button=lambda number: SchoolsPage(purpose=purpose, page=number),
    )
    if nav:
        sizes.append(nav)
    if multi:
        builder.button(
            text=_("Done ({count})").format(count=len(selected)), callback_data=InviteDone()
        )
        sizes.append(1)
    cancel_button(builder)
    sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup()
