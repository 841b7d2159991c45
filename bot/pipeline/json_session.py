"""Bot API calls with a JSON body: aiogram's aiohttp session, minus its form encoding.

aiogram's ``AiohttpSession`` turns every method into an HTML form: it dumps the method model,
walks the result field by field in Python (dropping ``None``, resolving the bot's defaults,
dumping each nested object to a JSON string of its own) and hands aiohttp a ``FormData`` to
URL-encode. For the calls a form step makes — a message with a keyboard, an edit, a button
answer — that was about a tenth of the bot's CPU per update (py-spy of ``main.py run``, issue
15). The Bot API takes the same parameters as one JSON object (core.telegram.org/bots/api,
«Making requests»: application/json, except for uploading files), which pydantic dumps in one
call. A method that carries a file still goes out as aiogram's multipart form.

Telegram's reply to a sent or edited message carries the message back, with the inline
keyboard the bot has just sent in it. The bot never reads that keyboard (it has it), and
validating it into aiogram's models was about two thirds of validating the reply: a model,
two validators and a post-init per button. ``loads_reply`` leaves it out of the reply; an
incoming update (getUpdates) keeps its keyboards.
"""

from __future__ import annotations

import datetime
import json
from enum import Enum
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, TelegramObject
from aiohttp import ClientError, ClientTimeout

JSON_HEADERS = {"Content-Type": "application/json"}


class _NeedsForm(Exception):
    """The method carries a file, or a default inside an object: aiogram's form handles it."""


def loads_reply(content: str) -> Any:
    """Telegram's reply, minus the keyboard echoed back in a sent or edited message."""
    data = json.loads(content)
    result = data.get("result") if isinstance(data, dict) else None
    if isinstance(result, dict):
        result.pop("reply_markup", None)
    return data


class JsonAiohttpSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", loads_reply)
        super().__init__(**kwargs)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        try:
            body = json_body(bot, method)
        except _NeedsForm:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        # The same errors as aiogram's own make_request, so retries and callers see no change.
        try:
            async with session.post(
                url,
                data=body,
                headers=JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)


def json_body(bot: Bot, method: TelegramMethod[Any]) -> bytes:
    """The method's parameters as the Bot API reads them; raises _NeedsForm for an upload.

    The same values as aiogram's form: ``None`` left out, the bot's defaults (parse mode,
    link previews) filled in, dates as Unix time, enums as their values."""
    params = {
        key: bot.default[value.name] if isinstance(value, Default) else value
        for key, value in method.model_dump(warnings=False, exclude_none=True).items()
    }

    def encode(value: Any) -> Any:
        if isinstance(value, TelegramObject):
            return value.model_dump(warnings=False, exclude_none=True)
        if isinstance(value, (InputFile, Default)):
            raise _NeedsForm
        if isinstance(value, datetime.datetime):
            return round(value.timestamp())
        if isinstance(value, datetime.timedelta):
            return round((datetime.datetime.now() + value).timestamp())
        if isinstance(value, Enum):
            return value.value
        raise TypeError(f"{type(value).__name__} can't go to the Bot API")

    return json.dumps(
        {key: value for key, value in params.items() if value is not None},
        ensure_ascii=False,
        default=encode,
    ).encode()
