"""bot.ui.markup.Keyboard lays buttons out exactly as aiogram's InlineKeyboardBuilder does."""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.ui.markup import Keyboard


class Pick(CallbackData, prefix="pick"):
    number: int


LAYOUTS = [
    ((), 3),
    ((), 9),  # more than a row holds: aiogram starts a second row at 8
    ((), 17),
    ((1,), 5),
    ((2, 3), 7),  # the last size repeats for the rest
    ((3, 1, 2), 4),  # fewer buttons than the sizes ask for
    ((1, 1, 2), 9),
    ((8,), 20),
    ((2,), 0),
]


@pytest.mark.parametrize(("sizes", "count"), LAYOUTS)
def test_same_markup_as_aiograms_builder(sizes: tuple[int, ...], count: int) -> None:
    ours, theirs = Keyboard(), InlineKeyboardBuilder()
    for builder in (ours, theirs):
        for number in range(count):
            data = Pick(number=number) if number % 2 else f"item:{number}"
            builder.button(text=f"Пункт {number}", callback_data=data)
        if sizes:
            builder.adjust(*sizes)
    assert ours.as_markup() == theirs.as_markup()
    assert ours.export() == theirs.export()


def test_adjusting_twice_and_adding_after_adjust_as_aiogram() -> None:
    ours, theirs = Keyboard(), InlineKeyboardBuilder()
    for builder in (ours, theirs):
        for number in range(5):
            builder.button(text=str(number), callback_data=str(number))
        builder.adjust(1)
        builder.button(text="a", callback_data="a")
        builder.button(text="b", callback_data="b")
    assert ours.as_markup() == theirs.as_markup()
    for builder in (ours, theirs):
        builder.adjust(2, 1)
    assert ours.as_markup() == theirs.as_markup()


def test_markup_made_earlier_does_not_change_with_later_buttons() -> None:
    keyboard = Keyboard().button(text="Один", callback_data="1")
    markup = keyboard.as_markup()
    keyboard.button(text="Два", callback_data="2").adjust(1)
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["Один"]]
    assert len(keyboard.as_markup().inline_keyboard) == 2


@pytest.mark.parametrize("size", [0, 9, -1])
def test_a_row_size_telegram_cannot_show_is_refused(size: int) -> None:
    keyboard = Keyboard().button(text="x", callback_data="x")
    with pytest.raises(ValueError, match="Row size"):
        keyboard.adjust(size)
    with pytest.raises(ValueError):
        InlineKeyboardBuilder().adjust(size)


def test_more_buttons_than_telegram_takes_is_refused() -> None:
    keyboard = Keyboard()
    for number in range(101):
        keyboard.button(text=str(number), callback_data=str(number))
    with pytest.raises(ValueError, match="at most 100"):
        keyboard.as_markup()
