"""Keyboards of the reporting forms; builders take what they show and do no queries."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date

from aiogram.types import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from bot.ui.callbacks import (
    Cancel,
    MyPage,
    MyReport,
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.formatting import day_month, one_line
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager
from bot.ui.texts import direction_name, mark_name
from models import ActivityReport, Direction, Mark, ReviewState, RoadmapItem

MENU_REPORT = __("📝 Report an activity")
MENU_MY = __("📋 My reports")
MENU_BUTTONS = {"report": "📝 Report an activity", "my": "📋 My reports"}
ITEMS_PER_PAGE = 6
MY_PER_PAGE = 5


def main_menu() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=str(MENU_REPORT)), KeyboardButton(text=str(MENU_MY))]],
        resize_keyboard=True,
        is_persistent=True,
    )


def menu_button(name: str) -> Callable[[Message], bool]:
    """A filter: this menu button's text in any language, so a menu drawn before /lang works."""
    msgid = MENU_BUTTONS[name]

    def pressed(message: Message) -> bool:
        if not message.text:
            return False
        i18n = get_i18n()
        return message.text == msgid or any(
            message.text == i18n.gettext(msgid, locale=locale) for locale in i18n.available_locales
        )

    return pressed


def _nav(builder: Keyboard, form: str, *, back: bool = True) -> int:
    if back:
        builder.button(text=_("◀ Back"), callback_data=ReportNav(action="back", form=form))
    builder.button(text=_("✖ Cancel"), callback_data=Cancel(form=form))
    return 2 if back else 1


_SECTION_NUMBER = re.compile(r"^\W*(?:раздел|section|блок)?\s*(\d{1,3}|[IVXLC]{1,6})\b", re.I)


def item_number(item: RoadmapItem) -> str:
    """«2.3. »: numbers restart per section in real roadmaps, so the section's number leads."""
    if not item.number:
        return ""
    number = item.number.rstrip(".")
    if item.section:
        found = _SECTION_NUMBER.match(item.section)
        if found is None:
            return f"{one_line(item.section, 14)} · {number}. "
        if not number.startswith(found.group(1) + "."):
            number = f"{found.group(1)}.{number}"
    return f"{number}. "


def _due(item: RoadmapItem, today: date) -> str:
    """« · ⚠ 30.09.25»: the year is shown unless it is this year's."""
    if item.due_date is None:
        return ""
    flag = "⚠ " if item.due_date < today else ""
    shown = (
        f"{item.due_date:%d.%m}"
        if item.due_date.year == today.year
        else f"{item.due_date:%d.%m.%y}"
    )
    return f" · {flag}{shown}"


