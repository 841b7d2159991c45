"""The summary card of /report: sending, «✏ Change» and its fields, edited answers, «◀ Back»,
and the fallbacks that explain each step's expected input and keep the draft."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting, replies
from bot.ui.callbacks import FormAction, FormField, ReportDate, ReportField, ReportNav
from bot.ui.keyboards import report as kb
from bot.ui.states import ReportForm
from handlers.fallback import edit_not_taken
from handlers.report.card import hint, save_and_show, show_card_in_place, show_step
from handlers.report.draft import remember_answer, save_draft
from handlers.report.form import set_description, set_title
from models import User
from models.errors import InvalidInput
from models.reports import (
    MAX_SHORT_TEXT,
    Draft,
    clean_text,
    parse_held_on,
    parse_participants,
    save_edited,
    school_name,
    submit_draft,
)


async def submit(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    organizer = await school_name(session, draft.school_id)
    today = formatting.today(settings)
    try:
        if draft.report_id is None:
            report, created = await submit_draft(
                session, user, draft, today=today, default_organizer=organizer
            )
        else:
            report = await save_edited(
                session, user, draft, today=today, default_organizer=organizer
            )
            created = True
    except InvalidInput as error:
        await query.answer(hint(error), show_alert=True)
        return
    was_returned = bool((await state.get_data()).get("review_comment"))
    await state.clear()
    if draft.report_id is not None and was_returned:
        text = _("💾 Report №{id} is saved and sent back to the curator for review.").format(
            id=report.id
        )
    elif draft.report_id is not None:
        text = _("💾 Report №{id} is saved.").format(id=report.id)
    elif created:
        text = _("✅ Report №{id} is sent. The curator will review it.").format(id=report.id)
    else:
        text = _("Report №{id} was already sent.").format(id=report.id)
    # The card stays as the record of what was sent, without its buttons; the confirmation
    # brings the menu for what comes next (one message, not a separate «Что дальше?»).
    if isinstance(query.message, Message):
        await replies.together(
            replies.edit_markup(query.message, None),
            query.message.answer(
                text
                + "\n"
                + _("What next? The menu below: report another activity or see yours."),
                reply_markup=kb.main_menu(),
            ),
        )


# --- «✏ Change» ------------------------------------------------------------------------------


async def edit_menu(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    await show_step(ReportForm.edit_field, query, state, session, settings, draft)


FIELD_STEPS = {
    FormField.ACTIVITY: ReportForm.activity,
    FormField.DATE: ReportForm.edit_date,
    FormField.MARK: ReportForm.mark,
    FormField.DESCRIPTION: ReportForm.description,
    FormField.PARTICIPANTS: ReportForm.edit_participants,
    FormField.ORGANIZER: ReportForm.edit_organizer,
    FormField.EVIDENCE: ReportForm.evidence,
}


async def field_chosen(
    query: CallbackQuery,
    callback_data: ReportField,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    await state.update_data(page=0, search=None)
    await show_step(FIELD_STEPS[callback_data.name], query, state, session, settings, draft)


async def date_button(
    query: CallbackQuery,
    callback_data: ReportDate,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    held = formatting.today(settings) - timedelta(days=callback_data.days_ago)
    draft.held_on = held.isoformat()
    await save_and_show(ReportForm.summary, query, state, session, settings, draft)


async def default_value(
    query: CallbackQuery,
    callback_data: ReportNav,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    if callback_data.action == FormAction.NO_PARTICIPANTS:
        draft.participants_count = draft.participants_category = None
    else:
        draft.organizer = None
    await save_and_show(ReportForm.summary, query, state, session, settings, draft)


def _set_date(draft: Draft, text: str, settings: Settings) -> None:
    draft.held_on = parse_held_on(text, today=formatting.today(settings)).isoformat()


def _set_participants(draft: Draft, text: str, settings: Settings) -> None:
    draft.participants_count, draft.participants_category = parse_participants(text)


def _set_organizer(draft: Draft, text: str, settings: Settings) -> None:
    text = text.strip()
    draft.organizer = None if text in {"-", "—"} else clean_text(text, limit=MAX_SHORT_TEXT)


# The card's fields typed from «Изменить», by the step that asks for them.
TYPED_FIELDS = {
    ReportForm.edit_date.state: "date",
    ReportForm.edit_participants.state: "participants",
    ReportForm.edit_organizer.state: "organizer",
}
# Typed answers: each parses the text into the draft or raises; an edit of one goes here too.
EDITABLE: dict[str, Callable[[Draft, str, Settings], object]] = {
    "title": set_title,
    "description": set_description,
    "date": _set_date,
    "participants": _set_participants,
    "organizer": _set_organizer,
}


async def field_typed(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    field = TYPED_FIELDS[await state.get_state() or ""]
    try:
        EDITABLE[field](draft, message.text or "", settings)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    await remember_answer(state, field, message)
    await save_and_show(ReportForm.summary, message, state, session, settings, draft)


async def answer_edited(
    message: Message,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    """An edited answer of this form updates the draft (and the card, if it is shown)."""
    answers = (await state.get_data()).get("answers")
    field = next(
        (f for f, m in (answers or {}).items() if m == message.message_id),
        None,
    )
    if (
        field not in EDITABLE
        or message.text is None
        or (field == "title" and draft.item_id is not None)  # a roadmap item was chosen since
    ):
        await edit_not_taken(message, user)
        return
    try:
        EDITABLE[field](draft, message.text, settings)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    await save_draft(state, draft)
    if await state.get_state() == ReportForm.summary.state:
        await show_card_in_place(message, state, session, settings, draft)
        return
    name = kb.field_names()["activity" if field == "title" else field]
    await message.answer(_("✏ Your edit is taken: «{field}» is updated.").format(field=name))


# --- «◀ Back» ------------------------------------------------------------------------------

BACK = {
    ReportForm.other_direction.state: ReportForm.activity,
    ReportForm.other_title.state: ReportForm.other_direction,
    ReportForm.description.state: ReportForm.mark,
    ReportForm.evidence.state: ReportForm.description,
    ReportForm.summary.state: ReportForm.evidence,
    ReportForm.edit_field.state: ReportForm.summary,
    ReportForm.edit_date.state: ReportForm.edit_field,
    ReportForm.edit_participants.state: ReportForm.edit_field,
    ReportForm.edit_organizer.state: ReportForm.edit_field,
}
# From «Изменить», the steps of the first pass lead back to the card, not to the one before.
FIRST_PASS = (
    ReportForm.activity,
    ReportForm.other_direction,
    ReportForm.other_title,
    ReportForm.mark,
    ReportForm.description,
)
BACK_TO_CARD_FROM = (
    ReportForm.mark.state,
    ReportForm.description.state,
    ReportForm.evidence.state,
)


async def back(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    current = await state.get_state() or ""
    data = await state.get_data()
    target: State
    if current == ReportForm.activity.state:
        # «Назад» on the first step clears the search (or, from «Изменить», returns to the card).
        if data.get("search"):
            await state.update_data(search=None, page=0)
            target = ReportForm.activity
        else:
            target = ReportForm.summary if data.get("reached_summary") else ReportForm.activity
    elif current == ReportForm.mark.state:
        target = ReportForm.other_title if draft.item_id is None else ReportForm.activity
    else:
        target = BACK.get(current, ReportForm.summary)
    if data.get("reached_summary") and target in FIRST_PASS and current in BACK_TO_CARD_FROM:
        target = ReportForm.summary
    await show_step(target, query, state, session, settings, draft)


# --- fallbacks: wrong kind of input, the draft stays -----------------------------------------


async def fallback_activity(message: Message) -> None:
    await message.answer(
        _(
            "Choose the activity with a button above, or type words from its title to search. "
            "The draft is kept; /cancel drops it."
        )
    )


async def fallback_text_expected(message: Message) -> None:
    await message.answer(_("Please answer with text. The draft is kept; /cancel drops it."))


async def fallback_buttons_expected(message: Message) -> None:
    await message.answer(_("Please use the buttons above. The draft is kept; /cancel drops it."))


async def fallback_evidence(message: Message) -> None:
    await message.answer(
        _(
            "Here I accept links (https://…), documents and photos. Voice messages, stickers "
            "and the like can't be evidence. The draft is kept."
        )
    )


async def fallback_summary(message: Message) -> None:
    await message.answer(
        _("The report is ready: press «Send» on the card above, or «Change». The draft is kept.")
    )
