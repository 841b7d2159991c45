"""Activity reporting from a phone: /report, the summary card, evidence, /my and /evidence.

The draft lives in the FSM data, which the database storage keeps across restarts. Every step
has a validating handler and a fallback that explains what is expected and keeps the draft.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies as edits
from bot.ui.access import SCHOOL_STAFF, allow
from bot.ui.callbacks import (
    FormField,
    MyPage,
    MyReport,
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.keyboards import report as kb
from bot.ui.states import EvidenceForm, ReportForm
from bot.ui.texts import direction_name, input_problem, mark_name, review_state_name
from handlers.fallback import edit_not_taken
from models import ActivityReport, EvidenceKind, ReviewState, User
from models.base import utcnow
from models.errors import InvalidInput
from models.evidence import links_in_text, parse_links_message
from models.reports import (
    MAX_DESCRIPTION,
    MAX_SHORT_TEXT,
    MAX_TITLE,
    Draft,
    add_evidence,
    clean_text,
    delete_report,
    draft_from_report,
    linked_elsewhere,
    parse_held_on,
    parse_participants,
    recent_reports,
    report_for_change,
    roadmap_choices,
    roadmap_item_for,
    save_edited,
    school_name,
    staff_school_id,
    submit_draft,
)

logger = logging.getLogger(__name__)
STAFF = allow(SCHOOL_STAFF)
STEPS = 4
STEP_OF = {
    ReportForm.activity.state: 1,
    ReportForm.other_direction.state: 1,
    ReportForm.other_title.state: 1,
    ReportForm.mark.state: 2,
    ReportForm.description.state: 3,
    ReportForm.evidence.state: 4,
}


def _today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


# --- draft in the FSM data -----------------------------------------------------------------


async def _draft(state: FSMContext) -> Draft | None:
    data = await state.get_data()
    raw = data.get("draft")
    return Draft.from_dict(raw) if isinstance(raw, dict) else None


async def _require_draft(event: Message | CallbackQuery, state: FSMContext) -> Draft | None:
    """The draft of this form; if it is gone (an old form), say so and leave the form."""
    draft = await _draft(state)
    if draft is not None:
        return draft
    await state.clear()
    text = _("This form is no longer active. Start again: /report")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    else:
        await event.answer(text)
    return None


async def _save(state: FSMContext, draft: Draft, **extra: Any) -> None:
    await state.update_data(draft=draft.to_dict(), touched=utcnow().isoformat(), **extra)


async def _show(
    event: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    state: FSMContext | None = None,
    *,
    in_place: bool = False,
) -> None:
    """Edit the form message in place after a button; after a typed message, send a new one
    (`in_place`: edit the form message kept in the FSM data, if Telegram still lets us).

    With `state`, the form message's id is kept in the FSM data, and a new form message takes
    the buttons away from the previous one, whose buttons would only lead back into this form.
    A button's message id is known before the reply, so it is written with the step; a new
    message's id only after it: that costs a second short transaction, on typed answers only.
    """
    if isinstance(event, CallbackQuery):
        if not isinstance(event.message, Message):
            await event.answer()
            return
        if state is not None:
            await _became_form_message(event, state, event.message.message_id)
        await event.answer()
        if await edits.edit_text(event.message, text, markup):
            return
        # Too old or deleted to edit: send a fresh message.
        sent = await event.message.answer(text, reply_markup=markup)
    else:
        form_msg = (await state.get_data()).get("form_msg") if state is not None else None
        if in_place and isinstance(form_msg, int) and event.bot is not None:
            if await edits.edit_text_by_id(event.bot, event.chat.id, form_msg, text, markup):
                return
        sent = await event.answer(text, reply_markup=markup)
    if state is not None:
        await _became_form_message(event, state, sent.message_id)


async def _became_form_message(
    event: Message | CallbackQuery, state: FSMContext, message_id: int
) -> None:
    previous = (await state.get_data()).get("form_msg")
    if previous == message_id:
        return
    await state.update_data(form_msg=message_id)
    if isinstance(previous, int) and event.bot is not None:
        chat = event.chat.id if isinstance(event, Message) else _chat_of(event)
        if chat is not None:
            await edits.edit_markup_by_id(event.bot, chat, previous)


def _chat_of(query: CallbackQuery) -> int | None:
    return query.message.chat.id if query.message is not None else None


def _progress(step_state: str | None) -> str:
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


def _hint(error: InvalidInput) -> str:
    return input_problem(error.code, dict(error.params))


# --- screens -------------------------------------------------------------------------------


async def _screen(
    step: State,
    event: Message | CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
) -> None:
    """Switch to a step and draw it: the one place that knows what each step shows."""
    previous = await state.get_state()
    await state.set_state(step)
    data = await state.get_data()
    head = _progress(step.state)
    if step == ReportForm.activity:
        page, search = int(data.get("page", 0)), data.get("search")
        items, total = await roadmap_choices(
            session,
            draft.school_id,
            today=_today(settings),
            search=search,
            offset=page * kb.ITEMS_PER_PAGE,
            limit=kb.ITEMS_PER_PAGE,
        )
        if search:
            text = head + _("Search «{query}»: found {count}. Choose the activity:").format(
                query=escape(search), count=total
            )
        elif total:
            text = head + _(
                "Which activity of the roadmap is this? Overdue and due-soon ones come first. "
                "To search, type words from its title. Not in the roadmap: «Other activity»."
            )
        else:
            text = head + _(
                "The school's roadmap has no activities yet. Choose «Other activity» and name it."
            )
        markup = kb.activity_list(
            items,
            page=page,
            total=total,
            today=_today(settings),
            searching=bool(search),
            form=draft.form,
        )
        await _show(event, text, markup, state)
    elif step == ReportForm.other_direction:
        await _show(
            event,
            head + _("Which direction does the activity belong to?"),
            kb.directions(draft.form),
            state,
        )
    elif step == ReportForm.other_title:
        await _show(
            event,
            head
            + _("Write the form and topic of the activity, e.g. «Классный час „Герои России“».")
            + "\n"
            + _("At most {max} characters.").format(max=MAX_TITLE),
            kb.back_cancel(draft.form),
            state,
        )
    elif step == ReportForm.mark:
        await _show(
            event,
            head
            + _("<b>{title}</b>\n\nCompletion mark:").format(
                title=escape(_trim(draft.title, 300))
            ),
            kb.marks(draft.form),
            state,
        )
    elif step == ReportForm.description:
        text = head + _(
            "What was done? Briefly, in your own words. Links written in the text are attached "
            "as evidence. At most {max} characters."
        ).format(max=MAX_DESCRIPTION)
        if draft.description:
            text += "\n\n" + _("Now: {value}").format(value=escape(_trim(draft.description, 500)))
        await _show(event, text, kb.back_cancel(draft.form), state)
    elif step == ReportForm.evidence:
        # Links and files sent at this step update the one prompt instead of repeating it.
        await _show(
            event,
            head + _evidence_prompt(draft),
            kb.evidence(bool(draft.links or draft.files), draft.form),
            state,
            in_place=previous == step.state,
        )
    elif step == ReportForm.summary:
        organizer = await school_name(session, draft.school_id)
        await _show(
            event,
            _card(draft, today=_today(settings), default_organizer=organizer),
            kb.summary(editing=draft.report_id is not None, form=draft.form),
            state,
        )
    elif step == ReportForm.edit_field:
        await _show(event, _("What do you want to change?"), kb.fields(draft.form), state)
    elif step == ReportForm.edit_date:
        await _show(
            event,
            _("When was it held? Write the date as dd.mm.yyyy or use the buttons."),
            kb.dates(draft.form),
            state,
        )
    elif step == ReportForm.edit_participants:
        await _show(
            event,
            _("How many took part and who? E.g. «78 обучающихся 3-х классов». Send «-» for none."),
            kb.with_default(_("No participants"), "no_participants", draft.form),
            state,
        )
    elif step == ReportForm.edit_organizer:
        await _show(
            event,
            _("Who organized it? By default, the school."),
            kb.with_default(_("The school"), "school_organizer", draft.form),
            state,
        )


def _trim(text: str | None, limit: int) -> str:
    value = text or ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _evidence_prompt(draft: Draft) -> str:
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
    held = draft.held_date(today).strftime("%d.%m.%Y")
    if draft.held_on is None:
        return _(
            "📅 <b>Date: today, {date}</b> — if it was held earlier, press «✏ Change»."
        ).format(date=held)
    return _("📅 <b>Date: {date}</b>").format(date=held)


def _card(draft: Draft, *, today: date, default_organizer: str) -> str:
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
        _("Activity: {value}").format(value=escape(_trim(draft.title, 300))),
        _("Direction: {value}").format(value=direction_name(draft.direction)),
        _("Completion mark: {value}").format(value=mark_name(draft.mark)),
        _("What was done: {value}").format(
            value=escape(_trim(draft.description, MAX_DESCRIPTION))
        ),
        _("Participants: {value}").format(value=escape(participants)),
        _("Organizer: {value}").format(value=escape(draft.organizer or default_organizer)),
        _("Evidence: links {links}, files {files}").format(
            links=len(draft.links), files=len(draft.files)
        ),
    ]
    lines += [f"• {escape(_trim(link, 80))}" for link in draft.links[:5]]
    if len(draft.links) > 5:
        lines.append("• …")
    for item in draft.files[:5]:
        lines.append("• " + escape(_trim(item.get("name") or _("photo"), 60)))
    return "\n".join(lines)


async def _after_step(
    event: Message | CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    next_step: State,
) -> None:
    """Go on to the next step, or back to the card when the user came from «Изменить»."""
    data = await state.get_data()
    if data.get("reached_summary"):
        next_step = ReportForm.summary
    await _save(state, draft)
    await _screen(next_step, event, state, session, settings, draft)


# --- buttons of an earlier form --------------------------------------------------------------

FORM_BUTTONS: tuple[type[CallbackData], ...] = (
    ReportItem,
    ReportPage,
    ReportDirection,
    ReportDate,
    ReportMark,
    ReportNav,
    ReportField,
)


def button_form(data: str | None) -> str:
    """The form id a report form's button carries; "" for any other button."""
    prefix = (data or "").split(":", 1)[0]
    for button in FORM_BUTTONS:
        if button.__prefix__ == prefix:
            try:
                return str(getattr(button.unpack(data or ""), "form", ""))
            except (TypeError, ValueError):
                return ""
    return ""


