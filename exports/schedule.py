"""Export periods and the weekly schedule: pure date arithmetic, no Telegram, no database.

Weeks run Monday–Sunday in the configured time zone. A schedule such as ``mon 09:00`` says when
the previous full week becomes due: from Monday 09:00 local time on, the due period is the week
that ended the Sunday before; until then it is the week before that. Instants are compared in
UTC, never as wall-clock times, so a zone's offset (or a DST change, where there is one) can't
shift a comparison.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

# Longest period a chat export may cover: the reports sheet grows with it.
MAX_PERIOD_DAYS: Final = 366

WEEKDAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAYS: Final = {
    **{name: index for index, name in enumerate(WEEKDAY_NAMES)},
    **{name.lower(): index for index, name in enumerate(calendar.day_name)},
    "tues": 1,
    "thur": 3,
    "thurs": 3,
}
_SCHEDULE: Final = re.compile(r"^\s*([a-z]+)\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)

Period = tuple[date, date]


@dataclass(frozen=True)
class WeeklySchedule:
    """A weekday (0 = Monday) and a local time of day."""

    weekday: int
    at: time

    def __str__(self) -> str:
        return f"{WEEKDAY_NAMES[self.weekday]} {self.at:%H:%M}"


def parse_schedule(text: str) -> WeeklySchedule:
    """``mon 09:00`` (any English weekday name or its first three letters, 24-hour time)."""
    match = _SCHEDULE.match(text)
    if match is None:
        raise ValueError("expected a weekday and a time, e.g. «mon 09:00»")
    name, hours, minutes = match.groups()
    weekday = _WEEKDAYS.get(name.lower())
    if weekday is None:
        raise ValueError("unknown weekday (use mon, tue, wed, thu, fri, sat or sun)")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("the time must be between 00:00 and 23:59")
    return WeeklySchedule(weekday, time(int(hours), int(minutes)))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def last_full_week(today: date) -> Period:
    """Monday and Sunday of the week before the one containing ``today``.

    The same as ``exports.xlsx.last_full_week``, without importing openpyxl into the settings.
    """
    monday = week_start(today) - timedelta(days=7)
    return monday, monday + timedelta(days=6)


def _moment(monday: date, schedule: WeeklySchedule, tz: ZoneInfo) -> datetime:
    """The scheduled instant (in UTC) of the week starting on ``monday``."""
    day = monday + timedelta(days=schedule.weekday)
    return datetime.combine(day, schedule.at, tzinfo=tz).astimezone(UTC)


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return now.astimezone(UTC)


def due_period(now: datetime, tz: ZoneInfo, schedule: WeeklySchedule) -> Period:
    """The latest week whose post time has come at ``now``: posting it is due (or overdue)."""
    now = _require_aware(now)
    monday = week_start(now.astimezone(tz).date())
    if now < _moment(monday, schedule, tz):
        monday -= timedelta(days=7)
    return last_full_week(monday)


def next_run(now: datetime, tz: ZoneInfo, schedule: WeeklySchedule) -> datetime:
    """The first scheduled instant strictly after ``now``, in UTC."""
    now = _require_aware(now)
    monday = week_start(now.astimezone(tz).date())
    moment = _moment(monday, schedule, tz)
    while moment <= now:
        monday += timedelta(days=7)
        moment = _moment(monday, schedule, tz)
    return moment


def format_period(start: date, end: date) -> str:
    if start == end:
        return f"{start:%d.%m.%Y}"
    return f"{start:%d.%m.%Y}–{end:%d.%m.%Y}"


# --- periods typed by people -------------------------------------------------------------------


class PeriodError(ValueError):
    """Input that is not a period; ``code`` says why, ``value`` is the offending part."""

    def __init__(self, code: str, value: str = "") -> None:
        super().__init__(code, value)
        self.code = code
        self.value = value


_DATE: Final = r"\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}"
_DASHES: Final = "-‐‑‒–—―−"  # hyphen, the Unicode dashes and minus: phones type any of them
_RANGE: Final = re.compile(
    rf"^(?:(?:с|c|from)\s+)?({_DATE})"
    rf"(?:\s*(?:[{_DASHES}]|\.\.|…)\s*|\s+(?:по|to|until)\s+|\s+)({_DATE})$",
    re.IGNORECASE,
)
_SINGLE: Final = re.compile(rf"^({_DATE})$")


def _this_week(today: date) -> Period:
    return week_start(today), today


def _this_month(today: date) -> Period:
    return today.replace(day=1), today


def _last_month(today: date) -> Period:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


# Accepted in either language whatever the user's interface language is.
_KEYWORDS: Final = {
    "week": _this_week,
    "this week": _this_week,
    "неделя": _this_week,
    "эта неделя": _this_week,
    "текущая неделя": _this_week,
    "last week": last_full_week,
    "прошлая неделя": last_full_week,
    "month": _this_month,
    "this month": _this_month,
    "месяц": _this_month,
    "этот месяц": _this_month,
    "текущий месяц": _this_month,
    "last month": _last_month,
    "прошлый месяц": _last_month,
}


def parse_date(text: str) -> date:
    """``16.11.2026``, ``16.11.26`` or ``2026-11-16``; PeriodError otherwise."""
    value = text.strip()
    try:
        if "." in value:
            day, month, year = (int(part) for part in value.split("."))
            return date(year + 2000 if year < 100 else year, month, day)
        return date.fromisoformat("-".join(part.zfill(2) for part in value.split("-")))
    except ValueError:
        raise PeriodError("date", value) from None


def check_period(start: date, end: date, *, max_days: int | None = MAX_PERIOD_DAYS) -> Period:
    if end < start:
        raise PeriodError("order", format_period(start, end))
    if max_days is not None and (end - start).days + 1 > max_days:
        raise PeriodError("too_long", str(max_days))
    return start, end


def parse_period(text: str | None, today: date) -> Period:
    """A period typed after /export; nothing at all means the last full week."""
    value = " ".join((text or "").split()).lower()
    if not value:
        return last_full_week(today)
    keyword = _KEYWORDS.get(value)
    if keyword is not None:
        return keyword(today)
    if match := _RANGE.match(value):
        return check_period(parse_date(match.group(1)), parse_date(match.group(2)))
    if match := _SINGLE.match(value):
        day = parse_date(match.group(1))
        return day, day
    raise PeriodError("format", " ".join((text or "").split()))
