"""Text helpers every screen uses: shortening user text, fitting a message, dates.

Dates go through Babel in the user's locale (aiogram's i18n context; Russian outside it): the
same day reads «03.09.2026» in Russian and «9/3/2026» in English.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html.parser import HTMLParser

from aiogram.utils.i18n.context import get_i18n
from babel.dates import format_skeleton, format_time

from bot.config import Settings

MAX_MESSAGE = 4096  # what Telegram shows of a message, in UTF-16 code units
MAX_CAPTION = 1024
_MORE = "\n…"
FALLBACK_LOCALE = "ru"


def trim(text: str | None, limit: int) -> str:
    """Shorten to `limit` characters with «…», keeping line breaks."""
    value = text or ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def one_line(text: str | None, limit: int) -> str:
    """Shorten to `limit` characters on one line (runs of whitespace become one space)."""
    return trim(" ".join((text or "").split()), limit)


def fit(lines: Sequence[str], limit: int = MAX_MESSAGE) -> str:
    """Join lines of HTML into one message, dropping whole lines from the tail (and saying so
    with «…») if Telegram would find it too long. Never cuts inside a line, so never inside a
    tag: each line must be balanced HTML on its own. Length is what Telegram counts — the
    shown text — so a long link address costs nothing."""
    costs = [visible_length(line) + 1 for line in lines]  # each with its line break
    if sum(costs) - 1 <= limit:
        return "\n".join(lines)
    used, count = 0, 0
    while used + costs[count] <= limit - len(_MORE) + 1:
        used += costs[count]
        count += 1
    return "\n".join(lines[:count]) + _MORE


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


class _Visible(HTMLParser):
    """The text Telegram shows for a piece of its HTML: tags dropped, entities resolved."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_length(html_text: str) -> int:
    """How long Telegram counts a message of HTML: the shown text in UTF-16 code units (a link's
    address and the tags don't count; an emoji may count twice)."""
    parser = _Visible()
    parser.feed(html_text)
    parser.close()
    return len("".join(parser.parts).encode("utf-16-le")) // 2