async def of_an_earlier_form(query: CallbackQuery, state: FSMContext) -> bool:
    """A filter: the button carries a form id, and a different form is now in progress."""
    form = button_form(query.data)
    if not form:
        return False
    draft = await _draft(state)
    return draft is not None and draft.form != form


async def earlier_form_button(query: CallbackQuery) -> None:
    # The current draft stays as it is; the old message only loses its buttons.
    await query.answer(
        _("This button belongs to an earlier form; the one in progress is kept as it is."),
        show_alert=True,
    )
    if isinstance(query.message, Message):
        await edits.edit_markup(query.message, None)


# --- start, resume -------------------------------------------------------------------------


async def report_start(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    staff_school_id(user)
    current = await state.get_state()
    draft = await _draft(state)
    if current and current.startswith("ReportForm") and draft is not None:
        if current != ReportForm.resume.state:
            await state.update_data(step=current)
        await state.set_state(ReportForm.resume)
        data = await state.get_data()
        touched = data.get("touched")
        when = (
            datetime.fromisoformat(touched).astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
            if touched
            else "—"
        )
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
    await _save(state, draft, page=0, search=None)
    await _screen(ReportForm.activity, event, state, session, settings, draft)


async def resume_choice(
    query: CallbackQuery,
    callback_data: ReportNav,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _draft(state)
    if callback_data.action == "restart" or draft is None:
        await _begin(query, state, user, session, settings)
        return
    data = await state.get_data()
    step_name = data.get("step") or ReportForm.activity.state
    step = next((s for s in ReportForm.__states__ if s.state == step_name), ReportForm.activity)
    await _screen(step, query, state, session, settings, draft)


# --- step 1: the activity ------------------------------------------------------------------


async def activity_page(
    query: CallbackQuery,
    callback_data: ReportPage,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    await state.update_data(page=max(0, callback_data.page))
    await _screen(ReportForm.activity, query, state, session, settings, draft)


async def activity_search(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    if draft is None:
        return
    query = " ".join((message.text or "").split())[:100]
    await state.update_data(search=query or None, page=0)
    await _screen(ReportForm.activity, message, state, session, settings, draft)


async def activity_chosen(
    query: CallbackQuery,
    callback_data: ReportItem,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    if callback_data.item_id == 0:
        await _save(state, draft)
        await _screen(ReportForm.other_direction, query, state, session, settings, draft)
        return
    # The id came from a button: it must be an item of this draft's school.
    item = await roadmap_item_for(session, draft.school_id, callback_data.item_id)
    draft.item_id, draft.title, draft.direction = item.id, item.title, item.direction
    await _after_step(query, state, session, settings, draft, ReportForm.mark)


async def other_direction(
    query: CallbackQuery,
    callback_data: ReportDirection,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    draft.direction = callback_data.code.value
    await _save(state, draft)
    await _screen(ReportForm.other_title, query, state, session, settings, draft)


async def other_title(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    if draft is None:
        return
    try:
        title = clean_text(message.text, limit=MAX_TITLE)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    draft.item_id, draft.title = None, title
    await _remember_answer(state, "title", message)
    await _after_step(message, state, session, settings, draft, ReportForm.mark)


# --- steps 2-4 ------------------------------------------------------------------------------


async def mark_chosen(
    query: CallbackQuery,
    callback_data: ReportMark,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _draft(state)
    if draft is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    draft.mark = callback_data.mark.value
    await _after_step(query, state, session, settings, draft, ReportForm.description)


async def description_given(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    if draft is None:
        return
    try:
        found = _set_description(draft, message.text or "", settings)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    await _remember_answer(state, "description", message)
    await _note_links_elsewhere(message, session, draft, found)
    data = await state.get_data()
    if draft.links and not data.get("reached_summary"):
        # A link in the text is the typical evidence: straight to the card, one action saved.
        await _save(state, draft, reached_summary=True)
        await _screen(ReportForm.summary, message, state, session, settings, draft)
        return
    await _after_step(message, state, session, settings, draft, ReportForm.evidence)


async def _note_links_elsewhere(
    message: Message, session: AsyncSession, draft: Draft, links: list[str]
) -> None:
    elsewhere = await linked_elsewhere(
        session, draft.school_id, links, exclude_report=draft.report_id
    )
    for link, (report_id, title, held_on) in elsewhere.items():
        await message.answer(
            _("Note: {link} is already attached to report №{id} «{title}» of {date}.").format(
                link=escape(_trim(link, 100)),
                id=report_id,
                title=escape(_trim(title, 100)),
                date=held_on.strftime("%d.%m.%Y"),
            )
        )


async def evidence_links(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    if draft is None:
        return
    links, rejected = parse_links_message(message.text or "")
    try:
        added = draft.add_links(links)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    if rejected and not links:
        await message.answer(_evidence_rejection(rejected[0]))
        return
    await _save(state, draft)
    if rejected:
        await message.answer(
            _("Attached {count}; not links, skipped: {items}").format(
                count=len(added), items=escape(_trim(", ".join(rejected), 200))
            )
        )
    await _note_links_elsewhere(message, session, draft, added)
    await _screen(ReportForm.evidence, message, state, session, settings, draft)


def _evidence_rejection(piece: str) -> str:
    from models.evidence import normalize_link

    try:
        normalize_link(piece)
    except InvalidInput as error:
        return _hint(error)
    return _hint(InvalidInput("link_not_url"))


def _file_of(message: Message) -> dict[str, Any] | None:
    if message.document is not None:
        doc = message.document
        return {
            "kind": EvidenceKind.DOCUMENT.value,
            "file_id": doc.file_id,
            "unique_id": doc.file_unique_id,
            "name": doc.file_name,
            "size": doc.file_size,
            "mime": doc.mime_type,
        }
    if message.photo:
        photo = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        return {
            "kind": EvidenceKind.PHOTO.value,
            "file_id": photo.file_id,
            "unique_id": photo.file_unique_id,
            "name": None,
            "size": photo.file_size,
            "mime": "image/jpeg",
        }
    return None


async def evidence_file(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    item = _file_of(message)
    if draft is None or item is None:
        return
    try:
        draft.add_file(
            kind=item["kind"],
            file_id=item["file_id"],
            unique_id=item["unique_id"],
            name=item["name"],
            size=item["size"],
            mime=item["mime"],
        )
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    album = message.media_group_id
    count = await _album_count(state, album) if album is not None else 0
    await _save(state, draft, **({"album": {"id": album, "count": count}} if album else {}))
    if (
        draft.files
        and draft.files[-1]["unique_id"] == item["unique_id"]
        and draft.files[-1]["too_big"]
    ):
        await message.answer(_too_big_note())
    if album is None:
        await _screen(ReportForm.evidence, message, state, session, settings, draft)
        return
    # An album comes as one update per file: one confirmation below it, counting them.
    await _show(
        message,
        _("📎 Album: files received — {count}.").format(count=count)
        + "\n\n"
        + _progress(ReportForm.evidence.state)
        + _evidence_prompt(draft),
        kb.evidence(True, draft.form),
        state,
        in_place=count > 1,
    )


async def _album_count(state: FSMContext, album: str) -> int:
    """How many files of this album have arrived, this one included."""
    seen = (await state.get_data()).get("album")
    if isinstance(seen, dict) and seen.get("id") == album:
        return int(seen.get("count", 0)) + 1
    return 1


def _too_big_note() -> str:
    return _(
        "The file is over 20 MB: it is attached as a reference, but the bot can't download it. "
        "If the curator needs it, also publish it and send the link."
    )


async def evidence_done(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    await _save(state, draft, reached_summary=True)
    await _screen(ReportForm.summary, query, state, session, settings, draft)


# --- the summary card ----------------------------------------------------------------------


async def submit(
    query: CallbackQuery, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    organizer = await school_name(session, draft.school_id)
    try:
        if draft.report_id is None:
            report, created = await submit_draft(
                session, user, draft, today=_today(settings), default_organizer=organizer
            )
        else:
            report, created = (
                await save_edited(
                    session, user, draft, today=_today(settings), default_organizer=organizer
                ),
                True,
            )
    except InvalidInput as error:
        await query.answer(_hint(error), show_alert=True)
        return
    await state.clear()
    if draft.report_id is not None:
        text = _("💾 Report №{id} is saved.").format(id=report.id)
    elif created:
        text = _("✅ Report №{id} is sent. The curator will review it.").format(id=report.id)
    else:
        text = _("Report №{id} was already sent.").format(id=report.id)
    # The card stays as the record of what was sent, without its buttons; the confirmation
    # brings the menu for what comes next (one message, not a separate «Что дальше?»).
    await query.answer()
    if isinstance(query.message, Message):
        await edits.edit_markup(query.message, None)
        await query.message.answer(
            text + "\n" + _("What next? The menu below: report another activity or see yours."),
            reply_markup=kb.main_menu(),
        )


async def edit_menu(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    await _screen(ReportForm.edit_field, query, state, session, settings, draft)


async def field_chosen(
    query: CallbackQuery,
    callback_data: ReportField,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _draft(state)
    steps = {
        FormField.ACTIVITY: ReportForm.activity,
        FormField.DATE: ReportForm.edit_date,
        FormField.MARK: ReportForm.mark,
        FormField.DESCRIPTION: ReportForm.description,
        FormField.PARTICIPANTS: ReportForm.edit_participants,
        FormField.ORGANIZER: ReportForm.edit_organizer,
        FormField.EVIDENCE: ReportForm.evidence,
    }
    step = steps[callback_data.name]
    if draft is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await state.update_data(page=0, search=None)
    await _screen(step, query, state, session, settings, draft)


async def date_button(
    query: CallbackQuery,
    callback_data: ReportDate,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _draft(state)
    if draft is None or callback_data.days_ago not in (0, 1):
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    draft.held_on = (_today(settings) - timedelta(days=callback_data.days_ago)).isoformat()
    await _save(state, draft)
    await _screen(ReportForm.summary, query, state, session, settings, draft)


def _set_title(draft: Draft, text: str, settings: Settings) -> None:
    draft.title = clean_text(text, limit=MAX_TITLE)


def _set_description(draft: Draft, text: str, settings: Settings) -> list[str]:
    """The text, and the links written in it as evidence; returns those links."""
    draft.description = clean_text(text, limit=MAX_DESCRIPTION)
    found = links_in_text(draft.description)
    draft.add_links(found)
    return found


def _set_date(draft: Draft, text: str, settings: Settings) -> None:
    draft.held_on = parse_held_on(text, today=_today(settings)).isoformat()


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
    "title": _set_title,
    "description": _set_description,
    "date": _set_date,
    "participants": _set_participants,
    "organizer": _set_organizer,
}


async def field_typed(
    message: Message, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _require_draft(message, state)
    if draft is None:
        return
    field = TYPED_FIELDS[await state.get_state() or ""]
    try:
        EDITABLE[field](draft, message.text or "", settings)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    await _remember_answer(state, field, message)
    await _save(state, draft)
    await _screen(ReportForm.summary, message, state, session, settings, draft)


async def _remember_answer(state: FSMContext, field: str, message: Message) -> None:
    """Which message answered which field: an edit of that message changes the field."""
    answers = (await state.get_data()).get("answers")
    await state.update_data(
        answers={**(answers if isinstance(answers, dict) else {}), field: message.message_id}
    )


async def answer_edited(
    message: Message,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    """An edited answer of this form updates the draft (and the card, if it is shown)."""
    answers = (await state.get_data()).get("answers")
    field = next(
        (f for f, m in (answers or {}).items() if m == message.message_id),
        None,
    )
    draft = await _draft(state)
    if (
        draft is None
        or field not in EDITABLE
        or message.text is None
        or (field == "title" and draft.item_id is not None)  # a roadmap item was chosen since
    ):
        await edit_not_taken(message, user)
        return
    try:
        EDITABLE[field](draft, message.text, settings)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    await _save(state, draft)
    if await state.get_state() == ReportForm.summary.state:
        organizer = await school_name(session, draft.school_id)
        await _show(
            message,
            _card(draft, today=_today(settings), default_organizer=organizer),
            kb.summary(editing=draft.report_id is not None, form=draft.form),
            state,
            in_place=True,
        )
        return
    name = kb.field_names()["activity" if field == "title" else field]
    await message.answer(_("✏ Your edit is taken: «{field}» is updated.").format(field=name))


async def default_value(
    query: CallbackQuery,
    callback_data: ReportNav,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
) -> None:
    draft = await _require_draft(query, state)
    if draft is None:
        return
    if callback_data.action == "no_participants":
        draft.participants_count = draft.participants_category = None
    else:
        draft.organizer = None
    await _save(state, draft)
    await _screen(ReportForm.summary, query, state, session, settings, draft)


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


async def back(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    draft = await _draft(state)
    current = await state.get_state()
    if draft is None or current is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    data = await state.get_data()
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
    if (
        data.get("reached_summary")
        and target
        in (
            ReportForm.activity,
            ReportForm.other_direction,
            ReportForm.other_title,
            ReportForm.mark,
            ReportForm.description,
        )
        and current
        in (ReportForm.mark.state, ReportForm.description.state, ReportForm.evidence.state)
    ):
        target = ReportForm.summary
    await _screen(target, query, state, session, settings, draft)


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


# --- /my -----------------------------------------------------------------------------------


async def my_reports(
    message: Message, user: User, session: AsyncSession, settings: Settings
) -> None:
    await _my_page(message, user, session, page=0)


async def my_page(
    query: CallbackQuery, callback_data: MyPage, user: User, session: AsyncSession
) -> None:
    await _my_page(query, user, session, page=max(0, callback_data.page))


async def _my_page(
    event: Message | CallbackQuery, user: User, session: AsyncSession, *, page: int
) -> None:
    reports, total = await recent_reports(
        session, user, offset=page * kb.MY_PER_PAGE, limit=kb.MY_PER_PAGE
    )
    if total == 0:
        await _show(event, _("No reports yet. /report logs an activity."))
        return
    lines = [_("<b>Reports: {count}</b>").format(count=total)]
    for report in reports:
        lines.append(_report_line(report))
    await _show(event, "\n\n".join(lines), kb.my_reports(reports, page=page, total=total))


def _report_line(report: ActivityReport) -> str:
    line = (
        f"<b>№{report.id}</b> · {report.held_on:%d.%m.%Y} · {escape(_trim(report.title, 120))}\n"
        f"{mark_name(report.mark.value)} · {review_state_name(report.review_state.value)}"
    )
    links = sum(1 for e in report.evidence if e.kind == EvidenceKind.LINK)
    files = len(report.evidence) - links
    line += " · " + _("links {links}, files {files}").format(links=links, files=files)
    if report.review_state == ReviewState.RETURNED and report.review_comment:
        line += "\n" + _("Curator's comment: {comment}").format(
            comment=escape(_trim(report.review_comment, 500))
        )
    return line


async def _refuse_if_drafting(event: Message | CallbackQuery, state: FSMContext) -> bool:
    current = await state.get_state()
    draft = await _draft(state)
    if current and current.startswith("ReportForm") and draft is not None:
        text = _(
            "You have an unsent report draft. Finish it (/report) or drop it (/cancel) first."
        )
        if isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=True)
        else:
            await event.answer(text)
        return True
    return False


async def my_action(
    query: CallbackQuery,
    callback_data: MyReport,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    action, report_id = callback_data.action, callback_data.report_id
    try:
        # Never trust the id in the button: school, author and lock are checked in the database.
        report = await report_for_change(session, user, report_id)
    except InvalidInput as error:
        await query.answer(_hint(error), show_alert=True)
        return
    if action == "delete":
        await _show(
            query,
            _("Delete report №{id} «{title}»? This can't be undone.").format(
                id=report.id, title=escape(_trim(report.title, 200))
            ),
            kb.confirm_delete(report.id),
        )
        return
    if action == "delete_yes":
        await delete_report(session, user, report.id)
        await _show(query, _("Report №{id} is deleted.").format(id=report_id))
        return
    if await _refuse_if_drafting(query, state):
        return
    if action == "edit":
        draft = draft_from_report(report, uuid.uuid4().hex)
        await state.set_data({})
        await _save(state, draft, reached_summary=True, page=0, search=None)
        await _screen(ReportForm.summary, query, state, session, settings, draft)
        return
    if action == "evidence":
        await state.set_state(EvidenceForm.collect)
        await state.set_data({"report_id": report.id})
        await _show(
            query,
            _(
                "Report №{id}: send links (https://…), documents or photos. Each is saved at once."
            ).format(id=report.id),
            kb.evidence_collect(),
        )
        return
    await query.answer(_("This button is no longer active."), show_alert=True)


# --- /evidence -----------------------------------------------------------------------------


async def evidence_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    if await _refuse_if_drafting(message, state):
        return
    reports, _total = await recent_reports(session, user, limit=8, editable_only=True)
    if not reports:
        await message.answer(
            _("There are no reports to add evidence to. /report logs an activity.")
        )
        return
    await message.answer(
        _("Which report do you add evidence to?"), reply_markup=kb.evidence_targets(reports)
    )


async def _collect_target(state: FSMContext, event: Message | None = None) -> int | None:
    data = await state.get_data()
    value = data.get("report_id")
    if isinstance(value, int):
        return value
    if event is not None:
        await state.clear()
        await event.answer(_("This form is no longer active. Start again: /evidence"))
    return None


async def collect_links(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    report_id = await _collect_target(state, message)
    if report_id is None:
        return
    links, rejected = parse_links_message(message.text or "")
    if not links:
        await message.answer(_evidence_rejection(rejected[0] if rejected else ""))
        return
    try:
        added, _files = await add_evidence(session, user, report_id, links=links)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    report = await report_for_change(session, user, report_id)
    await _note_links_elsewhere(
        message, session, Draft(key="", school_id=report.school_id, report_id=report_id), added
    )
    await message.answer(
        _("Saved to report №{id}: links {links}.").format(id=report_id, links=len(added)),
        reply_markup=kb.evidence_collect(),
    )


async def collect_file(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    report_id = await _collect_target(state, message)
    item = _file_of(message)
    if report_id is None or item is None:
        return
    holder = Draft(key="", school_id=0)
    holder.add_file(
        kind=item["kind"],
        file_id=item["file_id"],
        unique_id=item["unique_id"],
        name=item["name"],
        size=item["size"],
        mime=item["mime"],
    )
    try:
        _links, count = await add_evidence(session, user, report_id, files=holder.files)
    except InvalidInput as error:
        await message.answer(_hint(error))
        return
    album = message.media_group_id
    received = await _album_count(state, album) if album is not None else 0
    if album is not None:
        await state.update_data(album={"id": album, "count": received})
    if holder.files[0]["too_big"]:
        await message.answer(_too_big_note())
    text = _("Saved to report №{id}: files {files}.").format(id=report_id, files=count)
    if album is None:
        await message.answer(text, reply_markup=kb.evidence_collect())
        return
    # One confirmation per album, counting its files (each file is an update of its own).
    text = _("📎 Album: files received — {count}.").format(count=received) + "\n" + text
    album_msg = (await state.get_data()).get("album_msg")
    if received > 1 and isinstance(album_msg, int) and message.bot is not None:
        if await edits.edit_text_by_id(
            message.bot, message.chat.id, album_msg, text, kb.evidence_collect()
        ):
            return
    sent = await message.answer(text, reply_markup=kb.evidence_collect())
    await state.update_data(album_msg=sent.message_id)


async def collect_done(query: CallbackQuery, state: FSMContext) -> None:
    report_id = await _collect_target(state)
    await state.clear()
    await _show(
        query,
        _("Evidence of report №{id} is saved.").format(id=report_id) if report_id else _("Done."),
    )


async def collect_fallback(message: Message) -> None:
    await message.answer(_("Send links (https://…), documents or photos, or press «Done»."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    menu_report = kb.menu_button("report")
    menu_my = kb.menu_button("my")
    r = router.message.register
    c = router.callback_query.register

    r(report_start, Command("report"), flags=STAFF)
    r(report_start, menu_report, flags=STAFF)
    r(my_reports, Command("my"), flags=STAFF)
    r(my_reports, menu_my, flags=STAFF)
    r(evidence_command, Command("evidence"), flags=STAFF)
    c(earlier_form_button, of_an_earlier_form, flags=STAFF)
    c(my_page, MyPage.filter(), flags=STAFF)
    c(my_action, MyReport.filter(), ~StateFilter(EvidenceForm.collect), flags=STAFF)

    c(
        resume_choice,
        ReportForm.resume,
        ReportNav.filter(F.action.in_({"resume", "restart"})),
        flags=STAFF,
    )
    c(activity_page, ReportForm.activity, ReportPage.filter(), flags=STAFF)
    c(activity_chosen, ReportForm.activity, ReportItem.filter(), flags=STAFF)
    r(activity_search, ReportForm.activity, F.text, flags=STAFF)
    c(other_direction, ReportForm.other_direction, ReportDirection.filter(), flags=STAFF)
    r(other_title, ReportForm.other_title, F.text, flags=STAFF)
    c(mark_chosen, ReportForm.mark, ReportMark.filter(), flags=STAFF)
    r(description_given, ReportForm.description, F.text, flags=STAFF)
    r(evidence_links, ReportForm.evidence, F.text, flags=STAFF)
    r(evidence_file, ReportForm.evidence, F.document | F.photo, flags=STAFF)
    c(evidence_done, ReportForm.evidence, ReportNav.filter(F.action == "done"), flags=STAFF)
    c(submit, ReportForm.summary, ReportNav.filter(F.action == "submit"), flags=STAFF)
    c(edit_menu, ReportForm.summary, ReportNav.filter(F.action == "edit"), flags=STAFF)
    c(
        field_chosen,
        StateFilter(ReportForm.summary, ReportForm.edit_field),
        ReportField.filter(),
        flags=STAFF,
    )
    c(date_button, ReportForm.edit_date, ReportDate.filter(), flags=STAFF)
    r(field_typed, StateFilter(*TYPED_FIELDS), F.text, flags=STAFF)
    c(
        default_value,
        ReportForm.edit_participants,
        ReportNav.filter(F.action == "no_participants"),
        flags=STAFF,
    )
    c(
        default_value,
        ReportForm.edit_organizer,
        ReportNav.filter(F.action == "school_organizer"),
        flags=STAFF,
    )
    c(back, StateFilter(ReportForm), ReportNav.filter(F.action == "back"), flags=STAFF)

    router.edited_message.register(answer_edited, StateFilter(ReportForm), flags=STAFF)

    r(fallback_evidence, ReportForm.evidence, flags=STAFF)
    r(fallback_summary, ReportForm.summary, flags=STAFF)
    r(fallback_activity, ReportForm.activity, flags=STAFF)
    r(
        fallback_text_expected,
        StateFilter(
            ReportForm.other_title,
            ReportForm.description,
            ReportForm.edit_date,
            ReportForm.edit_participants,
            ReportForm.edit_organizer,
        ),
        flags=STAFF,
    )
    r(fallback_buttons_expected, StateFilter(ReportForm), flags=STAFF)

    c(collect_done, EvidenceForm.collect, ReportNav.filter(F.action == "done"), flags=STAFF)
    r(collect_links, EvidenceForm.collect, F.text, flags=STAFF)
    r(collect_file, EvidenceForm.collect, F.document | F.photo, flags=STAFF)
    c(my_action, EvidenceForm.collect, MyReport.filter(), flags=STAFF)
    r(collect_fallback, EvidenceForm.collect, flags=STAFF)
    return router
