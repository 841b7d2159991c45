"""Keyboards of the roadmap import, /roadmap and reminder digests; no queries here."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.ui.callbacks import (
    Cancel,
    ReminderMute,
    ReminderReport,
    RoadmapImportConfirm,
    RoadmapPage,
)
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager
from models import School

SCHOOLS_SHOWN = 30


def import_confirm(school_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("✅ Import"), callback_data=RoadmapImportConfirm(school_id=school_id))
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    builder.adjust(2)
    return builder.as_markup()


def roadmap_pages(
    school_id: int, *, page: int, total: int, per_page: int
) -> InlineKeyboardMarkup | None:
    builder = Keyboard()
    buttons = add_pager(
        builder,
        page=page,
        total=total,
        per_page=per_page,
        button=lambda number: RoadmapPage(school_id=school_id, page=number),
        counter=True,
    )
    if not buttons:
        return None
    builder.adjust(buttons)
    return builder.as_markup()


def school_choice(schools: Sequence[School]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for school in schools[:SCHOOLS_SHOWN]:
        builder.button(
            text=school.short_name[:64], callback_data=RoadmapPage(school_id=school.id, page=0)
        )
    builder.adjust(1)
    return builder.as_markup()


def reminder_actions(*, report: bool) -> InlineKeyboardMarkup:
    builder = Keyboard()
    if report:
        builder.button(text=_("📝 Report an activity"), callback_data=ReminderReport())
    builder.button(text=_("🔕 Mute reminders"), callback_data=ReminderMute(action="mute"))
    builder.adjust(1)
    return builder.as_markup()


def unmute() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=_("🔔 Turn reminders back on"), callback_data=ReminderMute(action="unmute")
    )
    return builder.as_markup()
