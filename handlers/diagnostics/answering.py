"""Moving a run on: the profile buttons, answers by button or typed, the hint, back and pause,
and what a typed message gets when it is not an answer.
"""

from __future__ import annotations

import math
import re

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.callbacks import (
    DiagAnswer,
    DiagBack,
    DiagHint,
    DiagLevel,
    DiagLevelsDone,
    DiagOvz,
    DiagPause,
    DiagProfileBack,
    DiagUnknown,
)
from handlers.diagnostics.screens import (
    MAX_TEXT_ANSWER,
    OPTION_KINDS,
    ask_levels,
    ask_ovz,
    ask_question,
    draft_levels,
    present,
)
from handlers.diagnostics.shared import Step, finished_text, inactive_text, on_active_run, refusal
from models import RunStatus, User, diagnostics
from models import diagnostic_runs as runs
from models.errors import InvalidInput

TYPED_KINDS = frozenset({"number", "text"})
NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


def parse_number(text: str) -> float | None:
    cleaned = text.replace("\u00a0", "").replace(" ", "").rstrip("%")
    if not NUMBER.fullmatch(cleaned):
        return None
    value = float(cleaned.replace(",", "."))
    return value if math.isfinite(value) else None


# --- the school profile ----------------------------------------------------------------------


@on_active_run
async def toggle_level(step: Step, button: DiagLevel) -> None:
    if "levels" not in step.view.asks_profile or not (
        0 <= button.index < len(diagnostics.SCHOOL_LEVELS)
    ):
        await step.alert(inactive_text())
        return
    selected = await draft_levels(step)
    selected ^= {diagnostics.SCHOOL_LEVELS[button.index]}
    await ask_levels(step, selected)


@on_active_run
async def levels_done(step: Step, _button: DiagLevelsDone) -> None:
    view = step.view
    if "levels" not in view.asks_profile:
        await step.alert(inactive_text())
        return
    selected = await draft_levels(step)
    if not selected:
        await step.alert(_("Tick at least one level."))
        return
    if "ovz" in view.asks_profile:
        await step.state.update_data(run_id=view.run.id, levels=sorted(selected))
        await ask_ovz(step)
        return
    await runs.set_profile(step.session, view, selected, None)
    await present(step)


@on_active_run
async def choose_ovz(step: Step, button: DiagOvz) -> None:
    view = step.view
    if "ovz" not in view.asks_profile or button.value not in (0, 1):
        await step.alert(inactive_text())
        return
    levels: set[str] | None = None
    if "levels" in view.asks_profile:
        levels = await draft_levels(step)
        if not levels:
            await ask_levels(step, levels)
            return
    await runs.set_profile(step.session, view, levels, bool(button.value))
    await present(step)


@on_active_run
async def profile_back(step: Step, _button: DiagProfileBack) -> None:
    if "levels" not in step.view.asks_profile:
        await step.alert(inactive_text())
        return
    await ask_levels(step)


# --- answers, hint, back, pause --------------------------------------------------------------


async def record_answer(
    step: Step,
    question_id: int,
    value: diagnostics.AnswerValue,
    kinds: frozenset[str] | None = None,
) -> None:
    try:
        await runs.save_answer(step.session, step.view, question_id, value, kinds=kinds)
    except InvalidInput as error:
        await step.alert(refusal(error))
        return
    await present(step)


@on_active_run
async def answer_option(step: Step, button: DiagAnswer) -> None:
    await record_answer(step, button.question_id, button.option, OPTION_KINDS)


@on_active_run
async def answer_unknown(step: Step, button: DiagUnknown) -> None:
    await record_answer(step, button.question_id, diagnostics.UNKNOWN)


def is_current(view: runs.RunView, question_id: int) -> bool:
    question = view.current
    return question is not None and view.question_ids.get(question.code) == question_id


