"""Text helpers every screen uses: shortening user text, fitting a message, dates.

Dates go through Babel in the user's locale (aiogram's i18n context; Russian outside it): the
same day reads «03.09.2026» in Russian and «9/3/2026» in English.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from aiogram.utils.i18n.context import get_i18n
from babel.dates import format_skeleton, format_time

from bot.config import Settings

MAX_MESSAGE = 4000  # Telegram allows 4096 characters; leave room for a closing line.
FALLBACK_LOCALE = "ru"


def trim(text: str | None, limit: int) -> str:
    """Shorten to `limit` characters with «…», keeping line breaks."""
    value = text or ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def one_line(text: str | None, limit: int) -> str:
    """Shorten to `limit` characters on one line (runs of whitespace become one space)."""
    return trim(" ".join((text or "").split()), limit)


def fit(lines: Sequence[str], limit: int = MAX_MESSAGE) -> str:
    """Join lines, dropping whole lines from the tail if the message would be too long."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit("\n", 1)[0] + "\n…"


def today(settings: Settings) -> date:
    """Today in the region's time zone (not the server's)."""
    return datetime.now(settings.tz).date()


def _locale() -> str:
    try:
        return str(get_i18n().current_locale)
    except LookupError:
        return FALLBACK_LOCALE


def day(value: date | None, *, empty: str = "—") -> str:
    """A day with its year: «03.09.2026»."""
    return format_skeleton("yMd", value, locale=_locale()) if value else empty


def day_month(value: date | None, *, empty: str = "—") -> str:
    """A day of the current year, without it: «03.09»."""
    return format_skeleton("dM", value, locale=_locale()) if value else empty


def moment(value: datetime | None, settings: Settings, *, empty: str = "—") -> str:
    """A point in time in the region's zone: «03.09.2026 14:05»."""
    if value is None:
        return empty
    local = value.astimezone(settings.tz)
    return f"{day(local.date())} {format_time(local.time(), 'short', locale=_locale())}"
