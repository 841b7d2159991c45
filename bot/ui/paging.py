"""One pager for every list that does not fit on a screen: ◀ and ▶ (and «n/m» where wanted).

A page number in a button is checked by the handler against the list as it is now (the list may
have shrunk since the button was drawn): `clamp` gives the nearest page that exists.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData

from bot.ui.markup import Keyboard


def pages(total: int, per_page: int) -> int:
    """How many pages `total` items fill (at least one, also when there are none)."""
    return max(1, -(-total // per_page))


def clamp(page: int, total: int, per_page: int) -> int:
    """The page to show for a requested page number: within 0 … last."""
    return min(max(page, 0), pages(total, per_page) - 1)


def add_pager(
    builder: Keyboard,
    *,
    page: int,
    total: int,
    per_page: int,
    button: Callable[[int], CallbackData],
    counter: bool = False,
) -> int:
    """Add ◀ / «n/m» / ▶ to `builder` for page `page` (from 0) of `total` items; `button`
    makes the callback data of a page. Returns how many buttons were added, for `adjust`:
    0 when everything fits on one page."""
    count = pages(total, per_page)
    if count <= 1:
        return 0
    added = 0
    if page > 0:
        builder.button(text="◀", callback_data=button(page - 1))
        added += 1
    if counter:
        builder.button(text=f"{page + 1}/{count}", callback_data=button(page))
        added += 1
    if page + 1 < count:
        builder.button(text="▶", callback_data=button(page + 1))
        added += 1
    return added
