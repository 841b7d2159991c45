"""/report: starting or resuming the form, and its four steps (activity, mark, description,
evidence). Step handlers get the draft from the HasDraft filter (draft.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.callbacks import (
    FormAction,
    ReportDirection,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.formatting import moment, trim
from bot.ui.keyboards import report as kb
from bot.ui.states import ReportForm
from handlers.report.card import (
    STATES,
    evidence_prompt,
    hint,
    progress,
    save_and_show,
    show,
    show_step,
)
from handlers.report.draft import album_count, load_draft, remember_answer, save_draft
from handlers.report.evidence import (
    album_note,
    evidence_rejection,
    file_of,
    note_links_elsewhere,
    too_big_note,
)
from models import User
from models.errors import InvalidInput
from models.evidence import links_in_text, parse_links_message
from models.reports import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Draft,
    clean_text,
    roadmap_item_for,
    staff_school_id,
)

# --- start, resume -------------------------------------------------------------------------


async def report_start(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    staff_school_id(user)
    current = await state.get_state()
    draft = await load_draft(state)
    if current and current.startswith("ReportForm") and draft is not None:
        if current != ReportForm.resume.state:
            await state.update_data(step=current)
        await state.set_state(ReportForm.resume)
        touched = (await state.get_data()).get("touched")
        when = moment(datetime.fromisoformat(touched), settings) if touched else "—"
        await message.answer(
            _("You have an unsent report draft (last change {when}).").format(when=when),
            reply_markup=kb.resume(draft.form),
        )
        return
    await _begin(message, state, user, session, settings)


async def _begin(
    event: Message | CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = Draft(key=uuid.uuid4().hex, school_id=staff_school_id(user))
    await state.set_data({})
    await save_and_show(
        ReportForm.activity, event, state, session, settings, draft, page=0, search=None
    )


async def resume_choice(
    query: CallbackQuery,
    callback_data: ReportNav,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await load_draft(state)
    if callback_data.action == FormAction.RESTART or draft is None:
        await _begin(query, state, user, session, settings)
        return
    step = STATES.get((await state.get_data()).get("step") or "", ReportForm.activity)
    await show_step(step, query, state, session, settings, draft)


async def after_step(
    event: Message | CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    next_step: State,
) -> None:
    """Go on to the next step, or back to the card when the user came from «Изменить»."""
    if (await state.get_data()).get("reached_summary"):
        next_step = ReportForm.summary
    await save_and_show(next_step, event, state, session, settings, draft)


# --- step 1: the activity ------------------------------------------------------------------


async def activity_page(
    query: CallbackQuery,
    callback_data: ReportPage,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    await state.update_data(page=callback_data.page)
    await show_step(ReportForm.activity, query, state, session, settings, draft)


async def activity_search(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    query = " ".join((message.text or "").split())[:100]
    await state.update_data(search=query or None, page=0)
    await show_step(ReportForm.activity, message, state, session, settings, draft)


async def activity_chosen(
    query: CallbackQuery,
    callback_data: ReportItem,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    if callback_data.item_id == 0:
        await save_and_show(ReportForm.other_direction, query, state, session, settings, draft)
        return
    # The id came from a button: it must be an item of this draft's school.
    item = await roadmap_item_for(session, draft.school_id, callback_data.item_id)
    draft.item_id, draft.title, draft.direction = item.id, item.title, item.direction
    await after_step(query, state, session, settings, draft, ReportForm.mark)


async def other_direction(
    query: CallbackQuery,
    callback_data: ReportDirection,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    draft.direction = callback_data.code.value
    await save_and_show(ReportForm.other_title, query, state, session, settings, draft)


async def other_title(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    try:
        set_title(draft, message.text or "", settings)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    draft.item_id = None
    await remember_answer(state, "title", message)
    await after_step(message, state, session, settings, draft, ReportForm.mark)


def set_title(draft: Draft, text: str, settings: Settings) -> None:
    draft.title = clean_text(text, limit=MAX_TITLE)


# --- steps 2 and 3: the mark, what was done --------------------------------------------------


async def mark_chosen(
    query: CallbackQuery,
    callback_data: ReportMark,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    draft.mark = callback_data.mark.value
    await after_step(query, state, session, settings, draft, ReportForm.description)


async def description_given(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    try:
        found = set_description(draft, message.text or "", settings)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    await remember_answer(state, "description", message)
    await note_links_elsewhere(
        message, session, draft.school_id, found, exclude_report=draft.report_id
    )
    if draft.links and not (await state.get_data()).get("reached_summary"):
        # A link in the text is the typical evidence: straight to the card, one action saved.
        await save_and_show(
            ReportForm.summary, message, state, session, settings, draft, reached_summary=True
        )
        return
    await after_step(message, state, session, settings, draft, ReportForm.evidence)


def set_description(draft: Draft, text: str, settings: Settings) -> list[str]:
    """The text, and the links written in it as evidence; returns those links."""
    draft.description = clean_text(text, limit=MAX_DESCRIPTION)
    found = links_in_text(draft.description)
    draft.add_links(found)
    return found


# --- step 4: evidence ------------------------------------------------------------------------


async def evidence_links(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    links, rejected = parse_links_message(message.text or "")
    try:
        added = draft.add_links(links)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    if rejected and not links:
        await message.answer(evidence_rejection(rejected[0]))
        return
    await save_draft(state, draft)
    if rejected:
        await message.answer(
            _("Attached {count}; not links, skipped: {items}").format(
                count=len(added), items=escape(trim(", ".join(rejected), 200))
            )
        )
    await note_links_elsewhere(
        message, session, draft.school_id, added, exclude_report=draft.report_id
    )
    await show_step(ReportForm.evidence, message, state, session, settings, draft)


async def evidence_file(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings, draft: Draft
) -> None:
    item = file_of(message)
    if item is None:
        return
    try:
        draft.add_file(**item)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    album = message.media_group_id
    count = await album_count(state, album) if album is not None else 0
    await save_draft(state, draft, **({"album": {"id": album, "count": count}} if album else {}))
    if (
        draft.files
        and draft.files[-1]["unique_id"] == item["unique_id"]
        and draft.files[-1]["too_big"]
    ):
        await message.answer(too_big_note())
    if album is None:
        await show_step(ReportForm.evidence, message, state, session, settings, draft)
        return
    # An album comes as one update per file: one confirmation below it, counting them.
    await show(
        message,
        album_note(count) + "\n\n" + progress(ReportForm.evidence.state) + evidence_prompt(draft),
        kb.evidence(True, draft.form),
        state,
        in_place=count > 1,
    )


async def evidence_done(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    await save_and_show(
        ReportForm.summary, query, state, session, settings, draft, reached_summary=True
    )
