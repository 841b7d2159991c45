"""Flood control: a hammered button is throttled without errors and without double reports."""

from __future__ import annotations

from aiogram.methods import AnswerCallbackQuery
from sqlalchemy import func, select

from bot.callbacks import ReportItem, ReportMark, ReportNav
from bot.dispatcher import create_dispatcher
from bot.middlewares import ThrottlingMiddleware
from models import ActivityReport, RoadmapItem
from tests.conftest import Harness, World


def test_token_bucket_with_an_injected_clock() -> None:
    now = [0.0]
    throttle = ThrottlingMiddleware(rate=2.0, burst=3, clock=lambda: now[0])
    assert [throttle.allow(1) for _ in range(5)] == [True, True, True, False, False]
    assert throttle.allow(2)  # per user
    now[0] += 0.5  # one token back at 2 per second
    assert throttle.allow(1) and not throttle.allow(1)


async def test_hammering_send_stores_one_report(
    world: World, tg, settings, session_factory, i18n, harness: Harness
) -> None:
    throttled = settings.model_copy(update={"throttle_rate": 1.0, "throttle_burst": 5})
    harness.dp = create_dispatcher(throttled, session_factory, i18n)
    async with session_factory() as session, session.begin():
        item = RoadmapItem(school_id=world.school_a.id, title="Урок", position=1)
        session.add(item)
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=item.id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    await harness.send(teacher, "Сделали https://a.ru")
    answers = []
    for _ in range(30):
        answers += await harness.click(teacher, ReportNav(action="submit").pack())

    # Every press got an answer (no spinner left, no error), and one report was stored.
    assert sum(isinstance(r, AnswerCallbackQuery) for r in answers) == 30
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ActivityReport)) == 1