def activity_list(
    items: Sequence[RoadmapItem],
    *,
    page: int,
    total: int,
    today: date,
    searching: bool,
    form: str,
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    sizes: list[int] = []
    for item in items:
        builder.button(
            text=one_line(f"{item_number(item)}{item.title}", 48) + _due(item, today),
            callback_data=ReportItem(item_id=item.id, form=form),
        )
        sizes.append(1)
    nav = add_pager(
        builder,
        page=page,
        total=total,
        per_page=ITEMS_PER_PAGE,
        button=lambda number: ReportPage(page=number, form=form),
    )
    if nav:
        sizes.append(nav)
    builder.button(text=_("➕ Other activity"), callback_data=ReportItem(item_id=0, form=form))
    sizes.append(1)
    sizes.append(_nav(builder, form, back=searching))
    builder.adjust(*sizes)
    return builder.as_markup()


def directions(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for direction in Direction:
        builder.button(
            text=direction_name(direction.value),
            callback_data=ReportDirection(code=direction.value, form=form),
        )
    builder.adjust(2)
    sizes = [2] * (len(Direction) // 2)
    sizes.append(_nav(builder, form))
    builder.adjust(*sizes)
    return builder.as_markup()


def back_cancel(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.adjust(_nav(builder, form))
    return builder.as_markup()


def marks(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    icons = {Mark.DONE: "✅", Mark.PARTIAL: "◐", Mark.NOT_DONE: "✖"}
    for mark in Mark:
        builder.button(
            text=f"{icons[mark]} {mark_name(mark.value)}",
            callback_data=ReportMark(mark=mark.value, form=form),
        )
    builder.adjust(1, 1, 1, _nav(builder, form))
    return builder.as_markup()


def evidence(has_any: bool, form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    if has_any:
        builder.button(text=_("Done ✓"), callback_data=ReportNav(action="done", form=form))
    else:
        builder.button(text=_("No evidence"), callback_data=ReportNav(action="done", form=form))
    builder.adjust(1, _nav(builder, form))
    return builder.as_markup()


def summary(*, editing: bool, form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=_("💾 Save changes") if editing else _("✅ Send"),
        callback_data=ReportNav(action="submit", form=form),
    )
    builder.button(text=_("✏ Change"), callback_data=ReportNav(action="edit", form=form))
    builder.button(
        text=_("📎 Add evidence"), callback_data=ReportField(name="evidence", form=form)
    )
    builder.adjust(1, 2, _nav(builder, form))
    return builder.as_markup()


FIELDS = ("activity", "date", "mark", "description", "participants", "organizer", "evidence")


def field_names() -> dict[str, str]:
    return {
        "activity": _("Activity"),
        "date": _("Date"),
        "mark": _("Completion mark"),
        "description": _("What was done"),
        "participants": _("Participants"),
        "organizer": _("Organizer"),
        "evidence": _("Evidence"),
    }


def fields(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    names = field_names()
    for name in FIELDS:
        builder.button(text=names[name], callback_data=ReportField(name=name, form=form))
    builder.adjust(2, 2, 2, 1, _nav(builder, form))
    return builder.as_markup()


def dates(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("Today"), callback_data=ReportDate(days_ago=0, form=form))
    builder.button(text=_("Yesterday"), callback_data=ReportDate(days_ago=1, form=form))
    builder.adjust(2, _nav(builder, form))
    return builder.as_markup()


def with_default(label: str, action: str, form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=label, callback_data=ReportNav(action=action, form=form))
    builder.adjust(1, _nav(builder, form))
    return builder.as_markup()


def resume(form: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=_("▶ Continue the draft"), callback_data=ReportNav(action="resume", form=form)
    )
    builder.button(text=_("↺ Start over"), callback_data=ReportNav(action="restart", form=form))
    builder.adjust(1)
    return builder.as_markup()


def my_reports(
    reports: Sequence[ActivityReport], *, page: int, total: int
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    sizes: list[int] = []
    for report in reports:
        if report.review_state == ReviewState.CONFIRMED:
            continue
        builder.button(
            text=f"✏ №{report.id}", callback_data=MyReport(action="edit", report_id=report.id)
        )
        builder.button(
            text=f"📎 №{report.id}", callback_data=MyReport(action="evidence", report_id=report.id)
        )
        builder.button(
            text=f"🗑 №{report.id}", callback_data=MyReport(action="delete", report_id=report.id)
        )
        sizes.append(3)
    nav = add_pager(
        builder, page=page, total=total, per_page=MY_PER_PAGE, button=lambda n: MyPage(page=n)
    )
    if nav:
        sizes.append(nav)
    builder.adjust(*sizes)
    return builder.as_markup()


def confirm_delete(report_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=_("🗑 Yes, delete"), callback_data=MyReport(action="delete_yes", report_id=report_id)
    )
    builder.button(text=_("Keep it"), callback_data=Cancel())
    builder.adjust(2)
    return builder.as_markup()


def evidence_targets(reports: Sequence[ActivityReport]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for report in reports:
        builder.button(
            text=one_line(f"📎 №{report.id} {day_month(report.held_on)} {report.title}", 60),
            callback_data=MyReport(action="evidence", report_id=report.id),
        )
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    builder.adjust(1)
    return builder.as_markup()


def evidence_collect() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("Done ✓"), callback_data=ReportNav(action="done"))
    builder.adjust(1)
    return builder.as_markup()