@on_active_run
async def show_hint(step: Step, button: DiagHint) -> None:
    if not is_current(step.view, button.question_id):
        await step.alert(refusal(InvalidInput("question_not_current")))
        return
    await ask_question(step, show_hint=True)


@on_active_run
async def go_back(step: Step, button: DiagBack) -> None:
    view = step.view
    try:
        moved = await runs.step_back(step.session, view, button.question_id)
    except InvalidInput as error:
        await step.alert(refusal(error))
        return
    if moved:
        await ask_question(step)
    elif "levels" in view.asks_profile:
        await ask_levels(step)
    elif "ovz" in view.asks_profile:
        await ask_ovz(step)
    else:
        await step.alert(_("This is the first question."))


@on_active_run
async def pause(step: Step, _button: DiagPause) -> None:
    view = step.view
    await step.state.clear()
    if view.profile is None or view.current is None:
        text = _("Paused. Send /diagnostics and press «Continue» to go on.")
    else:
        text = _(
            "Paused at question {number} / {total}. Your answers are saved: send /diagnostics "
            "and press «Continue» to go on."
        ).format(number=view.run.position + 1, total=view.total)
    await replies.show(step.event, text)


# --- typed answers and fallbacks -------------------------------------------------------------


def expected_text(question: diagnostics.Question | None) -> str:
    if question is not None and question.kind == "number":
        return _("Please send a number, digits only, e.g. 12 or 7,5.")
    if question is not None and question.kind == "text":
        return _("Please send a short text answer, up to {max} characters.").format(
            max=MAX_TEXT_ANSWER
        )
    return _(
        "Please answer with the buttons under the question. «Pause» stops for now; "
        "/diagnostics continues later."
    )


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def range_text(question: diagnostics.Question) -> str:
    low, high = question.range_min, question.range_max
    if low is not None and high is not None:
        return _("Please send a number from {min} to {max}.").format(
            min=_number(low), max=_number(high)
        )
    if low is not None:
        return _("Please send a number not less than {min}.").format(min=_number(low))
    return _("Please send a number not greater than {max}.").format(max=_number(high or 0))


async def typed_run(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> runs.RunView | None:
    data = await state.get_data()
    run_id = data.get("run_id")
    if not isinstance(run_id, int):
        await state.clear()
        await message.answer(_("Send /diagnostics to continue the self-diagnosis."))
        return None
    run = await runs.run_for(session, user, run_id)
    if run.status != RunStatus.IN_PROGRESS:
        await state.clear()
        await message.answer(finished_text())
        return None
    return await runs.load_run(session, run)


async def typed_answer(
    message: Message,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
) -> None:
    view = await typed_run(message, state, user, session)
    if view is None:
        return
    question = view.current
    if question is None or question.kind not in TYPED_KINDS:
        await message.answer(expected_text(question))
        return
    text = (message.text or "").strip()
    value: diagnostics.AnswerValue
    if question.kind == "number":
        number = parse_number(text)
        if number is None:
            await message.answer(expected_text(question))
            return
        if not question.in_range(number):
            # The range is the questionnaire's: a share can't be 150 %.
            await message.answer(range_text(question))
            return
        value = number
    else:
        if not text or text.startswith("/") or len(text) > MAX_TEXT_ANSWER:
            await message.answer(expected_text(question))
            return
        value = text
    await runs.save_answer(
        session, view, view.question_ids[question.code], value, kinds=TYPED_KINDS
    )
    previous = (await state.get_data()).get("message_id")
    if isinstance(previous, int):
        # The answered question's buttons would only lead back to it: take them away.
        await replies.edit_markup_by_id(bot, message.chat.id, previous)
    await present(Step(message, state, session, user, settings, view))


async def question_fallback(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    view = await typed_run(message, state, user, session)
    if view is not None:
        await message.answer(expected_text(view.current))


async def profile_fallback(message: Message) -> None:
    await message.answer(
        _(
            "Please answer with the buttons above. «Pause» stops for now; "
            "/diagnostics continues later."
        )
    )
