"""Self-diagnosis in the chat: a school coordinator answers a questionnaire one question per
message; curators and municipal coordinators see the latest results of their schools.

The run and its answers live in the database (models/diagnostic_runs.py), so «Пауза», /cancel or
a restart of the bot lose nothing: /diagnostics offers to continue. FSM state only routes typed
answers and keeps the draft of the profile step. Every id from a button is checked again.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from pathlib import PurePath
from typing import Protocol, TypeVar

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.access import OVERSIGHT, allow
from bot.ui.callbacks import (
    DiagAnswer,
    DiagBack,
    DiagContinue,
    DiagHint,
    DiagImport,
    DiagLevel,
    DiagLevelsDone,
    DiagOther,
    DiagOvz,
    DiagPause,
    DiagProfileBack,
    DiagRestart,
    DiagSchool,
    DiagSchoolsPage,
    DiagStart,
    DiagToRoadmap,
    DiagUnknown,
    DiagView,
)
from bot.ui.formatting import day, trim
from bot.ui.keyboards import diagnostics as kb
from bot.ui.paging import clamp
from bot.ui.states import DiagnosticsForm
from models import DiagnosticRun, Questionnaire, Role, RunStatus, School, User, diagnostics
from models import diagnostic_runs as runs
from models.errors import InvalidInput, NotFound
from models.users import count_visible_schools, school_for, visible_schools

logger = logging.getLogger(__name__)

COORDINATOR = allow(Role.COORDINATOR)
VIEWERS = allow(Role.COORDINATOR, OVERSIGHT)
IMPORTERS = allow(Role.COORDINATOR, Role.MUNICIPAL)
OPTION_KINDS = frozenset({"yesno", "choice", "scale"})
TYPED_KINDS = frozenset({"number", "text"})
MAX_TEXT_ANSWER = 500
# Telegram allows 4096 characters; the margin covers entities the HTML parser adds.
MESSAGE_LIMIT = 3900
PAGE_SIZE = 10
MAX_XLSX_BYTES = 5 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 30
NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


# --- small helpers ---------------------------------------------------------------------------


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


def parse_number(text: str) -> float | None:
    cleaned = text.replace("\u00a0", "").replace(" ", "").rstrip("%")
    if not NUMBER.fullmatch(cleaned):
        return None
    value = float(cleaned.replace(",", "."))
    return value if math.isfinite(value) else None


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

    pressed.__name__ = pressed.__qualname__ = handler.__name__
    return pressed


def header(view: runs.RunView) -> str:
    return _("<b>Self-diagnosis</b> · {title}").format(title=title_of(view.questionnaire))


# --- /diagnostics ----------------------------------------------------------------------------


async def diagnostics_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    await state.clear()
    await runs.sync_builtin_questionnaires(session)
    if user.role == Role.COORDINATOR:
        await coordinator_menu(message, session, user, settings)
    else:
        await schools_page(message, session, user, settings, page=0)


def unfinished_text(view: runs.RunView, settings: Settings) -> str:
    started = day_of(view.run.created_at, settings)
    if view.profile is None:
        return _(
            "Unfinished self-diagnosis «{title}» (started {date}): stopped at the school profile."
        ).format(title=title_of(view.questionnaire), date=started)
    return _(
        "Unfinished self-diagnosis «{title}» (started {date}): stopped at question "
        "{number} / {total}; the answers so far are saved."
    ).format(
        title=title_of(view.questionnaire),
        date=started,
        number=min(view.run.position + 1, view.total),
        total=view.total,
    )


async def coordinator_menu(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    settings: Settings,
    *,
    offer_unfinished: bool = True,
) -> None:
    school = await own_school(session, user)
    if offer_unfinished:
        run = await runs.unfinished_run(session, school.id)
        if run is not None:
            view = await runs.load_run(session, run)
            await replies.show(event, unfinished_text(view, settings), kb.resume_offer(run.id))
            return
    rows = await runs.questionnaires_for(session, school)
    latest = (await runs.latest_results(session, [school.id])).get(school.id, [])
    lines = [_("<b>Self-diagnosis</b> · {school}").format(school=escape(school.short_name))]
    for run, row in latest:
        lines.append(
            _("Latest result «{title}»: {level}, {date}").format(
                title=escape(row_title(row)),
                level=level_title(runs.definition_of(row), run.level),
                date=day_of(run.completed_at, settings),
            )
        )
    lines.append("")
    if rows:
        lines.append(
            _(
                "Choose a questionnaire. You can pause at any time and continue later "
                "with /diagnostics."
            )
        )
    else:
        lines.append(_("No questionnaires are available yet."))
    markup = kb.menu(
        [(row.id, row_title(row)) for row in rows],
        [(run.id, row_title(row)) for run, row in latest],
        can_import=True,
    )
    await replies.show(event, "\n".join(lines), markup)


async def schools_page(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    settings: Settings,
    *,
    page: int,
) -> None:
    total = await count_visible_schools(session, user)
    if total == 0:
        await replies.show(event, _("No schools yet."))
        return
    page = clamp(page, total, PAGE_SIZE)
    schools = await visible_schools(session, user, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    latest = await runs.latest_results(session, [school.id for school in schools])
    definitions: dict[int, diagnostics.Questionnaire] = {}
    lines = [
        _("<b>Self-diagnosis of your schools</b> ({first}–{last} of {total})").format(
            first=page * PAGE_SIZE + 1, last=page * PAGE_SIZE + len(schools), total=total
        )
    ]
    for school in schools:
        lines += ["", f"<b>{escape(school.short_name)}</b>"]
        results = latest.get(school.id, [])
        if not results:
            lines.append(_("no completed self-diagnosis yet"))
        for run, row in results:
            if row.id not in definitions:
                definitions[row.id] = runs.definition_of(row)
            lines.append(
                _("• {title}: {level}, {date}").format(
                    title=escape(row_title(row)),
                    level=level_title(definitions[row.id], run.level),
                    date=day_of(run.completed_at, settings),
                )
            )
    lines += ["", _("Tap a school to see its latest results.")]
    markup = kb.schools(
        [(school.id, school.short_name) for school in schools],
        page=page,
        total=total,
        page_size=PAGE_SIZE,
        can_import=user.role == Role.MUNICIPAL,
    )
    await show_card(event, chunks(lines), markup, in_place=True)


async def schools_page_turned(
    query: CallbackQuery,
    callback_data: DiagSchoolsPage,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    await schools_page(query, session, user, settings, page=callback_data.page)


# --- choosing, continuing, starting over -----------------------------------------------------


async def choose_questionnaire(
    query: CallbackQuery,
    callback_data: DiagStart,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await own_school(session, user)
    try:
        row = await runs.questionnaire_for(session, school, callback_data.questionnaire_id)
    except NotFound:
        await query.answer(inactive_text(), show_alert=True)
        return
    unfinished = await runs.unfinished_run(session, school.id, row.code)
    if unfinished is not None:
        view = await runs.load_run(session, unfinished)
        await replies.show(query, unfinished_text(view, settings), kb.resume_offer(unfinished.id))
        return
    run = await runs.start_run(session, school=school, row=row, actor_id=user.id)
    view = await runs.load_run(session, run)
    await present(Step(query, state, session, user, settings, view))


@on_active_run
async def continue_run(step: Step, _button: DiagContinue) -> None:
    await present(step)


@on_active_run
async def restart_run(step: Step, _button: DiagRestart) -> None:
    school = await own_school(step.session, step.user)
    if step.view.run.school_id != school.id:
        await step.alert(inactive_text())
        return
    # Starting over takes the questionnaire's current version; the old run is set aside.
    row = await runs.current_version(step.session, school, step.view.row)
    run = await runs.start_run(step.session, school=school, row=row, actor_id=step.user.id)
    await present(replace(step, view=await runs.load_run(step.session, run)))


async def other_questionnaire(
    query: CallbackQuery, user: User, session: AsyncSession, settings: Settings
) -> None:
    await runs.sync_builtin_questionnaires(session)
    await coordinator_menu(query, session, user, settings, offer_unfinished=False)


# --- the steps -------------------------------------------------------------------------------


async def present(step: Step, *, show_hint: bool = False) -> None:
    """Show whatever the run needs now: the profile, the current question, or the result."""
    view = step.view
    if view.profile is None:
        if "levels" in view.asks_profile:
            await ask_levels(step)
        else:
            await ask_ovz(step)
        return
    if view.current is None:
        await finish(step)
        return
    await ask_question(step, show_hint=show_hint)


def profile_question(view: runs.RunView, code: str) -> diagnostics.ProfileQuestion:
    return next(p for p in view.questionnaire.profile if p.code == code)


def profile_lines(view: runs.RunView, code: str) -> list[str]:
    """The header, the profile question in bold and its hint in italics."""
    question = profile_question(view, code)
    lines = [header(view), "", f"<b>{escape(tr(question.text, question.text_en))}</b>"]
    hint = tr(question.hint, question.hint_en)
    if hint:
        lines.append(f"<i>{escape(hint)}</i>")
    return lines


async def draft_levels(step: Step) -> set[str]:
    """The levels ticked so far: the form's draft, else the run's profile, else the school's."""
    run = step.view.run
    data = await step.state.get_data()
    if data.get("run_id") == run.id and "levels" in data:
        return set(data["levels"]) & set(diagnostics.SCHOOL_LEVELS)
    if run.profile:
        return set(run.profile.get("levels", []))
    school = await step.session.get(School, run.school_id)
    return set(runs.profile_of_school(school)[0]) if school is not None else set()


