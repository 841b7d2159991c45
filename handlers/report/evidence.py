"""/evidence (and «📎» in /my): adding links and files to a report already sent; and the
evidence helpers the form shares (a message's file, the notes about a link or a file)."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ui import replies
from bot.ui.formatting import day, trim
from bot.ui.keyboards import report as kb
from bot.ui.states import EvidenceForm
from handlers.report.card import hint
from handlers.report.draft import album_count, refuse_if_drafting
from models import ActivityReport, EvidenceKind, User
from models.errors import InvalidInput
from models.evidence import normalize_link, parse_links_message
from models.reports import (
    Draft,
    add_evidence,
    linked_elsewhere,
    recent_reports,
    report_for_change,
)

# --- shared with the form ------------------------------------------------------------------


async def note_links_elsewhere(
    message: Message,
    session: AsyncSession,
    school_id: int,
    links: list[str],
    *,
    exclude_report: int | None,
) -> None:
    """Say which of these links some other report of the school already has."""
    elsewhere = await linked_elsewhere(session, school_id, links, exclude_report=exclude_report)
    for link, (report_id, title, held_on) in elsewhere.items():
        await message.answer(
            _("Note: {link} is already attached to report №{id} «{title}» of {date}.").format(
                link=escape(trim(link, 100)),
                id=report_id,
                title=escape(trim(title, 100)),
                date=day(held_on),
            )
        )


def evidence_rejection(piece: str) -> str:
    try:
        normalize_link(piece)
    except InvalidInput as error:
        return hint(error)
    return hint(InvalidInput("link_not_url"))


def file_of(message: Message) -> dict[str, Any] | None:
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


def too_big_note() -> str:
    return _(
        "The file is over 20 MB: it is attached as a reference, but the bot can't download it. "
        "If the curator needs it, also publish it and send the link."
    )


def album_note(count: int) -> str:
    return _("📎 Album: files received — {count}.").format(count=count)


# --- /evidence -----------------------------------------------------------------------------


async def evidence_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    if await refuse_if_drafting(message, state):
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


async def start_collecting(
    query: CallbackQuery, state: FSMContext, report: ActivityReport
) -> None:
    """«📎» of a report: what comes next goes to it, until «Done»."""
    await state.set_state(EvidenceForm.collect)
    await state.set_data({"report_id": report.id})
    await replies.show(
        query,
        _(
            "Report №{id}: send links (https://…), documents or photos. Each is saved at once."
        ).format(id=report.id),
        kb.evidence_collect(),
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
        await message.answer(evidence_rejection(rejected[0] if rejected else ""))
        return
    try:
        added, _files = await add_evidence(session, user, report_id, links=links)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    report = await report_for_change(session, user, report_id)
    await note_links_elsewhere(message, session, report.school_id, added, exclude_report=report_id)
    await message.answer(
        _("Saved to report №{id}: links {links}.").format(id=report_id, links=len(added)),
        reply_markup=kb.evidence_collect(),
    )


async def collect_file(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    report_id = await _collect_target(state, message)
    item = file_of(message)
    if report_id is None or item is None:
        return
    holder = Draft(key="", school_id=0)
    holder.add_file(**item)
    try:
        _links, count = await add_evidence(session, user, report_id, files=holder.files)
    except InvalidInput as error:
        await message.answer(hint(error))
        return
    album = message.media_group_id
    received = await album_count(state, album) if album is not None else 0
    if album is not None:
        await state.update_data(album={"id": album, "count": received})
    if holder.files[0]["too_big"]:
        await message.answer(too_big_note())
    text = _("Saved to report №{id}: files {files}.").format(id=report_id, files=count)
    if album is None:
        await message.answer(text, reply_markup=kb.evidence_collect())
        return
    # One confirmation per album, counting its files (each file is an update of its own).
    text = album_note(received) + "\n" + text
    album_msg = (await state.get_data()).get("album_msg")
    if received > 1 and isinstance(album_msg, int) and message.bot is not None:
        if await replies.edit_text_by_id(
            message.bot, message.chat.id, album_msg, text, kb.evidence_collect()
        ):
            return
    sent = await message.answer(text, reply_markup=kb.evidence_collect())
    await state.update_data(album_msg=sent.message_id)


async def collect_done(query: CallbackQuery, state: FSMContext) -> None:
    report_id = await _collect_target(state)
    await state.clear()
    await replies.show(
        query,
        _("Evidence of report №{id} is saved.").format(id=report_id) if report_id else _("Done."),
    )


async def collect_fallback(message: Message) -> None:
    await message.answer(_("Send links (https://…), documents or photos, or press «Done»."))
