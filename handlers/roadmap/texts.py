"""How the roadmap screens word a deadline: what the bot read from the text a school wrote."""

from __future__ import annotations

from datetime import date

from aiogram.utils.i18n import gettext as _

from bot.ui.formatting import day
from bot.ui.texts import direction_name
from models.duedates import DueKind, Recurrence


def recurrence_name(code: str | None) -> str:
    names: dict[str, str] = {
        Recurrence.DAILY: _("daily"),
        Recurrence.WEEKLY: _("weekly"),
        Recurrence.BIWEEKLY: _("every two weeks"),
        Recurrence.MONTHLY: _("monthly"),
        Recurrence.QUARTERLY: _("quarterly"),
        Recurrence.HALF_YEARLY: _("twice a year"),
        Recurrence.YEARLY: _("yearly"),
        Recurrence.PER_SCHEDULE: _("by a separate schedule"),
        Recurrence.ONGOING: _("ongoing"),
    }
    return names.get(code or "", _("repeating"))


def due_understood(kind: str, start: date | None, end: date | None, recurrence: str | None) -> str:
    """What the bot read from a deadline text, for the preview and /roadmap."""
    if kind == DueKind.DATE:
        if start is None or start == end:
            return _("by {date}").format(date=day(end))
        return day(end)
    if kind == DueKind.PERIOD:
        return _("{start} – {end}").format(start=day(start), end=day(end))
    if kind == DueKind.RECURRING:
        text = recurrence_name(recurrence)
        if end is not None:
            text += ", " + _("until {date}").format(date=day(end))
        return text
    return _("not recognised")


def direction_label(code: str | None, suggested: bool = False) -> str:
    """A direction's name; a suggestion from the words of the activity is marked as one."""
    if code is None:
        return _("no direction")
    if suggested:
        return _("{direction} (suggested)").format(direction=direction_name(code))
    return direction_name(code)