async def ask_levels(step: Step, selected: set[str] | None = None) -> None:
    if selected is None:
        selected = await draft_levels(step)
    run_id = step.view.run.id
    lines = profile_lines(step.view, "levels")
    lines += ["", _("Tick every level the school teaches, then press «Next».")]
    await step.state.set_state(DiagnosticsForm.profile_levels)
    await step.state.set_data({"run_id": run_id, "levels": sorted(selected)})
    await replies.show(
        step.event,
        "\n".join(lines),
        kb.profile_levels(run_id, diagnostics.SCHOOL_LEVELS, selected),
    )


async def ask_ovz(step: Step) -> None:
    view = step.view
    if view.run.profile:
        current: bool | None = bool(view.run.profile.get("ovz"))
    else:
        school = await step.session.get(School, view.run.school_id)
        current = school.has_ovz if school is not None else None
    await step.state.set_state(DiagnosticsForm.profile_ovz)
    await step.state.update_data(run_id=view.run.id)
    await replies.show(
        step.event,
        "\n".join(profile_lines(view, "ovz")),
        kb.profile_ovz(view.run.id, current, can_go_back="levels" in view.asks_profile),
    )


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


def answer_label(question: diagnostics.Question, value: diagnostics.AnswerValue) -> str:
    if value is diagnostics.UNKNOWN:
        return _("Don't know")
    if question.kind == "number" and isinstance(value, int | float):
        return num(value)
    if question.kind == "text":
        return str(value)
    if isinstance(value, int) and 0 <= value < len(question.options):
        option = question.options[value]
        return tr(option.label, option.label_en)
    return str(value)


