"""Telegram faults: 429, 5xx, dropped connections. Work is saved first; the user is told."""

from __future__ import annotations

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
)
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select

from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from models import ActivityReport, FsmRecord, RoadmapItem
from tests.conftest import Harness, World

DELIVERY_FAILED = (
    "Your input is saved, but my answer could not be delivered. "
    "Send /help or repeat the last step in a minute."
)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries sleep: record the delays instead of waiting them out."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr("bot.pipeline.telegram_retry.asyncio.sleep", fake_sleep)
    return delays


@pytest.fixture
async def item(session_factory, world: World) -> RoadmapItem:
    async with session_factory() as session, session.begin():
        row = RoadmapItem(school_id=world.school_a.id, title="Урок цифры", position=1)
        session.add(row)
    return row


async def _up_to_the_description(harness: Harness, user, item: RoadmapItem) -> None:
    await harness.send(user, "/report")
    await harness.click(user, ReportItem(item_id=item.id).pack())
    await harness.click(user, ReportMark(mark="done").pack())


async def _fill(harness: Harness, user, item: RoadmapItem) -> None:
    await _up_to_the_description(harness, user, item)
    await harness.send(user, "Провели https://school.ru/1")


async def count_reports(session_factory) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(ActivityReport)) or 0


async def test_429_is_retried_after_the_given_delay(
    harness: Harness, world: World, tg, slept, i18n_ru
):
    harness.recorder.add_error(429, "Too Many Requests: retry after 2", retry_after=2)
    requests = await harness.send(tg.user(world.teacher.telegram_id), "/whoami")
    messages = [r for r in requests if isinstance(r, SendMessage)]
    assert len(messages) == 2  # the refused attempt and the retry
    assert slept == [2.0]


@pytest.mark.parametrize("fault", ["5xx", "network"])
async def test_server_errors_and_dropped_connections_are_retried(
    harness: Harness, world: World, tg, slept, fault: str
):
    for _attempt in range(2):
        if fault == "5xx":
            harness.recorder.add_error(502, "Bad Gateway")
        else:
            harness.recorder.add_network_error()
    requests = await harness.send(tg.user(world.teacher.telegram_id), "/whoami")
    assert len([r for r in requests if isinstance(r, SendMessage)]) == 3
    assert slept == [0.5, 1.0]


async def test_submit_is_saved_when_the_reply_fails_and_the_user_is_told(
    harness: Harness, world: World, item, tg, slept, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _fill(harness, teacher, item)
    # The card's editMessageReplyMarkup and the confirmation (sent side by side): every retry
    # of both fails.
    for _attempt in range(6):
        harness.recorder.add_error(500, "Internal Server Error")

    requests = await harness.click(teacher, ReportNav(action="submit").pack())

    assert await count_reports(session_factory) == 1
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []  # the draft was used up
    told = [r.text for r in requests if isinstance(r, SendMessage)]
    assert not harness.recorder.responses  # every attempt of both calls failed
    # The confirmation's failed attempts, then what the user is told.
    assert told[-1] == _(DELIVERY_FAILED)
    assert len(told) > 1 and all(t.startswith("✅") for t in told[:-1])
    # The press is answered after the failed reply (CallbackAnswerPolicy): the spinner stops.
    assert [type(r) for r in requests].count(AnswerCallbackQuery) == 1
    # Pressing «Отправить» again on the old card can't store a second report.
    await harness.click(teacher, ReportNav(action="submit").pack())
    assert await count_reports(session_factory) == 1


async def test_a_typed_answer_whose_new_form_message_fails_goes_on_in_the_old_one(
    harness: Harness, world: World, item, tg, slept, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _up_to_the_description(harness, teacher, item)
    async with session_factory() as session:
        form_msg = (await session.scalar(select(FsmRecord))).data["form_msg"]
    # The new form message is refused; taking the old one's buttons away works.
    harness.recorder.add_error(400, "Bad Request: can't parse entities")

    requests = await harness.send(teacher, "Провели https://school.ru/1")

    gone, shown_again = [
        r for r in requests if isinstance(r, EditMessageReplyMarkup | EditMessageText)
    ]
    assert isinstance(gone, EditMessageReplyMarkup) and gone.message_id == form_msg
    # The old message shows the step the answer led to, with its buttons: the form goes on.
    assert isinstance(shown_again, EditMessageText) and shown_again.message_id == form_msg
    assert shown_again.reply_markup is not None and shown_again.reply_markup.inline_keyboard
    assert shown_again.text and "https://school.ru/1" in shown_again.text
    told = [r.text for r in requests if isinstance(r, SendMessage)]
    assert told[-1] == _(DELIVERY_FAILED)
    async with session_factory() as session:
        data = (await session.scalar(select(FsmRecord))).data
    assert data["form_msg"] == form_msg and data["draft"]["links"] == ["https://school.ru/1"]


async def test_a_typed_answer_is_kept_when_telegram_refuses_every_reply(
    harness: Harness, world: World, item, tg, slept, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _up_to_the_description(harness, teacher, item)
    for _attempt in range(12):  # the new message, the buttons off, the old message, the notice
        harness.recorder.add_error(500, "Internal Server Error")

    requests = await harness.send(teacher, "Провели https://school.ru/1")

    assert not harness.recorder.responses  # every attempt of every call failed
    assert [type(r) for r in requests].count(EditMessageText) == 3  # the old message, retried
    async with session_factory() as session:
        data = (await session.scalar(select(FsmRecord))).data
    assert data["draft"]["links"] == ["https://school.ru/1"]


async def test_long_flood_wait_is_not_slept_inline(
    harness: Harness, world: World, item, tg, slept, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _fill(harness, teacher, item)
    harness.recorder.add_error(429, "Too Many Requests: retry after 600", retry_after=600)
    requests = await harness.click(teacher, ReportNav(action="submit").pack())
    assert slept == []
    assert await count_reports(session_factory) == 1
    assert [type(r) for r in requests].count(EditMessageReplyMarkup) == 1  # the card's
    assert AnswerCallbackQuery in [type(r) for r in requests]


async def test_a_failure_while_telling_the_user_does_not_crash(
    harness: Harness, world: World, tg, slept
):
    for _attempt in range(6):  # the reply and the error notice both fail
        harness.recorder.add_error(500, "Internal Server Error")
    requests = await harness.send(tg.user(world.teacher.telegram_id), "/whoami")
    assert len(requests) == 6


async def test_a_file_too_large_is_not_sent_again(harness: Harness, world: World, tg, slept):
    from aiogram.methods import SendDocument
    from aiogram.types import BufferedInputFile

    harness.recorder.add_error(413, "Request Entity Too Large")
    with pytest.raises(Exception, match="Too Large"):
        await harness.bot.send_document(
            world.curator.telegram_id, BufferedInputFile(b"x", "a.xlsx")
        )
    assert [type(r) for r in harness.recorder.drain()] == [SendDocument]
    assert slept == []
