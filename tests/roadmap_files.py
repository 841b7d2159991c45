"""Sending roadmap files through the real dispatcher: a bot session that serves the files,
and the helpers the roadmap chat tests share."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetFile,
    SendMessage,
    TelegramMethod,
)
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from bot.ui.callbacks import RoadmapImportConfirm
from models import RoadmapItem
from tests.conftest import Harness, World
from tests.telegram import BOT_ID, RecordingSession

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROADMAP = FIXTURES / "roadmap_001.xlsx"


class FileServingSession(RecordingSession):
    """The recording bot session, also serving getFile and file downloads from memory."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []

    def _default_result(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetFile):
            data = self.files.get(method.file_id, b"")
            return {
                "file_id": method.file_id,
                "file_unique_id": f"u-{method.file_id}",
                "file_size": len(data),
                "file_path": f"documents/{method.file_id}",
            }
        return super()._default_result(method)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        self.downloads.append(url)
        data = self.files[url.rsplit("/", 1)[1]]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]


def texts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


def alerts(requests: list[Any]) -> list[str]:
    return [r.text for r in requests if isinstance(r, AnswerCallbackQuery) and r.text]


async def send_file(
    harness: Harness, user, recorder: FileServingSession, name: str, data: bytes, **extra: Any
) -> list[Any]:
    recorder.files[f"file-{name}"] = data
    size = extra.pop("file_size", len(data))
    return await harness.feed(harness.updates.document(user, file_name=name, file_size=size))


async def items_of(session_factory, school_id: int) -> list[RoadmapItem]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(RoadmapItem)
            .where(RoadmapItem.school_id == school_id)
            .order_by(RoadmapItem.position, RoadmapItem.id)
        )
        return list(rows)


async def import_fixture(harness: Harness, world: World, tg, recorder, data: bytes, name: str):
    coordinator = tg.user(world.coordinator.telegram_id)
    preview = await send_file(harness, coordinator, recorder, name, data)
    done = await harness.click(
        coordinator, RoadmapImportConfirm(school_id=world.school_a.id).pack()
    )
    return preview, done


def xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def key(user_id: int) -> StorageKey:
    """The FSM key of a private chat with the bot."""
    return StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)
