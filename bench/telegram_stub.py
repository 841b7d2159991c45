"""The Bot API stand-in of bench/e2e.py: tests/fake_bot_api.py plus Telegram's round trip.

Every Bot API method except getUpdates (sendMessage, editMessageText, answerCallbackQuery,
sendPhoto, getMe, …) and every file download is answered ``latency_ms`` after the request
arrived, by an ``asyncio.sleep`` in that request's own handler, so slow answers never hold up
other requests. The call is recorded — and becomes visible to the simulated user — when it is
answered, i.e. when the bot itself learns the result: a step's latency, measured from pushing
the update to the recorded answer, is what the user would wait for, round trips included.

getUpdates behaves like Telegram's long polling: it returns at once when updates are pending,
else as soon as one arrives (or after the timeout), with no added delay. The user's own link to
Telegram is the same for any bot and is left out; what is measured is the bot's part.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fake_bot_api import Call, FakeBotAPI

VISIBLE = {"sendmessage", "editmessagetext", "sendphoto", "senddocument", "editmessagecaption"}


class _Calls(list[Call]):
    """The server's call log, telling the bench about each answer as it is sent."""

    def __init__(self, on_call: Callable[[Call], None]) -> None:
        super().__init__()
        self._on_call = on_call

    def append(self, call: Call) -> None:
        super().append(call)
        self._on_call(call)


class BenchAPI(FakeBotAPI):
    """The test server, plus: a round-trip delay, per-chat answers to wait on, callback alerts
    per chat, and a signal when polling starts."""

    def __init__(self, token: str, latency_ms: float = 0.0) -> None:
        super().__init__(token)
        self.latency = latency_ms / 1000
        self.calls = _Calls(self._on_call)
        self.polling = asyncio.Event()
        self.answers: dict[int, list[Call]] = defaultdict(list)
        # answerCallbackQuery with a text (a toast or an alert): not an answer, but evidence
        # when a step gets no message.
        self.alerts: dict[int, list[str]] = defaultdict(list)
        self._query_chats: dict[str, int] = {}
        self._waiters: dict[int, list[tuple[int, asyncio.Future[Call]]]] = defaultdict(list)

    def push_callback(self, user_id: int, data: str, *, message_id: int = 1) -> None:
        super().push_callback(user_id, data, message_id=message_id)
        self._query_chats[self._updates[-1]["callback_query"]["id"]] = user_id

    def _on_call(self, call: Call) -> None:
        name = call.method.lower()
        if name == "answercallbackquery" and call.params.get("text"):
            chat = self._query_chats.get(str(call.params.get("callback_query_id")), 0)
            self.alerts[chat].append(str(call.params["text"]))
            return
        if name not in VISIBLE:
            return
        chat = int(call.params.get("chat_id") or 0)
        answers = self.answers[chat]
        answers.append(call)
        waiting = self._waiters[chat]
        for entry in list(waiting):
            count, future = entry
            if len(answers) >= count and not future.done():
                future.set_result(answers[count - 1])
                waiting.remove(entry)

    async def answer(self, chat: int, count: int, limit_s: float = 60.0) -> Call:
        """The chat's `count`-th answer (a message sent or edited), once it has arrived;
        TimeoutError after `limit_s`."""
        answers = self.answers[chat]
        if len(answers) >= count:
            return answers[count - 1]
        future: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        entry = (count, future)
        self._waiters[chat].append(entry)
        try:
            return await asyncio.wait_for(future, limit_s)
        finally:
            if entry in self._waiters[chat]:
                self._waiters[chat].remove(entry)

    async def _method(self, request: web.Request) -> web.StreamResponse:
        if self.latency and request.match_info["method"].lower() != "getupdates":
            # The request is received (and parsed, once) first, then answered late.
            await self._params(request)
            await asyncio.sleep(self.latency)
        return await super()._method(request)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        # A request's body can be read once: keep what was parsed for the handler's own call.
        params: dict[str, Any] | None = request.get("bench_params")
        if params is None:
            params = request["bench_params"] = await super()._params(request)
        return params

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        return await super()._file(request)

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        self.polling.set()
        return await super()._get_updates(params)


def text_of(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [
        button.get("callback_data", "")
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]
