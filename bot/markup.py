"""Inline keyboards built with aiogram's builder, turned into markup without a deep copy."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder


class Keyboard(InlineKeyboardBuilder):
    """aiogram's ``InlineKeyboardBuilder`` whose ``as_markup()`` copies the rows, not the buttons.

    aiogram deep-copies every button model on ``as_markup()`` so that a builder can go on being
    changed without touching markup already made: ~9 % of a form step's CPU here
    (bench/form_steps.py, a roadmap page is a dozen buttons). Our builders only ever add
    buttons, and buttons are never changed once made, so copying the rows keeps the guarantee.
    """

    def as_markup(self, **kwargs: Any) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in self._markup])
