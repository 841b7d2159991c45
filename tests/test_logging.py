"""The bot token never reaches the logs, in messages, arguments or tracebacks."""

from __future__ import annotations

import io
import logging

from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from bot.logging_setup import RedactingFilter

TOKEN = "123456789:AAH-secret-token-value-0123456789abcdef"


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter((TOKEN,)))
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_token_in_messages_arguments_and_tracebacks_is_redacted() -> None:
    logger, stream = _capture()
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    logger.info("calling %s", url)
    logger.warning(f"direct {TOKEN}")
    try:
        raise TelegramNetworkError(
            method=SendMessage(chat_id=1, text="x"), message=f"failed to reach {url}"
        )
    except TelegramNetworkError:
        logger.exception("request failed")
    other = "987654:" + "Z" * 35  # any token-shaped string, not only ours
    logger.error("other bot %s", other)

    output = stream.getvalue()
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert other not in output
    assert output.count("***") >= 4
    assert "request failed" in output and "Traceback" in output
