"""Faults at the real HTTP client: aiogram's aiohttp session against the fault-injecting stand-in.

Also the updates the bot must leave alone: edited messages, channel posts, group chatter, and
malformed or over-long callback data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import Chat, Message, Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import gettext as _
from aiohttp import web
from sqlalchemy import func, select

from bot.dispatcher import create_bot
from models import RoadmapItem
from tests.conftest import World
from tests.fake_bot_api import FakeBotAPI, Fault
from tests.telegram import TOKEN, UpdateFactory

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
async def http_bot(settings, api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = create_bot(settings.model_copy(update={"telegram_api_url": api.url}))
    yield bot
    await bot.session.close()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr("bot.pipeline.telegram_retry.asyncio.sleep", fake_sleep)
    return delays


async def test_429_and_dropped_connection_over_http(
    dispatcher: Dispatcher, http_bot: Bot, api: FakeBotAPI, world: World, tg, no_sleep
) -> None:
    api.fail("sendMessage", Fault(status=429, description="Too Many Requests", retry_after=1))
    api.fail("sendMessage", Fault(drop=True))
    updates = UpdateFactory()
    await dispatcher.feed_update(
        http_bot, updates.message(tg.user(world.teacher.telegram_id), "/whoami")
    )
    calls = api.calls_to("sendMessage", world.teacher.telegram_id)
    assert len(calls) == 3  # refused, dropped, delivered
    assert no_sleep[0] == 1.0
    assert all(call.token == TOKEN for call in api.calls)


async def test_getfile_failure_during_import_changes_nothing(
    dispatcher: Dispatcher,
    http_bot: Bot,
    api: FakeBotAPI,
    world: World,
    tg,
    no_sleep,
    session_factory,
    i18n_ru,
) -> None:
    api.files["roadmap-file"] = (FIXTURES / "roadmap_001.xlsx").read_bytes()
    for _attempt in range(3):
        api.fail("getFile", Fault(status=502, description="Bad Gateway"))
    updates = UpdateFactory()
    coordinator = tg.user(world.coordinator.telegram_id)
    document_update = updates.document(coordinator, file_name="roadmap.xlsx", file_size=9000)
    message = document_update.message
    assert message is not None and message.document is not None
    document = message.document.model_copy(update={"file_id": "roadmap-file"})
    document_update = document_update.model_copy(
        update={"message": message.model_copy(update={"document": document})}
    )
    await dispatcher.feed_update(http_bot, document_update)

    (answer,) = api.calls_to("sendMessage", world.coordinator.telegram_id)
    assert answer.params["text"] == _(
        "Could not get the file from Telegram. Please send it again in a minute."
    )
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(RoadmapItem)) == 0

    # Sent again once Telegram is back: the download goes through the same server.
    await dispatcher.feed_update(http_bot, document_update.model_copy(update={"update_id": 999}))
    assert api.calls_to("file")  # downloaded via TELEGRAM_API_URL/file/bot<token>/…


async def test_channel_posts_and_groups_are_left_alone_and_edits_answered_in_private(
    dispatcher: Dispatcher, http_bot: Bot, api: FakeBotAPI, world: World, tg
) -> None:
    teacher = TgUser(id=world.teacher.telegram_id, is_bot=False, first_name="У")
    now = datetime.now(UTC).replace(microsecond=0)
    edited = Message(
        message_id=5,
        date=now,
        edit_date=int(now.timestamp()),
        chat=Chat(id=teacher.id, type="private"),
        from_user=teacher,
        text="/report",
    )
    channel = Message(
        message_id=6, date=now, chat=Chat(id=-1001, type="channel", title="Канал"), text="/status"
    )
    group = Message(
        message_id=7,
        date=now,
        chat=Chat(id=-1002, type="supergroup", title="Группа"),
        from_user=teacher,
        text="/status",
    )
    edited_in_group = group.model_copy(update={"message_id": 8, "edit_date": int(now.timestamp())})
    for update in (
        Update(update_id=2, channel_post=channel),
        Update(update_id=3, message=group),
        Update(update_id=4, edited_message=edited_in_group),
    ):
        await dispatcher.feed_update(http_bot, update)
    assert api.calls == []
    # A private edit is answered (issue 17: edits were silently ignored).
    await dispatcher.feed_update(http_bot, Update(update_id=1, edited_message=edited))
    assert [str(call.params["chat_id"]) for call in api.calls_to("sendMessage")] == [
        str(teacher.id)
    ]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "ri:abc",
        "ri:1:2:3",
        "rmy:edit:x",
        "x" * 64,
        "st:-1",
        "va:confirm:999999999999999999999",
        "💥",
    ],
)
async def test_malformed_callback_data_gets_a_polite_answer(
    harness, world: World, tg, data: str, i18n_ru
) -> None:
    requests = await harness.click(tg.user(world.curator.telegram_id), data)
    answers = [r for r in requests if isinstance(r, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].show_alert
    assert answers[0].text in {
        _("This button is no longer active."),
        _("This item no longer exists or is not available to you."),
        _("That did not work. Please check and try again."),
    }


async def test_more_bot_api_calls_in_flight_than_aiohttps_default_of_100(settings) -> None:
    """At Telegram's round trip 200 teachers keep ~200 calls in flight: none may queue behind
    a connection pool of 100 (TELEGRAM_CONNECTIONS)."""
    wanted = 150
    in_flight = peak = 0
    all_there = asyncio.Event()

    async def method(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= wanted:
            all_there.set()
        # Held until every call is in flight at once (or, if they can't be, for 5 s).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_there.wait(), timeout=5)
        in_flight -= 1
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bot = create_bot(settings.model_copy(update={"telegram_api_url": f"http://127.0.0.1:{port}"}))
    try:
        await asyncio.gather(
            *(bot.send_chat_action(chat_id=n, action="typing") for n in range(wanted))
        )
    finally:
        await bot.session.close()
        await runner.cleanup()
    assert peak == wanted
