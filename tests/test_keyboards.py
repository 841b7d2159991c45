"""bot.ui.markup.Keyboard: the same markup as aiogram's builder, without deep-copying buttons."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.ui.markup import Keyboard


def _fill(builder: InlineKeyboardBuilder) -> InlineKeyboardBuilder:
    for number in range(7):
        builder.button(text=f"Пункт {number}", callback_data=f"item:{number}")
    builder.adjust(2, 3)
    builder.row()
    return builder


def test_same_markup_as_aiogram_and_later_buttons_stay_out_of_it() -> None:
    ours = _fill(Keyboard())
    markup = ours.as_markup()
    assert markup == _fill(InlineKeyboardBuilder()).as_markup()
    shape = [len(row) for row in markup.inline_keyboard]
    assert markup.inline_keyboard[0][0] is ours._markup[0][0]  # rows copied, buttons shared

    ours.button(text="Ещё", callback_data="more")
    ours.adjust(2)
    assert [len(row) for row in markup.inline_keyboard] == shape  # the first markup is intact
    assert sum(len(row) for row in ours.as_markup().inline_keyboard) == 8


def test_building_a_keyboard_deep_copies_nothing(monkeypatch) -> None:
    """aiogram's add() and adjust() export (deep-copy) the whole keyboard on every call."""
    import aiogram.utils.keyboard as keyboard

    copies: list[object] = []

    def counting_deepcopy(value: Any) -> Any:
        copies.append(value)
        return deepcopy(value)

    # raising=True (the default) fails the test if aiogram stops importing deepcopy there.
    monkeypatch.setattr(keyboard, "deepcopy", counting_deepcopy)
    _fill(InlineKeyboardBuilder()).as_markup()
    assert copies  # aiogram's own builder copies: the probe sees it
    copies.clear()
    _fill(Keyboard()).as_markup()
    assert copies == []
