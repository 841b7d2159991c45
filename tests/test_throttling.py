"""Flood control: a flood is dropped (a button still answered) when on, nothing when off."""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendMessage
from sqlalchemy import func, select

from bot.dispatcher import create_dispatcher
from bot.middlewares import ThrottlingMiddleware
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from models import ActivityReport, RoadmapItem
from tests.conftest import Harness, World

STALE_BUTTON = "gone:1"  # no feature knows it: the fallback answers with an alert


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttled_dispatcher(
    harness: Harness, settings, session_factory, i18n, *, rate: float, burst: int
) -> FakeClock:
    """The real dispatcher with THROTTLE_RATE/THROTTLE_BURST, its throttle on a fake clock."""
    changed = settings.model_copy(update={"throttle_rate": rate, "throttle_burst": burst})
    dp: Dispatcher = create_dispatcher(changed, session_factory, i18n)
    throttles = [m for m in dp.update.outer_middleware if isinstance(m, ThrottlingMiddleware)]
    assert len(throttles) == 1, "create_dispatcher installs one ThrottlingMiddleware"
    (throttle,) = throttles
    clock = FakeClock()
    throttle.clock = clock
    harness.dp = dp
    return clock


def _sent(requests: list[Any]) -> int:
    return sum(isinstance(r, SendMessage) for r in requests)


async def test_a_flood_of_messages_is_dropped_per_user_until_tokens_come_back(
    world: World, tg, settings, session_factory, i18n, harness: Harness
) -> None:
    clock = _throttled_dispatcher(harness, settings, session_factory, i18n, rate=2.0, burst=3)
    teacher = tg.user(world.teacher.telegram_id)
    curator = tg.user(world.curator.telegram_id)

    flood = [_sent(await harness.send(teacher, "/whoami")) for _ in range(6)]
    other = _sent(await harness.send(curator, "/whoami"))
    clock.now += 0.5  # one token back at 2 per second
    later = [_sent(await harness.send(teacher, "/whoami")) for _ in range(2)]

    assert flood == [1, 1, 1, 0, 0, 0]  # the burst answered, the rest dropped unanswered
    assert other == 1  # per user: someone else is not held back
    assert later == [1, 0]


async def test_a_throttled_button_press_gets_an_empty_answer_and_nothing_else(
    world: World, tg, settings, session_factory, i18n, harness: Harness
) -> None:
    _throttled_dispatcher(harness, settings, session_factory, i18n, rate=1.0, burst=2)
    teacher = tg.user(world.teacher.telegram_id)

    presses = [await harness.click(teacher, STALE_BUTTON) for _ in range(5)]

    for handled in presses[:2]:
        (answer,) = handled
        assert isinstance(answer, AnswerCallbackQuery) and answer.show_alert
    for throttled in presses[2:]:
        (answer,) = throttled  # the phone's spinner stops; no handler ran
        assert isinstance(answer, AnswerCallbackQuery)
        assert answer.text is None and not answer.show_alert


async def test_rate_zero_turns_throttling_off(
    world: World, tg, settings, session_factory, i18n, harness: Harness
) -> None:
    _throttled_dispatcher(harness, settings, session_factory, i18n, rate=0, burst=1)
    teacher = tg.user(world.teacher.telegram_id)

    messages = [_sent(await harness.send(teacher, "/whoami")) for _ in range(10)]
    presses = [await harness.click(teacher, STALE_BUTTON) for _ in range(10)]

    assert messages == [1] * 10
    assert all(isinstance(a, AnswerCallbackQuery) and a.show_alert for (a,) in presses)


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
