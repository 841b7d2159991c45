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
from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import PurePath

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies as edits
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
from bot.ui.formatting import trim
from bot.ui.keyboards import diagnostics as kb
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


def day(moment: datetime | None, settings: Settings) -> str:
    return moment.astimezone(settings.tz).strftime("%d.%m.%Y") if moment else "—"


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


class Reply:
    """Where a step goes: the message under a pressed button is edited in place, a typed
    answer gets a new message."""

    def __init__(self, event: CallbackQuery | Message) -> None:
        self.event = event
        self.answered = False

    @property
    def chat_id(self) -> int:
        if isinstance(self.event, Message):
            return self.event.chat.id
        if self.event.message is not None:
            return self.event.message.chat.id
        return self.event.from_user.id

    @property
    def bot(self) -> Bot:
        bot = self.event.bot
        if bot is None:  # aiogram binds every incoming object to its bot
            raise RuntimeError("event is not bound to a bot")
        return bot

    async def ack(self, text: str | None = None, *, alert: bool = False) -> None:
        if isinstance(self.event, CallbackQuery) and not self.answered:
            self.answered = True
            await self.event.answer(text, show_alert=alert)

    async def show(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        if isinstance(self.event, CallbackQuery):
            await self.ack()
            message = self.event.message
            if isinstance(message, Message):
                if await edits.edit_text(message, text, markup):
                    return message.message_id
                logger.info("could not edit message %s, sending anew", message.message_id)
        return await self.send(text, markup)

    async def send(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        sent = await self.bot.send_message(self.chat_id, text, reply_markup=markup)
        return sent.message_id


async def own_school(session: AsyncSession, user: User) -> School:
    return await school_for(session, user, user.school_id if user.school_id is not None else 0)


async def active_view(
    query: CallbackQuery, session: AsyncSession, user: User, run_id: int
) -> runs.RunView | None:
    """The run in progress behind a button, re-checked; None (and a polite alert) otherwise."""
    run = await runs.run_for(session, user, run_id)
    if run.status != RunStatus.IN_PROGRESS:
        await query.answer(finished_text(), show_alert=True)
        return None
    return await runs.load_run(session, run)


def header(view: runs.RunView) -> str:
    return _("<b>Self-diagnosis</b> · {title}").format(title=title_of(view.questionnaire))


# --- /diagnostics ----------------------------------------------------------------------------


async def diagnostics_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    await state.clear()
    await runs.sync_builtin_questionnaires(session)
    if user.role == Role.COORDINATOR:
        await coordinator_menu(Reply(message), session, user, settings)
    else:
        await schools_page(Reply(message), session, user, settings, page=0)


def unfinished_text(view: runs.RunView, settings: Settings) -> str:
    started = day(view.run.created_at, settings)
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
    reply: Reply,
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
            await reply.show(unfinished_text(view, settings), kb.resume_offer(run.id))
            return
    rows = await runs.questionnaires_for(session, school)
    latest = (await runs.latest_results(session, [school.id])).get(school.id, [])
    lines = [_("<b>Self-diagnosis</b> · {school}").format(school=escape(school.short_name))]
    for run, row in latest:
        lines.append(
            _("Latest result «{title}»: {level}, {date}").format(
                title=escape(row_title(row)),
                level=level_title(runs.definition_of(row), run.level),
                date=day(run.completed_at, settings),
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
    await reply.show("\n".join(lines), markup)


async def schools_page(
    reply: Reply, session: AsyncSession, user: User, settings: Settings, *, page: int
) -> None:
    total = await count_visible_schools(session, user)
    if total == 0:
        await reply.show(_("No schools yet."))
        return
    page = max(0, min(page, (total - 1) // PAGE_SIZE))
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
                    date=day(run.completed_at, settings),
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
    await show_card(reply, chunks(lines), markup, in_place=True)


async def schools_page_turned(
    query: CallbackQuery,
    callback_data: DiagSchoolsPage,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    await schools_page(Reply(query), session, user, settings, page=callback_data.page)


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
    reply = Reply(query)
    unfinished = await runs.unfinished_run(session, school.id, row.code)
    if unfinished is not None:
        view = await runs.load_run(session, unfinished)
        await reply.show(unfinished_text(view, settings), kb.resume_offer(unfinished.id))
        return
    run = await runs.start_run(session, school=school, row=row, actor_id=user.id)
    await present(reply, state, session, await runs.load_run(session, run), user, settings)


async def continue_run(
    query: CallbackQuery,
    callback_data: DiagContinue,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is not None:
        await present(Reply(query), state, session, view, user, settings)


async def restart_run(
    query: CallbackQuery,
    callback_data: DiagRestart,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    school = await own_school(session, user)
    if view.run.school_id != school.id:
        await query.answer(inactive_text(), show_alert=True)
        return
    # Starting over takes the questionnaire's current version; the old run is set aside.
    row = await runs.current_version(session, school, view.row)
    run = await runs.start_run(session, school=school, row=row, actor_id=user.id)
    await present(Reply(query), state, session, await runs.load_run(session, run), user, settings)


async def other_questionnaire(
    query: CallbackQuery, user: User, session: AsyncSession, settings: Settings
) -> None:
    await runs.sync_builtin_questionnaires(session)
    await coordinator_menu(Reply(query), session, user, settings, offer_unfinished=False)


# --- the steps -------------------------------------------------------------------------------


async def present(
    reply: Reply,
    state: FSMContext,
    session: AsyncSession,
    view: runs.RunView,
    user: User,
    settings: Settings,
    *,
    show_hint: bool = False,
) -> None:
    """Show whatever the run needs now: the profile, the current question, or the result."""
    if view.profile is None:
        if "levels" in view.asks_profile:
            await ask_levels(reply, state, session, view)
        else:
            await ask_ovz(reply, state, session, view)
        return
    if view.current is None:
        await finish(reply, state, session, view, user, settings)
        return
    await ask_question(reply, state, view, show_hint=show_hint)


def profile_question(view: runs.RunView, code: str) -> diagnostics.ProfileQuestion:
    return next(p for p in view.questionnaire.profile if p.code == code)


async def draft_levels(state: FSMContext, session: AsyncSession, view: runs.RunView) -> set[str]:
    """The levels ticked so far: the form's draft, else the run's profile, else the school's."""
    data = await state.get_data()
    if data.get("run_id") == view.run.id and "levels" in data:
        return set(data["levels"]) & set(diagnostics.SCHOOL_LEVELS)
    if view.run.profile:
        return set(view.run.profile.get("levels", []))
    school = await session.get(School, view.run.school_id)
    return set(runs.profile_of_school(school)[0]) if school is not None else set()


async def ask_levels(
    reply: Reply,
    state: FSMContext,
    session: AsyncSession,
    view: runs.RunView,
    selected: set[str] | None = None,
) -> None:
    if selected is None:
        selected = await draft_levels(state, session, view)
    question = profile_question(view, "levels")
    lines = [header(view), "", f"<b>{escape(tr(question.text, question.text_en))}</b>"]
    hint = tr(question.hint, question.hint_en)
    if hint:
        lines.append(f"<i>{escape(hint)}</i>")
    lines += ["", _("Tick every level the school teaches, then press «Next».")]
    await state.set_state(DiagnosticsForm.profile_levels)
    await state.set_data({"run_id": view.run.id, "levels": sorted(selected)})
    await reply.show(
        "\n".join(lines),
        kb.profile_levels(view.run.id, diagnostics.SCHOOL_LEVELS, selected),
    )


async def ask_ovz(
    reply: Reply, state: FSMContext, session: AsyncSession, view: runs.RunView
) -> None:
    if view.run.profile:
        current: bool | None = bool(view.run.profile.get("ovz"))
    else:
        school = await session.get(School, view.run.school_id)
        current = school.has_ovz if school is not None else None
    question = profile_question(view, "ovz")
    lines = [header(view), "", f"<b>{escape(tr(question.text, question.text_en))}</b>"]
    hint = tr(question.hint, question.hint_en)
    if hint:
        lines.append(f"<i>{escape(hint)}</i>")
    await state.set_state(DiagnosticsForm.profile_ovz)
    await state.update_data(run_id=view.run.id)
    await reply.show(
        "\n".join(lines),
        kb.profile_ovz(view.run.id, current, can_go_back="levels" in view.asks_profile),
    )


async def toggle_level(
    query: CallbackQuery,
    callback_data: DiagLevel,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    if "levels" not in view.asks_profile or not (
        0 <= callback_data.index < len(diagnostics.SCHOOL_LEVELS)
    ):
        await query.answer(inactive_text(), show_alert=True)
        return
    selected = await draft_levels(state, session, view)
    selected ^= {diagnostics.SCHOOL_LEVELS[callback_data.index]}
    await ask_levels(Reply(query), state, session, view, selected)


async def levels_done(
    query: CallbackQuery,
    callback_data: DiagLevelsDone,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    if "levels" not in view.asks_profile:
        await query.answer(inactive_text(), show_alert=True)
        return
    selected = await draft_levels(state, session, view)
    if not selected:
        await query.answer(_("Tick at least one level."), show_alert=True)
        return
    if "ovz" in view.asks_profile:
        await state.update_data(run_id=view.run.id, levels=sorted(selected))
        await ask_ovz(Reply(query), state, session, view)
        return
    await runs.set_profile(session, view, selected, None)
    await present(Reply(query), state, session, view, user, settings)


async def choose_ovz(
    query: CallbackQuery,
    callback_data: DiagOvz,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    if "ovz" not in view.asks_profile or callback_data.value not in (0, 1):
        await query.answer(inactive_text(), show_alert=True)
        return
    levels: set[str] | None = None
    if "levels" in view.asks_profile:
        levels = await draft_levels(state, session, view)
        if not levels:
            await ask_levels(Reply(query), state, session, view, levels)
            return
    await runs.set_profile(session, view, levels, bool(callback_data.value))
    await present(Reply(query), state, session, view, user, settings)


async def profile_back(
    query: CallbackQuery,
    callback_data: DiagProfileBack,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    if "levels" not in view.asks_profile:
        await query.answer(inactive_text(), show_alert=True)
        return
    await ask_levels(Reply(query), state, session, view)


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


async def ask_question(
    reply: Reply, state: FSMContext, view: runs.RunView, *, show_hint: bool = False
) -> None:
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
    message_id = await reply.show("\n".join(lines), markup)
    await state.set_state(DiagnosticsForm.question)
    await state.set_data({"run_id": view.run.id, "message_id": message_id})


async def record_answer(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    view: runs.RunView,
    user: User,
    settings: Settings,
    question_id: int,
    value: diagnostics.AnswerValue,
    kinds: frozenset[str] | None = None,
) -> None:
    try:
        await runs.save_answer(session, view, question_id, value, kinds=kinds)
    except InvalidInput as error:
        await query.answer(refusal(error), show_alert=True)
        return
    await present(Reply(query), state, session, view, user, settings)


async def answer_option(
    query: CallbackQuery,
    callback_data: DiagAnswer,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is not None:
        await record_answer(
            query,
            state,
            session,
            view,
            user,
            settings,
            callback_data.question_id,
            callback_data.option,
            OPTION_KINDS,
        )


async def answer_unknown(
    query: CallbackQuery,
    callback_data: DiagUnknown,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is not None:
        await record_answer(
            query,
            state,
            session,
            view,
            user,
            settings,
            callback_data.question_id,
            diagnostics.UNKNOWN,
        )


def is_current(view: runs.RunView, question_id: int) -> bool:
    question = view.current
    return question is not None and view.question_ids.get(question.code) == question_id


async def show_hint(
    query: CallbackQuery,
    callback_data: DiagHint,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    if not is_current(view, callback_data.question_id):
        await query.answer(refusal(InvalidInput("question_not_current")), show_alert=True)
        return
    await ask_question(Reply(query), state, view, show_hint=True)


async def go_back(
    query: CallbackQuery,
    callback_data: DiagBack,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    try:
        moved = await runs.step_back(session, view, callback_data.question_id)
    except InvalidInput as error:
        await query.answer(refusal(error), show_alert=True)
        return
    reply = Reply(query)
    if moved:
        await ask_question(reply, state, view)
    elif "levels" in view.asks_profile:
        await ask_levels(reply, state, session, view)
    elif "ovz" in view.asks_profile:
        await ask_ovz(reply, state, session, view)
    else:
        await query.answer(_("This is the first question."), show_alert=True)


async def pause(
    query: CallbackQuery,
    callback_data: DiagPause,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    view = await active_view(query, session, user, callback_data.run_id)
    if view is None:
        return
    await state.clear()
    if view.profile is None or view.current is None:
        text = _("Paused. Send /diagnostics and press «Continue» to go on.")
    else:
        text = _(
            "Paused at question {number} / {total}. Your answers are saved: send /diagnostics "
            "and press «Continue» to go on."
        ).format(number=view.run.position + 1, total=view.total)
    await Reply(query).show(text)


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
        try:
            await bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=previous, reply_markup=None
            )
        except TelegramBadRequest:
            pass
    await present(Reply(message), state, session, view, user, settings)


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


async def finish(
    reply: Reply,
    state: FSMContext,
    session: AsyncSession,
    view: runs.RunView,
    user: User,
    settings: Settings,
) -> None:
    result = await runs.finish_run(session, view, actor_id=user.id)
    await state.clear()
    parts, markup = await result_card(session, view, result, user, settings)
    await show_card(reply, parts, markup, in_place=True)


async def show_card(
    reply: Reply, parts: Sequence[str], markup: InlineKeyboardMarkup | None, *, in_place: bool
) -> None:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if index == 0 and in_place:
            await reply.show(part, markup if last else None)
        else:
            await reply.send(part, markup if last else None)


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
            date=day(run.completed_at, settings),
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
            date=day(previous.completed_at, settings)
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
    await send_cards(Reply(query), session, [run], user, settings)


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
    await send_cards(Reply(query), session, [run for run, _row in latest], user, settings)


async def send_cards(
    reply: Reply,
    session: AsyncSession,
    completed: Sequence[DiagnosticRun],
    user: User,
    settings: Settings,
) -> None:
    await reply.ack()
    for run in completed:
        view = await runs.load_run(session, run)
        parts, markup = await result_card(session, view, runs.score_view(view), user, settings)
        await show_card(reply, parts, markup, in_place=False)


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
        await edits.edit_markup(query.message, markup)


# --- XLSX questionnaires ---------------------------------------------------------------------


async def import_start(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(DiagnosticsForm.import_file)
    await state.set_data({})
    reply = Reply(query)
    await reply.ack()
    await reply.send(
        _(
            "Send the questionnaire as an .xlsx file: one question per row, with the columns "
            "«Направление», «Вопрос», «Тип», «Варианты» (and, if needed, «Код», «Подсказка», "
            "«Дефицит», «Вес»). Options are written as «нет=0; частично=1; да=2». The caption "
            "(or the file name) becomes the title. /cancel leaves."
        )
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