async def ask_question(step: Step, *, show_hint: bool = False) -> None:
    view = step.view
    question = view.current
    if question is None:  # callers check; kept for type checkers
        return
    questionnaire = view.questionnaire
    direction = questionnaire.direction(question.direction)
    lines = [
        header(view),
        _("{number} / {total} · {direction}").format(
            number=view.run.position + 1,
            total=view.total,
            direction=escape(tr(direction.title, direction.title_en)),
        ),
        "",
    ]
    respondent = next(
        (r for r in questionnaire.respondents if r.code == question.respondent), None
    )
    if respondent is not None:
        lines.append(
            _("Answered by: {group}").format(
                group=escape(tr(respondent.title, respondent.title_en))
            )
        )
    lines.append(f"<b>{escape(tr(question.text, question.text_en))}</b>")
    hint = tr(question.hint, question.hint_en)
    if show_hint and hint:
        lines += ["", "💡 " + escape(hint)]
    if question.kind == "number":
        lines += ["", _("Send the number in reply, e.g. 12 or 7,5.")]
    elif question.kind == "text":
        lines += [
            "",
            _("Send a short answer in reply (up to {max} characters).").format(
                max=MAX_TEXT_ANSWER
            ),
        ]
    current = view.answers.get(question.code)
    if current is not None:
        lines += [
            "",
            _("Current answer: {answer}").format(answer=escape(answer_label(question, current))),
        ]
    labels = (
        [tr(option.label, option.label_en) for option in question.options]
        if question.kind in OPTION_KINDS
        else []
    )
    markup = kb.question(
        view.run.id,
        view.question_ids[question.code],
        labels,
        selected=current if isinstance(current, int) and question.kind in OPTION_KINDS else None,
        side_by_side=question.kind == "yesno"
        or (question.kind == "scale" and kb.fits_side_by_side(labels)),
        allow_unknown=question.allow_unknown,
        unknown_selected=current is diagnostics.UNKNOWN,
        hint=bool(hint) and not show_hint,
    )
    shown = await replies.show(step.event, "\n".join(lines), markup)
    await step.state.set_state(DiagnosticsForm.question)
    await step.state.set_data(
        {"run_id": view.run.id, "message_id": shown.message_id if shown is not None else None}
    )


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


