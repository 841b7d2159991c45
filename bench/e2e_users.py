"""The simulated users of bench/e2e.py: one form at a time, reading what the bot really sent.

A step pushes one update and waits for the chat's next message or edit. It fails — and the user
gives up their remaining forms — when that answer is one of the bot's generic error texts
(handlers/errors.py, as rendered by the catalogs), lacks the button the next step presses, or
does not arrive within the step limit («unanswered»). Our bot is driven only through what
Telegram would show and the callback data of bot/ui/callbacks.py.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache

from babel.messages.pofile import read_po

from bench.common import ROOT
from bench.telegram_stub import BenchAPI, buttons, text_of
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from tests.fake_bot_api import Call

# msgids of the error router's «something failed on our side» messages (handlers/errors.py).
GENERIC_ERRORS = ("something went wrong on our side", "my answer could not be delivered")
SAMPLES = 5


@cache
def error_markers() -> tuple[str, ...]:
    """The start of each generic error text in every language the bot speaks."""
    markers: set[str] = set()
    for po in sorted((ROOT / "locales").glob("*/LC_MESSAGES/messages.po")):
        with open(po, "rb") as file:
            catalog = read_po(file)
        for message in catalog:
            if isinstance(message.id, str) and any(e in message.id for e in GENERIC_ERRORS):
                markers |= {message.id[:30], str(message.string or message.id)[:30]}
    if not markers:
        raise RuntimeError(f"none of {GENERIC_ERRORS} found in locales/: update the bench")
    return tuple(markers)


def is_error(text: str) -> bool:
    return any(marker in text for marker in error_markers())


@dataclass
class Tally:
    """What happened to one simulated user."""

    latencies: list[float] = field(default_factory=list)  # ms per answered step
    pushed: int = 0  # updates sent to the bot
    errors: int = 0  # a generic error text, or an answer without the expected button
    unanswered: int = 0  # no message within the step limit (or the run's time limit)
    forms_done: int = 0
    submits: int = 0  # «Отправить» pressed
    confirmed: list[int | None] = field(default_factory=list)  # report numbers confirmed
    in_flight: bool = False
    samples: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.samples) < SAMPLES:
            self.samples.append(what)


class StepFailed(Exception):
    """The user can't go on with this form."""


Pause = Callable[[], Awaitable[None]]


@dataclass
class Chat:
    api: BenchAPI
    chat: int
    tally: Tally
    pause: Pause
    limit_s: float
    _expected: int = 0

    async def step(self, push: Callable[[], None], expect: str | None = None) -> Call:
        """Push one update; the chat's next message or edit, checked."""
        self._expected = len(self.api.answers[self.chat]) + 1
        alerts = len(self.api.alerts[self.chat])
        started = time.monotonic()
        self.tally.in_flight = True
        push()
        self.tally.pushed += 1
        answer = await self._next(alerts)
        self.tally.latencies.append((answer.at - started) * 1000)
        if expect is not None and shown(answer, expect) is None:
            self.tally.errors += 1
            self.tally.note(f"no {expect!r} button in: {text_of(answer)[:100]!r}")
            raise StepFailed
        return answer

    async def follow(self) -> Call:
        """A second message the last step sends (e.g. the menu after a confirmation)."""
        self._expected += 1
        self.tally.in_flight = True
        return await self._next(len(self.api.alerts[self.chat]))

    async def _next(self, alerts: int) -> Call:
        try:
            answer = await self.api.answer(self.chat, self._expected, self.limit_s)
        except TimeoutError:
            self.tally.unanswered += 1
            toast = self.api.alerts[self.chat][alerts:]
            self.tally.note(
                f"no answer in {self.limit_s:g} s" + (f" (alert: {toast[-1]!r})" if toast else "")
            )
            raise StepFailed from None
        finally:
            self.tally.in_flight = False
        if is_error(text_of(answer)):
            self.tally.errors += 1
            self.tally.note(f"error text: {text_of(answer)[:100]!r}")
            raise StepFailed
        return answer


def shown(answer: Call, packed: str) -> str | None:
    """The button `packed` stands for: the report form's buttons add the form's id to it."""
    return next((b for b in buttons(answer) if b.startswith(packed)), None)


_REPORT_NUMBER = re.compile(r"№\s*(\d+)")


async def our_form(c: Chat, form: int) -> None:
    """/report → first roadmap item → «done» → text with a link → «Отправить» (5 updates)."""
    api, chat = c.api, c.chat
    answer = await c.step(lambda: api.push_message(chat, "/report"))
    other = ReportItem(item_id=0).pack()
    prefix = ReportItem.__prefix__ + ReportItem.__separator__
    items = [b for b in buttons(answer) if b.startswith(prefix) and not b.startswith(other)]
    if not items:
        c.tally.errors += 1
        c.tally.note(f"no roadmap item button in: {text_of(answer)[:100]!r}")
        raise StepFailed
    await c.pause()
    marks = await c.step(
        lambda: api.push_callback(chat, items[0]), expect=ReportMark(mark="done").pack()
    )
    done = shown(marks, ReportMark(mark="done").pack())
    assert done is not None  # step() checked it
    await c.pause()
    await c.step(lambda: api.push_callback(chat, done))
    text = f"Провели урок для 5А и 5Б, фото: https://school.ru/bench/{chat}/{form}"
    await c.pause()
    card = await c.step(
        lambda: api.push_message(chat, text), expect=ReportNav(action="submit").pack()
    )
    submit = shown(card, ReportNav(action="submit").pack())
    assert submit is not None
    await c.pause()
    c.tally.submits += 1
    answer = await c.step(lambda: api.push_callback(chat, submit))
    number = _REPORT_NUMBER.search(text_of(answer))
    if number is None:
        c.tally.errors += 1
        c.tally.note(f"no report number in: {text_of(answer)[:100]!r}")
        raise StepFailed
    # The confirmation brings the menu itself: no separate «What next?» to wait for.
    c.tally.confirmed.append(int(number.group(1)))


async def example_form(c: Chat, form: int) -> None:
    """/start → a name → «Yes» → «Python» (4 updates)."""
    api, chat = c.api, c.chat
    texts = ["/start", f"Пользователь {chat}-{form}", "Yes", "Python"]
    for number, text in enumerate(texts, 1):
        if number > 1:
            await c.pause()
        await c.step(functools.partial(api.push_message, chat, text))
    await c.follow()  # the summary after «Python, you say?»


async def run_user(
    api: BenchAPI,
    chat: int,
    form: Callable[[Chat, int], Awaitable[None]],
    forms: int,
    tally: Tally,
    pause: Pause,
    limit_s: float,
) -> None:
    """`forms` forms one after another; the user gives up at the first failed step."""
    c = Chat(api, chat, tally, pause, limit_s)
    for number in range(forms):
        if number:
            await pause()
        try:
            await form(c, number)
        except StepFailed:
            return
        tally.forms_done += 1
