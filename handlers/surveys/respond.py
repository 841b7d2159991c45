"""Answering a survey: anyone with the link, no registration, one question per message.

The answers in progress are in the respondent's form state (so a pause or a restart loses
nothing); the last answer turns them into counters and deletes that state in one commit.
A respondent sees the survey and nothing else: no school figures, no menu, no commands.

A teacher or coordinator may open a survey link in the middle of another form (a report draft,
a self-diagnosis): that form's state and data are kept in the survey's form data (``stash``:
only that person's own form, nothing of the survey) and put back, in the same commit, whenever
the survey ends: answered, closed, withdrawn, already answered, interrupted or cancelled.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting as fmt
from bot.ui import replies
from bot.ui.callbacks import SurveyAnswer, SurveyBack
from bot.ui.markup import Keyboard
from bot.ui.states import DiagnosticsForm, ReportForm, SurveyAnswering
from handlers.surveys.texts import FSM_STATES, audience_for, secret, tr
from models import School, Survey
from models import surveys as sv
from models.errors import InvalidInput

logger = logging.getLogger(__name__)


def closed_text() -> str:
    return _("This survey is closed. Thank you for your interest!")


def revoked_text() -> str:
    return _("This survey link is no longer valid. Ask the school for the current link.")


def answered_text() -> str:
    return _("You have already answered this survey. Thank you!")


def thanks_text() -> str:
    return _(
        "Thank you! Your answers have been counted. Nobody can see who answered what: "
        "the school sees only totals."
    )


def lost_text() -> str:
    return _("This survey was interrupted. Open the survey link again to continue.")


# The command that brings a kept form's screen back, by state group.
RETURN_COMMANDS = {ReportForm.__name__: "/report", DiagnosticsForm.__name__: "/diagnostics"}


def kept_text(state_name: str | None) -> str:
    """Told after the survey when the person's other form was put back."""
    text = _("Your unfinished form is saved — carry on from where you left off.")
    command = RETURN_COMMANDS.get((state_name or "").split(":")[0])
    if command:
        text += " " + _("{command} brings it back.").format(command=command)
    return text


