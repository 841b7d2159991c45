"""Inline keyboards: rows of plain buttons, validated into markup once, when they are done.

aiogram's ``InlineKeyboardBuilder`` makes a pydantic ``InlineKeyboardButton`` per ``button()``
and deep-copies the whole keyboard on every ``add()``, ``adjust()`` and ``as_markup()``. A
roadmap page of a dozen buttons cost ~1 ms of CPU that way, about a tenth of a report step
(issue 15). ``Keyboard`` keeps the part of the builder's interface our keyboards use —
``button(text=…, callback_data=…)``, ``adjust(*sizes)``, ``as_markup()`` — with the same
layout rules, and validates the finished rows in one pydantic call (~15× less CPU).
tests/test_keyboards.py checks that it lays out every keyboard exactly as aiogram's builder.
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

MAX_WIDTH = 8  # Telegram's (and aiogram's) widest row of inline buttons
MAX_BUTTONS = 100


class Keyboard:
    """An inline keyboard being built: ``button()`` fills rows of up to 8, ``adjust()``
    re-flows every button into rows of the given sizes (the last size repeats for the rest),
    ``as_markup()`` makes the markup."""

    def __init__(self) -> None:
        self._rows: list[list[dict[str, Any]]] = []

    def button(
        self, *, text: str, callback_data: str | CallbackData | None = None, **fields: Any
    ) -> Keyboard:
        if isinstance(callback_data, CallbackData):
            callback_data = callback_data.pack()
        button = {"text": text, **fields}
        if callback_data is not None:
            button["callback_data"] = callback_data
        if self._rows and len(self._rows[-1]) < MAX_WIDTH:
            self._rows[-1].append(button)
        else:
            self._rows.append([button])
        return self

    def adjust(self, *sizes: int) -> Keyboard:
        for size in sizes:
            if not isinstance(size, int) or not 1 <= size <= MAX_WIDTH:
                raise ValueError(f"Row size {size!r} is not allowed, range: [1, {MAX_WIDTH}]")
        widths = sizes or (MAX_WIDTH,)
        source = chain(widths, repeat(widths[-1]))
        rows: list[list[dict[str, Any]]] = []
        width = 0
        for button in chain.from_iterable(self._rows):
            if not rows or len(rows[-1]) >= width:
                width = next(source)
                rows.append([])
            rows[-1].append(button)
        self._rows = rows
        return self

    def as_markup(self) -> InlineKeyboardMarkup:
        count = sum(len(row) for row in self._rows)
        if count > MAX_BUTTONS:
            raise ValueError(f"{count} buttons: an inline keyboard holds at most {MAX_BUTTONS}")
        return InlineKeyboardMarkup.model_validate({"inline_keyboard": self._rows})

    def export(self) -> list[list[InlineKeyboardButton]]:
        """The buttons as models, row by row (what ``as_markup()`` would show)."""
        return self.as_markup().inline_keyboard
