"""Inline keyboards built with aiogram's builder, turned into markup without a deep copy."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder


class Keyboard(InlineKeyboardBuilder):
    """aiogram's ``InlineKeyboardBuilder`` that copies the rows, not the buttons.

    aiogram deep-copies every button model in ``export()`` so that a builder can go on being
    changed without touching markup already made — and ``add()`` (each ``button()``),
    ``adjust()`` and ``as_markup()`` all export, so a keyboard of n buttons costs ~n² button
    copies: ~9 % of a form step's CPU for ``as_markup()`` alone, and 1.6 M ``deepcopy`` calls in
    1,500 updates for the rest (bench/form_steps.py, a roadmap page is a dozen buttons). Our
    builders only ever add buttons, and buttons are never changed once made, so copying the
    rows keeps the guarantee.
    """

    def export(self) -> list[list[InlineKeyboardButton]]:
        return [list(row) for row in self._markup]

    def as_markup(self, **kwargs: Any) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in self._markup])
