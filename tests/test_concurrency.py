"""200 users submitting full reports at once through the real dispatcher on embedded SQLite."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select

from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from models import ActivityReport, Evidence, RoadmapItem, Role, User
from tests.conftest import Harness, World

USERS = 200


@pytest.fixture
async def crowd(session_factory, world: World) -> tuple[list[int], int]:
    async with session_factory() as session, session.begin():
        item = RoadmapItem(school_id=world.school_a.id, title="Всероссийский урок", position=1)
        session.add(item)
        session.add_all(
            User(
                telegram_id=50_000 + i,
                full_name=f"Учитель {i}",
                role=Role.TEACHER,
                school_id=world.school_a.id,
            )
            for i in range(USERS)
        )
    return [50_000 + i for i in range(USERS)], item.id


async def test_200_simultaneous_reports(
    harness: Harness, crowd, tg, session_factory, caplog: pytest.LogCaptureFixture, i18n_ru
) -> None:
    telegram_ids, item_id = crowd
    updates = harness.updates

    async def one_user(telegram_id: int) -> None:
        user = tg.user(telegram_id)
        steps = [
            updates.message(user, "/report"),
            updates.callback(user, ReportItem(item_id=item_id).pack()),
            updates.callback(user, ReportMark(mark="done").pack()),
            updates.message(user, f"Провели урок, https://school.ru/{telegram_id}"),
            updates.callback(user, ReportNav(action="submit").pack()),
        ]
        for update in steps:
            await harness.dp.feed_update(harness.bot, update)

    with caplog.at_level(logging.WARNING):
        await asyncio.gather(*(one_user(t) for t in telegram_ids))

    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ActivityReport)) == USERS
        authors = await session.scalar(select(func.count(func.distinct(ActivityReport.author_id))))
        assert authors == USERS
        assert await session.scalar(select(func.count()).select_from(Evidence)) == USERS
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
    texts = [
        r.text
        for r in harness.recorder.requests
        if isinstance(r, SendMessage | EditMessageText | AnswerCallbackQuery)
    ]
    assert not any("locked" in (t or "") for t in texts)
    sent = [
        t
        for t in texts
        if t
        and t.startswith(_("✅ Report №{id} is sent. The curator will review it.").split("{")[0])
    ]
    assert len(sent) == USERS
