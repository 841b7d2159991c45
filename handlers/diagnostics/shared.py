"""What every screen of the self-diagnosis uses: questionnaire texts in the user's language,
numbers and dates, message chunks, the refusals, and the re-check of a run behind a button.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Protocol, TypeVar

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.formatting import day
from models import Questionnaire, RunStatus, School, User, diagnostics
from models import diagnostic_runs as runs
from models.errors import InvalidInput
from models.users import school_for

# Telegram allows 4096 characters; the margin covers entities the HTML parser adds.
MESSAGE_LIMIT = 3900


def _english() -> bool:
    try:
        return get_i18n().current_locale == "en"
    except LookupError:
        return False


def tr(ru: str, en: str) -> str:
    """Questionnaire text in the user's language: the data has Russian and, often, English."""
    return en if en and _english() else ru


def num(value: float) -> str:
    text = str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")
    return text if _english() else text.replace(".", ",")


def signed(value: float) -> str:
    if abs(value) < 1e-9:
        return "0"
    return ("+" if value > 0 else "−") + num(abs(value))


def day_of(moment: datetime | None, settings: Settings) -> str:
    """The region's calendar day of a moment: «03.09.2026»."""
    return day(moment.astimezone(settings.tz).date() if moment else None)


def title_of(questionnaire: diagnostics.Questionnaire) -> str:
    return escape(tr(questionnaire.title, questionnaire.title_en))


def row_title(row: Questionnaire) -> str:
    return tr(row.title, str(row.definition.get("title_en") or ""))


def level_title(questionnaire: diagnostics.Questionnaire, code: str | None) -> str:
    if code is None:
        return "—"
    try:
        level = questionnaire.level(code)
    except KeyError:
        return escape(code)
    return escape(tr(level.title, level.title_en))


def chunks(lines: Sequence[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines packed into messages under Telegram's limit, never splitting a line if avoidable."""
    parts: list[str] = []
    current = ""
    for line in lines:
        while len(line) > limit:  # a single absurdly long line: cut it
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return parts or [""]


def inactive_text() -> str:
    return _("This button is no longer active.")


def finished_text() -> str:
    return _("This self-diagnosis is already finished or was started over. Send /diagnostics.")


def refusal(error: InvalidInput) -> str:
    if error.code == "question_not_current":
        return _(
            "This question is no longer current: the self-diagnosis has moved on. "
            "Send /diagnostics to continue."
        )
    if error.code == "run_not_in_progress":
        return finished_text()
    return inactive_text()


async def send(
    event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """A new message in the event's chat; the message under a pressed button stays as it is."""
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
    elif isinstance(event.message, Message):
        await event.message.answer(text, reply_markup=markup)
    elif event.bot is not None:
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)


async def show_card(
    event: Message | CallbackQuery,
    parts: Sequence[str],
    markup: InlineKeyboardMarkup | None,
    *,
    in_place: bool,
) -> None:
    """A card of one or more messages, its buttons under the last; the first part replaces the
    screen under a pressed button when `in_place`."""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if index == 0 and in_place:
            await replies.show(event, part, markup if last else None)
        else:
            await send(event, part, markup if last else None)


async def own_school(session: AsyncSession, user: User) -> School:
    return await school_for(session, user, user.school_id if user.school_id is not None else 0)


@dataclass(frozen=True, slots=True)
class Step:
    """An update that moves a run in progress on: where to reply, its context, the run."""

    event: Message | CallbackQuery
    state: FSMContext
    session: AsyncSession
    user: User
    settings: Settings
    view: runs.RunView

    async def alert(self, text: str) -> None:
        """Say why nothing moved: an alert over a pressed button, a message after a typed one."""
        if isinstance(self.event, CallbackQuery):
            await self.event.answer(text, show_alert=True)
        else:
            await self.event.answer(text)


class RunButton(Protocol):
    @property
    def run_id(self) -> int: ...


ButtonT = TypeVar("ButtonT", bound=RunButton)


def on_active_run(
    handler: Callable[[Step, ButtonT], Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    """A button of a run in progress: the run behind it is re-checked and loaded first; a run
    that is finished or was started over gets a polite alert and goes no further."""

    async def pressed(
        query: CallbackQuery,
        callback_data: ButtonT,
        state: FSMContext,
        user: User,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        run = await runs.run_for(session, user, callback_data.run_id)
        if run.status != RunStatus.IN_PROGRESS:
            await query.answer(finished_text(), show_alert=True)
            return
        view = await runs.load_run(session, run)
        await handler(Step(query, state, session, user, settings, view), callback_data)

    pressed.__name__ = pressed.__qualname__ = handler.__name__  # for logs and tracebacks
    return pressed


def header(view: runs.RunView) -> str:
    return _("<b>Self-diagnosis</b> · {title}").format(title=title_of(view.questionnaire))
