"""What each step of the report form shows: one screen function per state (SCREENS), the
summary card, and `show`, which keeps the form message's bookkeeping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting, replies
from bot.ui.formatting import day, trim
from bot.ui.keyboards import report as kb
from bot.ui.states import ReportForm
from bot.ui.texts import direction_name, input_problem, mark_name
from handlers.report.draft import save_draft
from models.errors import InvalidInput
from models.reports import MAX_DESCRIPTION, MAX_TITLE, Draft, roadmap_choices, school_name

STEPS = 4
STEP_OF = {
    ReportForm.activity.state: 1,
    ReportForm.other_direction.state: 1,
    ReportForm.other_title.state: 1,
    ReportForm.mark.state: 2,
    ReportForm.description.state: 3,
    ReportForm.evidence.state: 4,
}


def hint(error: InvalidInput) -> str:
    return input_problem(error.code, dict(error.params))


def progress(step_state: str | None) -> str:
    step = STEP_OF.get(step_state or "")
    if step is None:
        return ""
    head = _("Step {k} of {n}").format(k=step, n=STEPS)
    # «Другое мероприятие» takes two more screens within step 1: say which one this is.
    if step_state == ReportForm.other_direction.state:
        head += " · " + _("other activity: the direction")
    elif step_state == ReportForm.other_title.state:
        head += " · " + _("other activity: its name")
    return head + "\n"


# --- the form message ----------------------------------------------------------------------


async def show(
    event: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    state: FSMContext,
    *,
    in_place: bool = False,
) -> None:
    """Show a screen of the form (replies.show) and keep the form message's id in the FSM data
    (`in_place`: after a typed message, edit the form message instead, if Telegram still lets
    us).

    A new form message takes the buttons away from the previous one, whose buttons would only
    lead back into this form. A button's message id is known before the reply, so it is
    written with the step; a new message's id only after it: that costs a second short
    transaction, on typed answers only.
    """
    if isinstance(event, Message) and in_place and event.bot is not None:
        form_msg = (await state.get_data()).get("form_msg")
        if isinstance(form_msg, int) and await replies.edit_text_by_id(
            event.bot, event.chat.id, form_msg, text, markup
        ):
            return
    if isinstance(event, CallbackQuery) and isinstance(event.message, Message):
        await _became_form_message(event, state, event.message)
    previous = (await state.get_data()).get("form_msg")
    if isinstance(event, Message) and isinstance(previous, int) and event.bot is not None:
        # A typed answer: the new form message and the old one's buttons gone, side by side.
        try:
            shown, _gone = await replies.together(
                replies.show(event, text, markup),
                replies.edit_markup_by_id(event.bot, event.chat.id, previous),
            )
        except TelegramAPIError:
            # The new form message may not have arrived while the old one lost its buttons:
            # the old one shows this step instead, so the form goes on from there.
            # If that fails too, its error goes to the error router instead: the same notice.
            await replies.edit_text_by_id(event.bot, event.chat.id, previous, text, markup)
            raise  # the error router tells the user the answer did not arrive
        if shown is not None and shown.message_id != previous:
            await state.update_data(form_msg=shown.message_id)
        return
    shown = await replies.show(event, text, markup)
    if shown is not None:
        await _became_form_message(event, state, shown)


async def _became_form_message(
    event: Message | CallbackQuery, state: FSMContext, message: Message
) -> None:
    previous = (await state.get_data()).get("form_msg")
    if previous == message.message_id:
        return
    await state.update_data(form_msg=message.message_id)
    if isinstance(previous, int) and event.bot is not None:
        await replies.edit_markup_by_id(event.bot, message.chat.id, previous)


# --- the screens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What a screen is drawn from."""

    draft: Draft
    data: dict[str, Any]  # the FSM data
    session: AsyncSession
    settings: Settings


Screen = tuple[str, InlineKeyboardMarkup]


async def _activity(step: Step) -> Screen:
    draft, data, now = step.draft, step.data, formatting.today(step.settings)
    page, search = int(data.get("page", 0)), data.get("search")
    items, total = await roadmap_choices(
        step.session,
        draft.school_id,
        today=now,
        search=search,
        offset=page * kb.ITEMS_PER_PAGE,
        limit=kb.ITEMS_PER_PAGE,
    )
    if search:
        text = _("Search «{query}»: found {count}. Choose the activity:").format(
            query=escape(search), count=total
        )
    elif total:
        text = _(
            "Which activity of the roadmap is this? Overdue and due-soon ones come first. "
            "To search, type words from its title. Not in the roadmap: «Other activity»."
        )
    else:
        text = _(
            "The school's roadmap has no activities yet. Choose «Other activity» and name it."
        )
    markup = kb.activity_list(
        items,
        page=page,
        total=total,
        today=now,
        searching=bool(search),
        form=draft.form,
    )
    return text, markup


async def _other_direction(step: Step) -> Screen:
    return _("Which direction does the activity belong to?"), kb.directions(step.draft.form)


async def _other_title(step: Step) -> Screen:
    text = (
        _("Write the form and topic of the activity, e.g. «Классный час „Герои России“».")
        + "\n"
        + _("At most {max} characters.").format(max=MAX_TITLE)
    )
    return text, kb.back_cancel(step.draft.form)


async def _mark(step: Step) -> Screen:
    title = escape(trim(step.draft.title, 300))
    return _("<b>{title}</b>\n\nCompletion mark:").format(title=title), kb.marks(step.draft.form)


