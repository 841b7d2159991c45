"""The chat UI kit (bot/ui/): one pager, Babel dates, one reply helper, one answer per press."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.ui import formatting, paging
from bot.ui.callbacks import InviteForSchool, MyPage
from bot.ui.markup import Keyboard
from bot.ui.replies import together
from tests.conftest import Harness, World


def test_pages_and_clamp():
    assert [paging.pages(n, 8) for n in (0, 1, 8, 9, 16, 17)] == [1, 1, 1, 2, 2, 3]
    # A page number from an old button is brought within the list as it is now.
    assert [paging.clamp(p, 17, 8) for p in (-1, 0, 2, 3, 99)] == [0, 0, 2, 2, 2]
    assert paging.clamp(5, 0, 8) == 0


def _labels(builder: Keyboard) -> list[tuple[str, str | None]]:
    return [(b.text, b.callback_data) for row in builder.export() for b in row]


def test_pager_buttons():
    def page(number: int) -> MyPage:
        return MyPage(page=number)

    one = Keyboard()
    assert paging.add_pager(one, page=0, total=8, per_page=8, button=page) == 0
    assert _labels(one) == []
    first = Keyboard()
    assert paging.add_pager(first, page=0, total=20, per_page=8, button=page) == 1
    assert _labels(first) == [("▶", "rmp:1")]
    middle = Keyboard()
    assert paging.add_pager(middle, page=1, total=20, per_page=8, button=page, counter=True) == 3
    assert _labels(middle) == [("◀", "rmp:0"), ("2/3", "rmp:1"), ("▶", "rmp:2")]
    last = Keyboard()
    assert paging.add_pager(last, page=2, total=20, per_page=8, button=page) == 1
    assert _labels(last) == [("◀", "rmp:1")]


def test_dates_follow_the_users_locale(i18n: I18n, settings: Settings):
    day = date(2026, 9, 3)
    with i18n.context():
        with i18n.use_locale("ru"):
            assert formatting.day(day) == "03.09.2026"
            assert formatting.day_month(day) == "03.09"
        with i18n.use_locale("en"):
            assert formatting.day(day) == "9/3/2026"
            assert formatting.day_month(day) == "9/3"
        with i18n.use_locale("ru"):
            moment = datetime(2026, 9, 3, 6, 5, tzinfo=UTC)
            local = moment.astimezone(settings.tz)
            assert formatting.moment(moment, settings) == f"{local:%d.%m.%Y} {local:%H:%M}"
    assert formatting.day(None) == "—"
    # Outside a chat (CLI, documents) dates read the Russian way.
    assert formatting.day(day) == "03.09.2026"


def test_trim_and_one_line():
    assert formatting.trim("a\nb", 10) == "a\nb"
    assert formatting.trim("abcdef", 4) == "abc…"
    assert formatting.one_line("  a \n b  ", 10) == "a b"
    assert formatting.fit(["x" * 10, "y" * 10], limit=15) == "x" * 10 + "\n…"


async def test_a_press_the_handler_left_unanswered_is_answered_once(
    harness: Harness, world: World, tg, i18n_ru
):
    """invite_for_school sends a new message and does not answer the press itself: the
    dispatcher's CallbackAnswerPolicy answers it, without a text, exactly once."""
    admin = tg.user(world.municipal.telegram_id)
    sent = await harness.click(admin, InviteForSchool(school_id=world.school_a.id).pack())
    answers = [r for r in sent if isinstance(r, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].text is None
    assert any(isinstance(r, SendMessage) for r in sent)


async def test_a_press_answered_with_a_text_is_not_answered_again(
    harness: Harness, world: World, tg, i18n_ru
):
    sent = await harness.click(tg.user(world.teacher.telegram_id), "ri:999999")
    answers = [r for r in sent if isinstance(r, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].text and answers[0].show_alert


async def test_retapped_picker_page_is_not_an_error(harness: Harness, world: World, tg, i18n_ru):
    """Re-tapping the current page of the /invite school picker: Telegram answers «message is
    not modified», which the reply helper takes as success — no «ответ не удалось доставить»."""
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/invite")
    await harness.click(admin, "ir:teacher")
    harness.recorder.add_error(400, "Bad Request: message is not modified")  # the edit
    sent = await harness.click(admin, "spg:invite:0")
    assert isinstance(sent[0], EditMessageText)
    assert not [r for r in sent if isinstance(r, SendMessage)]
    answers = [r for r in sent if isinstance(r, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].text is None


async def test_replies_side_by_side_all_run_and_a_bug_outranks_a_refusal(caplog) -> None:
    """`replies.together`: every call runs to its end; of several failures the one that is not
    Telegram's refusal is raised (it is a bug to see), the others are logged, none is lost."""
    done: list[str] = []

    async def delivered() -> str:
        await asyncio.sleep(0)
        done.append("delivered")
        return "ok"

    async def refused() -> None:
        raise TelegramBadRequest(method=SendMessage(chat_id=1, text="x"), message="chat not found")

    async def bug() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("a bug")

    assert await together(delivered(), delivered()) == ["ok", "ok"]
    with caplog.at_level(logging.WARNING, logger="bot.ui.replies"), pytest.raises(RuntimeError):
        await together(refused(), delivered(), bug())
    assert done == ["delivered"] * 3
    assert any(
        record.exc_info and isinstance(record.exc_info[1], TelegramBadRequest)
        for record in caplog.records
    )
