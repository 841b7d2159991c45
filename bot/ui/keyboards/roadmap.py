"""Keyboards of the roadmap import, /roadmap, an activity's card and reminder digests; no
queries here."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.ui.callbacks import (
    Cancel,
    ItemAction,
    ReminderMute,
    ReminderReport,
    RoadmapImportConfirm,
    RoadmapItemAction,
    RoadmapItemDirection,
    RoadmapPage,
)
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager
from bot.ui.texts import direction_name
from models import School
from models.enums import Direction

SCHOOLS_SHOWN = 30
# «✏ n» buttons per row under /roadmap: four fit a phone's width with two-digit numbers.
EDIT_ROW = 4
SHORT_LABEL = 5


def import_confirm(school_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("✅ Import"), callback_data=RoadmapImportConfirm(school_id=school_id))
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    builder.adjust(2)
    return builder.as_markup()


def roadmap_pages(
    school_id: int,
    *,
    page: int,
    total: int,
    per_page: int,
    edit: Sequence[tuple[str, int]] = (),
) -> InlineKeyboardMarkup | None:
    """The pager of /roadmap; for the school's coordinator also «✏ n» per activity on the page
    (`edit`: the label and the item id of each)."""
    builder = Keyboard()
    for label, item_id in edit:
        builder.button(
            text=f"✏ {label}",
            callback_data=RoadmapItemAction(action=ItemAction.OPEN, item_id=item_id),
        )
    buttons = add_pager(
        builder,
        page=page,
        total=total,
        per_page=per_page,
        button=lambda number: RoadmapPage(school_id=school_id, page=number),
        counter=True,
    )
    if not edit and not buttons:
        return None
    # Numbers go four to a row; titles (activities without a number) one to a row.
    per_row = EDIT_ROW if all(len(label) <= SHORT_LABEL for label, _id in edit) else 1
    full, rest = divmod(len(edit), per_row)
    rows = [per_row] * full + ([rest] if rest else [])
    builder.adjust(*rows, buttons or 1)
    return builder.as_markup()


def _item_button(builder: Keyboard, text: str, action: ItemAction, item_id: int) -> None:
    builder.button(text=text, callback_data=RoadmapItemAction(action=action, item_id=item_id))


def item_card(item_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    _item_button(builder, _("🧭 Direction"), ItemAction.DIRECTION, item_id)
    _item_button(builder, _("📅 Deadline"), ItemAction.DUE, item_id)
    _item_button(builder, _("👤 Responsible"), ItemAction.RESPONSIBLE, item_id)
    _item_button(builder, _("◀ To the list"), ItemAction.LIST, item_id)
    builder.adjust(2, 1, 1)
    return builder.as_markup()


def item_directions(item_id: int, current: str | None) -> InlineKeyboardMarkup:
    """The eight directions and «no direction»; the item's own is ticked."""
    builder = Keyboard()
    for code in Direction:
        tick = "✓ " if code == current else ""
        builder.button(
            text=tick + direction_name(code.value),
            callback_data=RoadmapItemDirection(item_id=item_id, code=code),
        )
    tick = "✓ " if current is None else ""
    _item_button(builder, tick + _("no direction"), ItemAction.NO_DIRECTION, item_id)
    _item_button(builder, _("◀ Back"), ItemAction.OPEN, item_id)
    builder.adjust(*[2] * (len(Direction) // 2), 1, 1)
    return builder.as_markup()


def item_back(item_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    _item_button(builder, _("◀ Back"), ItemAction.OPEN, item_id)
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