async def _description(step: Step) -> Screen:
    draft = step.draft
    text = _(
        "What was done? Briefly, in your own words. Links written in the text are attached "
        "as evidence. At most {max} characters."
    ).format(max=MAX_DESCRIPTION)
    if draft.description:
        text += "\n\n" + _("Now: {value}").format(value=escape(trim(draft.description, 500)))
    return text, kb.back_cancel(draft.form)


async def _evidence(step: Step) -> Screen:
    draft = step.draft
    return evidence_prompt(draft), kb.evidence(bool(draft.links or draft.files), draft.form)


async def _summary(step: Step) -> Screen:
    draft = step.draft
    organizer = await school_name(step.session, draft.school_id)
    text = card(draft, today=formatting.today(step.settings), default_organizer=organizer)
    comment = step.data.get("review_comment")
    if isinstance(comment, str) and comment:
        # Fixing a returned report: what the curator asked for stays in sight.
        text = (
            _("↩ The curator's comment: {comment}").format(comment=escape(trim(comment, 500)))
            + "\n\n"
            + text
        )
    return text, kb.summary(editing=draft.report_id is not None, form=draft.form)


async def _edit_field(step: Step) -> Screen:
    return _("What do you want to change?"), kb.fields(step.draft.form)


async def _edit_date(step: Step) -> Screen:
    return (
        _("When was it held? Write the date as dd.mm.yyyy or use the buttons."),
        kb.dates(step.draft.form),
    )


async def _edit_participants(step: Step) -> Screen:
    return (
        _("How many took part and who? E.g. «78 обучающихся 3-х классов». Send «-» for none."),
        kb.with_default(_("No participants"), "no_participants", step.draft.form),
    )


async def _edit_organizer(step: Step) -> Screen:
    return (
        _("Who organized it? By default, the school."),
        kb.with_default(_("The school"), "school_organizer", step.draft.form),
    )


# The one place that knows what each step shows (the «resume» question is report_start's).
SCREENS: dict[str | None, Callable[[Step], Awaitable[Screen]]] = {
    ReportForm.activity.state: _activity,
    ReportForm.other_direction.state: _other_direction,
    ReportForm.other_title.state: _other_title,
    ReportForm.mark.state: _mark,
    ReportForm.description.state: _description,
    ReportForm.evidence.state: _evidence,
    ReportForm.summary.state: _summary,
    ReportForm.edit_field.state: _edit_field,
    ReportForm.edit_date.state: _edit_date,
    ReportForm.edit_participants.state: _edit_participants,
    ReportForm.edit_organizer.state: _edit_organizer,
}
STATES = {step.state: step for step in ReportForm.__states__ if step.state in SCREENS}


async def show_step(
    step: State,
    event: Message | CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    """Switch to a step and draw it."""
    previous = await state.get_state()
    await state.set_state(step)
    screen = SCREENS[step.state]
    text, markup = await screen(Step(draft, await state.get_data(), session, settings))
    # Links and files sent at the evidence step update the one prompt instead of repeating it.
    in_place = step == ReportForm.evidence and previous == step.state
    await show(event, progress(step.state) + text, markup, state, in_place=in_place)


async def save_and_show(
    step: State,
    event: Message | CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    **extra: Any,
) -> None:
    """Keep the changed draft (and `extra` FSM data), then switch to a step and draw it."""
    await save_draft(state, draft, **extra)
    await show_step(step, event, state, session, settings, draft)


async def show_card_in_place(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    """Redraw the card shown as the form message (after an edited answer)."""
    text, markup = await _summary(Step(draft, await state.get_data(), session, settings))
    await show(message, text, markup, state, in_place=True)


# --- texts ---------------------------------------------------------------------------------


def evidence_prompt(draft: Draft) -> str:
    text = _(
        "Evidence: send links to published materials (https://…) and/or documents and photos. "
        "When everything is attached, press «Done»."
    )
    if draft.links or draft.files:
        text += "\n\n" + _("Attached: links {links}, files {files}.").format(
            links=len(draft.links), files=len(draft.files)
        )
    return text


def _date_line(draft: Draft, today: date) -> str:
    """Right under the title and in bold: last week's event must not go out dated today."""
    held = day(draft.held_date(today))
    if draft.held_on is None:
        return _(
            "📅 <b>Date: today, {date}</b> — if it was held earlier, press «✏ Change»."
        ).format(date=held)
    return _("📅 <b>Date: {date}</b>").format(date=held)


def card(draft: Draft, *, today: date, default_organizer: str) -> str:
    if draft.participants_count is not None or draft.participants_category:
        participants = " ".join(
            p
            for p in (str(draft.participants_count or ""), draft.participants_category or "")
            if p
        )
    else:
        participants = _("not given")
    lines = [
        _("<b>Check the report</b>")
        if draft.report_id is None
        else _("<b>Report №{id}: check the changes</b>").format(id=draft.report_id),
        _date_line(draft, today),
        _("Activity: {value}").format(value=escape(trim(draft.title, 300))),
        _("Direction: {value}").format(value=direction_name(draft.direction)),
        _("Completion mark: {value}").format(value=mark_name(draft.mark)),
        _("What was done: {value}").format(value=escape(trim(draft.description, MAX_DESCRIPTION))),
        _("Participants: {value}").format(value=escape(participants)),
        _("Organizer: {value}").format(value=escape(draft.organizer or default_organizer)),
        _("Evidence: links {links}, files {files}").format(
            links=len(draft.links), files=len(draft.files)
        ),
    ]
    lines += [f"• {escape(trim(link, 80))}" for link in draft.links[:5]]
    if len(draft.links) > 5:
        lines.append("• …")
    for item in draft.files[:5]:
        lines.append("• " + escape(trim(item.get("name") or _("photo"), 60)))
    return formatting.fit(lines)