def _stash(state_name: str | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """What to keep of the form in progress when a survey link is opened, or None."""
    if state_name == SurveyAnswering.question.state:
        kept = data.get("stash")  # a second survey link: the first form is still the one kept
        return kept if isinstance(kept, dict) else None
    if state_name is None and not data:
        return None
    return {"state": state_name, "data": data}


async def leave_survey(state: FSMContext) -> str | None:
    """End the survey's form state: the kept form comes back (and the text saying so), or
    the state is cleared (None). The survey's unfinished answers go either way."""
    data = await state.get_data()
    kept = data.get("stash") if await state.get_state() == SurveyAnswering.question.state else None
    if not isinstance(kept, dict):
        await state.clear()
        return None
    name = kept.get("state")
    previous = kept.get("data")
    await state.set_state(name if isinstance(name, str) else None)
    await state.set_data(previous if isinstance(previous, dict) else {})
    return kept_text(name) if isinstance(name, str) else None


async def cancel_survey(state: FSMContext) -> str:
    """/cancel during a survey: the answers so far are dropped, the kept form comes back."""
    kept = await leave_survey(state)
    text = _("The survey is cancelled; nothing of your answers was kept.")
    return text + ("\n\n" + kept if kept else "")


async def _tell(event: Message | CallbackQuery, text: str, kept: str | None) -> None:
    """The survey's last word, and then (as its own message) that the other form waits."""
    await replies.show(event, text)
    if kept:
        message = event.message if isinstance(event, CallbackQuery) else event
        if isinstance(message, Message):
            await message.answer(kept)


async def _refusal(
    session: AsyncSession, survey: Survey, telegram_id: int, settings: Settings
) -> str | None:
    """Why this person can't answer now (closed, withdrawn, already answered), else None."""
    today = fmt.today(settings)
    if sv.is_closed(survey, today):
        await sv.purge_closed(session, today, FSM_STATES)
        return closed_text()
    if survey.revoked:
        return revoked_text()
    digest = sv.respondent_digest(survey, telegram_id, secret(settings))
    if digest is None:
        return closed_text()
    if await sv.has_responded(session, survey, digest):
        return answered_text()
    return None


async def open_link(
    message: Message,
    payload: str,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
) -> bool:
    """/start <token> of a survey: its first (or current) question; False if not a survey."""
    survey = await sv.by_token(session, payload)
    if survey is None:
        return False
    assert message.from_user is not None  # private-chat messages always have a sender
    problem = await _refusal(session, survey, message.from_user.id, settings)
    current = await state.get_state()
    if problem is not None:
        await message.answer(problem)
        if current is not None and current != SurveyAnswering.question.state:
            await message.answer(kept_text(current))  # untouched: say so
        return True
    data = await state.get_data()
    answers: list[int] = []
    if current == SurveyAnswering.question.state and data.get("survey") == survey.id:
        answers = list(data.get("answers", []))
    form: dict[str, Any] = {"survey": survey.id, "answers": answers}
    kept = _stash(current, data)
    if kept is not None:
        form["stash"] = kept
    await state.set_state(SurveyAnswering.question)
    await state.set_data(form)
    await ask(message, session, survey, answers)
    return True


async def ask(
    event: Message | CallbackQuery, session: AsyncSession, survey: Survey, answers: list[int]
) -> None:
    asked = sv.questions(survey.form, survey.audience)
    position = len(answers)
    question = asked[position]
    lines = []
    if position == 0:
        school = await session.get(School, survey.school_id)
        lines += [
            _(
                "An anonymous survey {group} · {school}: {count} questions, about two "
                "minutes. Nobody will see who answered what."
            ).format(
                group=audience_for(survey.audience),
                school=escape(school.short_name if school is not None else ""),
                count=len(asked),
            ),
            "",
        ]
    lines += [
        _("Question {number} of {total}").format(number=position + 1, total=len(asked)),
        f"<b>{escape(tr(question.text, question.text_en))}</b>",
    ]
    builder = Keyboard()
    for index, option in enumerate(question.options):
        builder.button(
            text=tr(option.label, option.label_en),
            callback_data=SurveyAnswer(survey_id=survey.id, position=position, option=index),
        )
    sizes = [1] * len(question.options)
    if position > 0:
        builder.button(
            text=_("← Back"), callback_data=SurveyBack(survey_id=survey.id, position=position)
        )
        sizes.append(1)
    builder.adjust(*sizes)
    markup: InlineKeyboardMarkup = builder.as_markup()
    await replies.show(event, "\n".join(lines), markup)


async def _progress(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, survey_id: int, position: int
) -> tuple[Survey, list[int]] | None:
    """The survey and answers behind a respondent's button, or None after telling why not."""
    data: dict[str, Any] = await state.get_data()
    survey = await session.get(Survey, survey_id)
    ours = (
        await state.get_state() == SurveyAnswering.question.state
        and data.get("survey") == survey_id
    )
    if survey is None or not ours:
        await query.answer(lost_text(), show_alert=True)
        if ours:  # the survey itself is gone: give the kept form back
            kept = await leave_survey(state)
            if kept and isinstance(query.message, Message):
                await query.message.answer(kept)
        return None
    answers = list(data.get("answers", []))
    if position != len(answers):
        # A button of a question already answered (a double tap): show where we are.
        await ask(query, session, survey, answers)
        return None
    return survey, answers


async def answer(
    query: CallbackQuery,
    callback_data: SurveyAnswer,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    found = await _progress(query, state, session, callback_data.survey_id, callback_data.position)
    if found is None:
        return
    survey, answers = found
    asked = sv.questions(survey.form, survey.audience)
    if callback_data.option >= len(asked[len(answers)].options):
        await query.answer(lost_text(), show_alert=True)
        return
    answers.append(callback_data.option)
    if len(answers) < len(asked):
        await state.update_data(answers=answers)
        await ask(query, session, survey, answers)
        return
    # The last answer: count it and forget the person in the same commit.
    kept = await leave_survey(state)
    problem = await _refusal(session, survey, query.from_user.id, settings)
    if problem is None:
        digest = sv.respondent_digest(survey, query.from_user.id, secret(settings))
        assert digest is not None  # _refusal checked the survey is open
        try:
            await sv.record_response(session, survey, digest, answers, fmt.today(settings))
        except InvalidInput as error:
            problem = answered_text() if error.code == "survey_answered" else closed_text()
    await _tell(query, problem or thanks_text(), kept)


async def back(
    query: CallbackQuery,
    callback_data: SurveyBack,
    state: FSMContext,
    session: AsyncSession,
) -> None:
    found = await _progress(query, state, session, callback_data.survey_id, callback_data.position)
    if found is None:
        return
    survey, answers = found
    answers = answers[:-1]
    await state.update_data(answers=answers)
    await ask(query, session, survey, answers)


async def typed(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Text during a survey: say how to answer and show the question again."""
    data = await state.get_data()
    survey = await session.get(Survey, data.get("survey", -1))
    if survey is None:
        await _tell(message, lost_text(), await leave_survey(state))
        return
    answers = list(data.get("answers", []))
    await message.answer(_("Please answer with the buttons under the question."))
    await ask(message, session, survey, answers)


async def command_during_survey(
    message: Message, state: FSMContext, session: AsyncSession
) -> None:
    """Another command in the middle of a survey (say /report) would start its own form over
    the survey and over the form kept inside it: say how to go on instead, nothing changes."""
    data = await state.get_data()
    survey = await session.get(Survey, data.get("survey", -1))
    if survey is None:
        await typed(message, state, session)  # the survey is gone: give the kept form back
        return
    await message.answer(
        _(
            "You are in the middle of an anonymous survey. Answer it with the buttons under "
            "the question, or send /cancel to leave it; then the command will work."
        )
    )
    await ask(message, session, survey, list(data.get("answers", [])))