# --- the result card -------------------------------------------------------------------------


async def finish(step: Step) -> None:
    result = await runs.finish_run(step.session, step.view, actor_id=step.user.id)
    await step.state.clear()
    parts, markup = await result_card(step.session, step.view, result, step.user, step.settings)
    await show_card(step.event, parts, markup, in_place=True)


def numbered_deficits(
    result: diagnostics.DiagnosticResult,
) -> list[tuple[int, int, int, diagnostics.Deficit]]:
    """(number on the card, direction index, item index, deficit), as stored on the run."""
    items: list[tuple[int, int, int, diagnostics.Deficit]] = []
    for direction_index, score in enumerate(result.directions):
        for item_index, deficit in enumerate(score.deficits):
            items.append((len(items) + 1, direction_index, item_index, deficit))
    return items


async def result_card(
    session: AsyncSession,
    view: runs.RunView,
    result: diagnostics.DiagnosticResult,
    user: User,
    settings: Settings,
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    run, questionnaire = view.run, view.questionnaire
    risk = questionnaire.kind == "risk_profile"
    school = await session.get(School, run.school_id)
    lines = [
        _("<b>Self-diagnosis result</b> · {title}").format(title=title_of(questionnaire)),
        _("{school}, completed {date}").format(
            school=escape(school.short_name if school else "—"),
            date=day_of(run.completed_at, settings),
        ),
    ]
    if questionnaire.profile:
        profile = result.profile
        lines.append(
            _("Profile: {levels}; pupils with ОВЗ: {ovz}").format(
                levels=", ".join(
                    lvl for lvl in diagnostics.SCHOOL_LEVELS if lvl in profile.levels
                ),
                ovz=_("yes") if profile.ovz else _("no"),
            )
        )
    overall = result.overall
    total_text = (
        _("<b>Overall: {points} of {max} risk points — {level}</b>")
        if risk
        else _("<b>Overall: {points} of {max} points — {level}</b>")
    )
    lines += [
        "",
        total_text.format(
            points=num(overall.points),
            max=num(overall.max_points),
            level=level_title(questionnaire, overall.level),
        ),
        "",
        _("<b>By risk factor</b>") if risk else _("<b>By direction</b>"),
    ]
    for score in result.directions:
        direction = questionnaire.direction(score.direction)
        lines.append(
            _("• {title}: {points} of {max} — {level}").format(
                title=escape(tr(direction.title, direction.title_en)),
                points=num(score.points),
                max=num(score.max_points),
                level=level_title(questionnaire, score.level),
            )
        )

    deficits = numbered_deficits(result)
    can_edit_roadmap = user.role == Role.COORDINATOR and user.school_id == run.school_id
    lines.append("")
    if risk:
        lines.append(_("<b>Risk factors found: {count}</b>").format(count=len(deficits)))
    else:
        lines.append(_("<b>Deficits: {count}</b>").format(count=len(deficits)))
    if not deficits:
        lines.append(_("No risk factors found.") if risk else _("No deficits found."))
    shown_direction = None
    for number, direction_index, _item, deficit in deficits:
        if not risk and direction_index != shown_direction:
            shown_direction = direction_index
            direction = questionnaire.direction(deficit.direction)
            lines.append(f"<u>{escape(tr(direction.title, direction.title_en))}</u>")
        lines.append(f"{number}. {escape(tr(deficit.text, deficit.text_en))}")
    if deficits and can_edit_roadmap:
        lines.append(_("Tap one below to add it to the school's roadmap."))

    if overall.unknown:
        lines += [
            "",
            _("<b>Answered «don't know»: {count}</b>").format(count=len(overall.unknown)),
        ]
        for code in overall.unknown:
            question = questionnaire.question(code)
            lines.append("• " + escape(tr(question.text, question.text_en)))

    lines += await comparison_lines(session, view, result, settings)

    lines.append("")
    if risk:
        lines.append(
            _(
                "<i>This is the bot's own estimate from your answers, not the official FIOKO "
                "risk profile.</i>"
            )
        )
    elif result.estimate:
        lines.append(
            _(
                "<i>The levels are the bot's estimate with configurable thresholds, not an "
                "official result.</i>"
            )
        )

    markup = None
    if can_edit_roadmap and deficits:
        stored = run.result or {"directions": []}
        titles = [
            stored["directions"][d]["deficits"][i]
            for _n, d, i, _x in deficits
            if d < len(stored["directions"]) and i < len(stored["directions"][d]["deficits"])
        ]
        present_titles = await runs.roadmap_titles(session, run.school_id, titles)
        added = set()
        for number, d, i, _deficit in deficits:
            try:
                title = stored["directions"][d]["deficits"][i]
            except (IndexError, KeyError):
                continue
            if title in present_titles:
                added.add(number)
        markup = kb.result_actions(
            run.id,
            [(n, d, i, tr(x.text, x.text_en)) for n, d, i, x in deficits],
            added,
        )
    return chunks(lines), markup


async def comparison_lines(
    session: AsyncSession,
    view: runs.RunView,
    result: diagnostics.DiagnosticResult,
    settings: Settings,
) -> list[str]:
    previous = await runs.previous_completed_run(session, view.run)
    if previous is None:
        return []
    before_view = await runs.load_run(session, previous)
    try:
        change = diagnostics.compare(result, runs.score_view(before_view))
    except (ValueError, diagnostics.DiagnosticsError):
        logger.warning("runs %s and %s cannot be compared", view.run.id, previous.id)
        return []
    now_q, before_q = view.questionnaire, before_view.questionnaire
    risk = now_q.kind == "risk_profile"
    lines = [
        "",
        _("<b>Compared with the previous self-diagnosis of {date}</b>").format(
            date=day_of(previous.completed_at, settings)
        ),
    ]
    overall = change.overall
    if overall.level_change:
        lines.append(
            _("Overall: {delta} points, level {before} → {after}").format(
                delta=signed(overall.points_delta),
                before=level_title(before_q, overall.previous_level),
                after=level_title(now_q, overall.current_level),
            )
        )
    else:
        lines.append(
            _("Overall: {delta} points, level unchanged ({level})").format(
                delta=signed(overall.points_delta),
                level=level_title(now_q, overall.current_level),
            )
        )
    for delta in change.directions:
        if abs(delta.points_delta) < 1e-9 and not delta.level_change:
            continue
        direction = now_q.direction(delta.direction or "")
        title = escape(tr(direction.title, direction.title_en))
        if delta.level_change:
            lines.append(
                _("• {title}: {delta}, {before} → {after}").format(
                    title=title,
                    delta=signed(delta.points_delta),
                    before=level_title(before_q, delta.previous_level),
                    after=level_title(now_q, delta.current_level),
                )
            )
        else:
            lines.append(
                _("• {title}: {delta}").format(title=title, delta=signed(delta.points_delta))
            )
    text = (
        _("Risk factors no longer found: {closed}; newly found: {new}.")
        if risk
        else _("Deficits closed: {closed}; new: {new}.")
    )
    lines.append(text.format(closed=len(change.resolved_deficits), new=len(change.new_deficits)))
    return lines


async def view_run(
    query: CallbackQuery,
    callback_data: DiagView,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    run = await runs.run_for(session, user, callback_data.run_id)
    if run.status != RunStatus.COMPLETED:
        await query.answer(inactive_text(), show_alert=True)
        return
    await send_cards(query, session, [run], user, settings)


async def view_school(
    query: CallbackQuery,
    callback_data: DiagSchool,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    latest = (await runs.latest_results(session, [school.id])).get(school.id, [])
    if not latest:
        await query.answer(
            _("{school} has no completed self-diagnosis yet.").format(school=school.short_name),
            show_alert=True,
        )
        return
    await send_cards(query, session, [run for run, _row in latest], user, settings)


async def send_cards(
    event: Message | CallbackQuery,
    session: AsyncSession,
    completed: Sequence[DiagnosticRun],
    user: User,
    settings: Settings,
) -> None:
    for run in completed:
        view = await runs.load_run(session, run)
        parts, markup = await result_card(session, view, runs.score_view(view), user, settings)
        await show_card(event, parts, markup, in_place=False)


async def add_to_roadmap(
    query: CallbackQuery,
    callback_data: DiagToRoadmap,
    user: User,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    run = await runs.run_for(session, user, callback_data.run_id)
    # The roadmap is shared school data: its section is written in the bot's default language.
    with i18n.use_locale(i18n.default_locale):
        section = _("From the self-diagnosis")
    try:
        item, created = await runs.add_deficit_to_roadmap(
            session,
            run,
            callback_data.direction,
            callback_data.item,
            section=section,
            actor_id=user.id,
        )
    except InvalidInput:
        await query.answer(inactive_text(), show_alert=True)
        return
    if not created:
        await query.answer(_("The school's roadmap already has this item."), show_alert=True)
        return
    await query.answer(
        _("Added to the school's roadmap: {title}").format(title=trim(item.title, 150))
    )
    view = await runs.load_run(session, run)
    _parts, markup = await result_card(session, view, runs.score_view(view), user, settings)
    if isinstance(query.message, Message):
        await replies.edit_markup(query.message, markup)


# --- XLSX questionnaires ---------------------------------------------------------------------


async def import_start(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(DiagnosticsForm.import_file)
    await state.set_data({})
    await send(
        query,
        _(
            "Send the questionnaire as an .xlsx file: one question per row, with the columns "
            "«Направление», «Вопрос», «Тип», «Варианты» (and, if needed, «Код», «Подсказка», "
            "«Дефицит», «Вес»). Options are written as «нет=0; частично=1; да=2». The caption "
            "(or the file name) becomes the title. /cancel leaves."
        ),
    )


def problem_text(problem: diagnostics.ImportProblem) -> str:
    value = escape(str(problem.params.get("value", "")))
    column = str(problem.params.get("column", ""))
    texts = {
        "header_missing": _("no header row with the column «Вопрос»"),
        "kind_unknown": _("unknown type «{value}»"),
        "options_unparsable": _("cannot read the option «{value}»: write «label=points»"),
        "options_missing": _("the answer options are missing"),
        "options_unexpected": _("a text question takes no options"),
        "options_too_few": _("at least two options are needed"),
        "options_yesno_count": _("a yes/no question needs exactly two options"),
        "label_duplicate": _("two options have the same label"),
        "scale_unordered": _("the points of a scale must go up or down in order"),
        "points_invalid": _("points must not be negative: «{value}»"),
        "band_empty": _("empty number range «{value}»"),
        "bands_overlap": _("the number ranges overlap"),
        "text_empty": _("the question text is empty"),
        "direction_empty": _("the direction is empty"),
        "direction_unknown": _("unknown direction «{value}»"),
        "weight_invalid": _("invalid weight «{value}»"),
        "code_invalid": _("invalid code «{value}»: Latin letters, digits and _ only"),
        "code_duplicate": _("the code «{value}» is used twice"),
        "questions_missing": _("no questions below the header"),
        "file_invalid": _("this is not a readable .xlsx file"),
    }
    columns = {
        "direction": _("the column «Направление» is missing"),
        "text": _("the column «Вопрос» is missing"),
        "kind": _("the column «Тип» is missing"),
        "options": _("the column «Варианты» is missing"),
    }
    if problem.code == "column_missing":
        text = columns.get(column, _("a required column is missing"))
    else:
        text = texts.get(problem.code, _("problem «{code}»")).format(
            value=value, code=escape(problem.code)
        )
    if problem.row > 0:
        return _("Row {row}: {problem}").format(row=problem.row, problem=text)
    return _("File: {problem}").format(problem=text)


async def import_file(
    message: Message, state: FSMContext, user: User, session: AsyncSession, bot: Bot
) -> None:
    document = message.document
    if document is None:  # the filter lets only documents in
        return
    name = document.file_name or ""
    if not name.lower().endswith(".xlsx"):
        await message.answer(_("Please send an .xlsx file (Excel 2007 or newer)."))
        return
    if document.file_size is not None and document.file_size > MAX_XLSX_BYTES:
        await message.answer(
            _("The file is too big: at most {size} MB.").format(size=MAX_XLSX_BYTES // 2**20)
        )
        return
    downloaded = await bot.download(document)
    data = downloaded.read() if downloaded is not None else b""
    title = " ".join((message.caption or PurePath(name).stem).split())[:200]
    if not title:
        title = PurePath(name).stem or "xlsx"
    try:
        row = await runs.import_questionnaire(session, data, title=title, user=user)
    except diagnostics.QuestionnaireImportError as error:
        problems = list(error.problems)
        lines = [_("Nothing was imported. Fix these rows and send the file again:")]
        lines += [problem_text(p) for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(_("… and {count} more.").format(count=len(problems) - MAX_PROBLEMS_SHOWN))
        for part in chunks(lines):
            await message.answer(part)
        return
    await state.clear()
    questionnaire = runs.definition_of(row)
    await message.answer(
        _(
            "Imported «{title}», version {version}: {questions} questions. "
            "It is offered in /diagnostics."
        ).format(
            title=escape(row.title),
            version=escape(row.version),
            questions=len(questionnaire.questions),
        )
    )


async def import_fallback(message: Message) -> None:
    await message.answer(_("Please send the questionnaire as an .xlsx file, or /cancel."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(diagnostics_command, Command("diagnostics"), flags=VIEWERS)

    callbacks = router.callback_query
    callbacks.register(choose_questionnaire, DiagStart.filter(), flags=COORDINATOR)
    callbacks.register(continue_run, DiagContinue.filter(), flags=COORDINATOR)
    callbacks.register(restart_run, DiagRestart.filter(), flags=COORDINATOR)
    callbacks.register(other_questionnaire, DiagOther.filter(), flags=COORDINATOR)
    callbacks.register(toggle_level, DiagLevel.filter(), flags=COORDINATOR)
    callbacks.register(levels_done, DiagLevelsDone.filter(), flags=COORDINATOR)
    callbacks.register(choose_ovz, DiagOvz.filter(), flags=COORDINATOR)
    callbacks.register(profile_back, DiagProfileBack.filter(), flags=COORDINATOR)
    callbacks.register(answer_option, DiagAnswer.filter(), flags=COORDINATOR)
    callbacks.register(answer_unknown, DiagUnknown.filter(), flags=COORDINATOR)
    callbacks.register(show_hint, DiagHint.filter(), flags=COORDINATOR)
    callbacks.register(go_back, DiagBack.filter(), flags=COORDINATOR)
    callbacks.register(pause, DiagPause.filter(), flags=COORDINATOR)
    callbacks.register(add_to_roadmap, DiagToRoadmap.filter(), flags=COORDINATOR)
    callbacks.register(view_run, DiagView.filter(), flags=VIEWERS)
    callbacks.register(view_school, DiagSchool.filter(), flags=VIEWERS)
    callbacks.register(schools_page_turned, DiagSchoolsPage.filter(), flags=allow(OVERSIGHT))
    callbacks.register(import_start, DiagImport.filter(), flags=IMPORTERS)

    messages = router.message
    messages.register(typed_answer, DiagnosticsForm.question, F.text, flags=COORDINATOR)
    messages.register(question_fallback, DiagnosticsForm.question, flags=COORDINATOR)
    messages.register(
        profile_fallback,
        StateFilter(DiagnosticsForm.profile_levels, DiagnosticsForm.profile_ovz),
        flags=COORDINATOR,
    )
    messages.register(import_file, DiagnosticsForm.import_file, F.document, flags=IMPORTERS)
    messages.register(import_fallback, DiagnosticsForm.import_file, flags=IMPORTERS)
    return router
