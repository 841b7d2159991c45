"""The school's roadmap: import from the files schools keep, /roadmap, reminder buttons.

Import: a coordinator sends the file; the bot downloads it through the Bot API, parses it and
shows a preview; «Импортировать» downloads it again (only the file id and a hash wait in the
FSM data), checks it is the same file and applies it. Reminders: the digests are queued and
rendered by bot/jobs/reminders.py; here are /mute, /unmute and the buttons under a digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from datetime import date
from html import escape
from pathlib import PurePath

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.access import EVERY_ROLE, SCHOOL_STAFF, allow
from bot.ui.callbacks import ReminderMute, ReminderReport, RoadmapImportConfirm, RoadmapPage
from bot.ui.formatting import day, fit, one_line, today
from bot.ui.keyboards import roadmap as kb
from bot.ui.paging import clamp, pages
from bot.ui.replies import show
from bot.ui.states import RoadmapImport
from handlers.report import report_start
from models import Role, School, User
from models.audit import record
from models.duedates import DueKind, Recurrence
from models.errors import AccessDenied
from models.roadmap_import import ImportErrorCode, ParsedRoadmap, RoadmapImportError, parse_roadmap
from models.roadmaps import (
    ImportPlan,
    ItemStatus,
    apply_import,
    plan_import,
    roadmap_page,
)
from models.users import count_visible_schools, school_for, visible_schools

logger = logging.getLogger(__name__)
STAFF = allow(SCHOOL_STAFF)
COORDINATOR = allow(Role.COORDINATOR)
EVERYONE = allow(EVERY_ROLE)

# The parser's own limit; the Bot API can't hand out more than 20 MB anyway.
MAX_FILE_BYTES = 10 * 1024 * 1024
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
MAX_ROWS = 5000
# What a school keeps its roadmap in; the content decides how it is read, the name only lets
# the bot refuse a PDF or a photo without downloading it.
ROADMAP_SUFFIXES = frozenset(
    {"", ".xlsx", ".xlsm", ".xls", ".ods", ".docx", ".doc", ".csv", ".tsv", ".txt"}
)
PREVIEW_ITEMS = 5
PAGE_SIZE = 8


def recurrence_name(code: str | None) -> str:
    names: dict[str, str] = {
        Recurrence.DAILY: _("daily"),
        Recurrence.WEEKLY: _("weekly"),
        Recurrence.BIWEEKLY: _("every two weeks"),
        Recurrence.MONTHLY: _("monthly"),
        Recurrence.QUARTERLY: _("quarterly"),
        Recurrence.HALF_YEARLY: _("twice a year"),
        Recurrence.YEARLY: _("yearly"),
        Recurrence.PER_SCHEDULE: _("by a separate schedule"),
        Recurrence.ONGOING: _("ongoing"),
    }
    return names.get(code or "", _("repeating"))


def due_understood(kind: str, start: date | None, end: date | None, recurrence: str | None) -> str:
    """What the bot read from a deadline text, for the preview and /roadmap."""
    if kind == DueKind.DATE:
        if start is None or start == end:
            return _("by {date}").format(date=day(end))
        return day(end)
    if kind == DueKind.PERIOD:
        return _("{start} – {end}").format(start=day(start), end=day(end))
    if kind == DueKind.RECURRING:
        text = recurrence_name(recurrence)
        if end is not None:
            text += ", " + _("until {date}").format(date=day(end))
        return text
    return _("not recognised")


def import_error_text(error: RoadmapImportError) -> str:
    params = dict(error.params)
    code = error.code
    if code == ImportErrorCode.NOT_SPREADSHEET:
        kind = params.get("format")
        if kind == "doc":
            return _(
                "This is an old Word document (.doc), which the bot can't read. Open it in "
                "Word and choose File → Save As → «Документ Word (*.docx)» (in LibreOffice: "
                "«Word 2007–365 (.docx)»), then send the .docx file."
            )
        if kind == "pdf":
            return _(
                "This is a PDF. The roadmap is needed as the file the PDF was made from: a Word "
                "document (.docx), an Excel or LibreOffice workbook (.xlsx, .xls, .ods) or CSV."
            )
        return _(
            "This is not a roadmap file the bot can read. Send the roadmap as a Word document "
            "(.docx), an Excel or LibreOffice workbook (.xlsx, .xls, .ods) or CSV."
        )
    if code == ImportErrorCode.ENCRYPTED:
        return _(
            "The file is protected with a password. Remove the password (Word, Excel: File → "
            "Info → Protect → Encrypt with Password, clear the field; LibreOffice: File → Save "
            "As without «Save with password») and send the file again."
        )
    if code == ImportErrorCode.CORRUPT:
        return _(
            "The file is damaged and can't be read. Open it in Word, Excel or LibreOffice, save "
            "it again and send it once more."
        )
    if code == ImportErrorCode.TOO_LARGE:
        if "max_rows" in params:
            return _("The table is too long: at most {rows} rows. Is this the right file?").format(
                rows=params["max_rows"]
            )
        return _(
            "The file is too large: at most {size} MB. A roadmap is usually much smaller — "
            "is this the right file?"
        ).format(size=MAX_FILE_BYTES // (1024 * 1024))
    if code == ImportErrorCode.NO_HEADER:
        if params.get("table") is False:
            return _(
                "The document has no table. The roadmap has to be a table with columns such "
                "as «№», «Мероприятие», «Срок проведения», «Ответственные исполнители» "
                "(in Word: Insert → Table)."
            )
        return _(
            "No roadmap table found. The file needs a header row with columns such as "
            "«№», «Мероприятие», «Срок проведения», «Ответственные исполнители»."
        )
    if params.get("header"):
        return _("The table has a header but no activities under it.")
    return _(
        "The file is empty: there is no table in it. Send the file with the roadmap table "
        "(columns such as «№», «Мероприятие», «Срок проведения»)."
    )


# --- import ---------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class _DownloadFailed(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Stops a download that grows past the limit, whatever getFile said about its size."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise _TooLarge
        return super().write(data)


async def _download(bot: Bot, file_id: str) -> bytes:
    """The file through the Bot API (TELEGRAM_API_URL), refused early if it is too large."""
    try:
        file = await bot.get_file(file_id)
        if file.file_size and file.file_size > MAX_FILE_BYTES:
            raise _TooLarge
        if not file.file_path:
            raise _DownloadFailed
        buffer = _CappedBuffer(MAX_FILE_BYTES)
        await bot.download_file(file.file_path, destination=buffer)
        return buffer.getvalue()
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():
            raise _TooLarge from exc
        raise _DownloadFailed from exc
    except (_TooLarge, _DownloadFailed):
        raise
    except Exception as exc:
        # TelegramAPIError, aiohttp's ClientError, timeouts: worth another try later.
        logger.warning("roadmap download failed: %s", type(exc).__name__)
        raise _DownloadFailed from exc


async def _parse(data: bytes, filename: str) -> ParsedRoadmap:
    """Parse off the event loop: a big workbook takes a while and the bot serves others."""
    try:
        return await asyncio.to_thread(
            parse_roadmap, data, filename, max_bytes=MAX_FILE_BYTES, max_rows=MAX_ROWS
        )
    except RoadmapImportError:
        raise
    except Exception as exc:
        # The name may carry a person's name: the log gets the kind of file only.
        logger.exception("roadmap parser failed on a %s file", PurePath(filename).suffix or "?")
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _preview(parsed: ParsedRoadmap, plan: ImportPlan, *, school: School, filename: str) -> str:
    unknown = parsed.unparsed_due_count
    missing = sum(1 for item in parsed.items if not item.due_raw)
    lines = [
        _("<b>Roadmap file: {name}</b>").format(name=escape(one_line(filename, 80))),
        _("School: {school}").format(school=escape(school.short_name)),
        _("Activities found: {count}. Sections: {sections}.").format(
            count=len(parsed.items), sections=len(parsed.sections)
        ),
    ]
    if unknown:
        lines.append(_("Deadline not recognised: {count}.").format(count=unknown))
        for item in parsed.unparsed_due[:PREVIEW_ITEMS]:
            number = f"{escape(one_line(item.number, 10))}. " if item.number else ""
            lines.append(
                f"   • {number}{escape(one_line(item.title, 60))}: "
                f"«{escape(one_line(item.due_raw, 60))}»"
            )
        if unknown > PREVIEW_ITEMS:
            lines.append("   " + _("… and {count} more.").format(count=unknown - PREVIEW_ITEMS))
        lines.append(
            "   "
            + _("They are imported without a deadline; /roadmap shows them, reminders skip them.")
        )
    if missing:
        lines.append(_("No deadline given: {count}.").format(count=missing))
    lines.append(
        _(
            "If imported: new {created}, updated {updated}, unchanged {unchanged}, "
            "moved to the archive {archived}."
        ).format(
            created=plan.created,
            updated=plan.updated + plan.restored,
            unchanged=plan.unchanged,
            archived=plan.archived,
        )
    )
    if plan.updated or plan.unchanged or plan.archived or plan.restored:
        lines.append(_("Reports stay with their activities."))
    lines += ["", _("<b>First activities:</b>")]
    for item in parsed.items[:PREVIEW_ITEMS]:
        number = f"{escape(one_line(item.number, 10))}. " if item.number else ""
        lines.append(f"{number}{escape(one_line(item.title, 120))}")
        raw = f"«{escape(one_line(item.due_raw, 60))}»" if item.due_raw else "—"
        due = item.due
        understood = due_understood(due.kind, due.start, due.end, due.recurrence)
        lines.append(
            "   " + _("Deadline: {raw} → {understood}").format(raw=raw, understood=understood)
        )
    if len(parsed.items) > PREVIEW_ITEMS:
        lines.append(_("… and {count} more.").format(count=len(parsed.items) - PREVIEW_ITEMS))
    lines += ["", _("Import this roadmap?")]
    return fit(lines)


def _outcome(plan: ImportPlan, school: School) -> str:
    return _(
        "The roadmap of {school} is imported: new {created}, updated {updated}, unchanged "
        "{unchanged}, moved to the archive {archived}. /roadmap shows it."
    ).format(
        school=escape(school.short_name),
        created=plan.created,
        updated=plan.updated + plan.restored,
        unchanged=plan.unchanged,
        archived=plan.archived,
    )


async def roadmap_document(
    message: Message, state: FSMContext, user: User, session: AsyncSession, bot: Bot
) -> None:
    document = message.document
    if document is None:
        return
    if user.role != Role.COORDINATOR:
        await message.answer(
            _(
                "Only the school coordinator uploads the roadmap. To report an activity, "
                "send /report."
            )
        )
        return
    if user.school_id is None:
        raise AccessDenied("no_school")
    filename = document.file_name or "roadmap"
    size = document.file_size or 0
    if size > min(MAX_FILE_BYTES, TELEGRAM_DOWNLOAD_LIMIT):
        await message.answer(import_error_text(RoadmapImportError(ImportErrorCode.TOO_LARGE)))
        return
    suffix = PurePath(filename).suffix.lower()
    if suffix not in ROADMAP_SUFFIXES:
        kind = "pdf" if suffix == ".pdf" else "unknown"
        await message.answer(
            import_error_text(RoadmapImportError(ImportErrorCode.NOT_SPREADSHEET, format=kind))
        )
        return
    try:
        data = await _download(bot, document.file_id)
        parsed = await _parse(data, filename)
    except _TooLarge:
        await message.answer(import_error_text(RoadmapImportError(ImportErrorCode.TOO_LARGE)))
        return
    except _DownloadFailed:
        await message.answer(
            _("Could not get the file from Telegram. Please send it again in a minute.")
        )
        return
    except RoadmapImportError as error:
        logger.info("roadmap file refused: %s %s", error.code, error.params)
        await message.answer(import_error_text(error))
        return
    # Only now touch the database: downloading and parsing must not hold SQLite's write lock.
    school = await school_for(session, user, user.school_id)
    plan = await plan_import(session, school.id, parsed.items)
    await state.set_state(RoadmapImport.confirm)
    # Only what finds the file again: FSM data is a JSON row, the items are read anew on confirm.
    await state.set_data(
        {
            "school_id": school.id,
            "file_id": document.file_id,
            "file_name": filename[:200],
            "sha": _fingerprint(data),
        }
    )
    await message.answer(
        _preview(parsed, plan, school=school, filename=filename),
        reply_markup=kb.import_confirm(school.id),
    )


async def import_confirmed(
    query: CallbackQuery,
    callback_data: RoadmapImportConfirm,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
) -> None:
    # The id came from a button: this coordinator must be allowed to act on that school.
    school = await school_for(session, user, callback_data.school_id)
    data = await state.get_data()
    file_id = data.get("file_id")
    if data.get("school_id") != school.id or user.school_id != school.id or not file_id:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    try:
        content = await _download(bot, str(file_id))
        parsed = await _parse(content, str(data.get("file_name") or "roadmap"))
    except _TooLarge:
        await state.clear()
        await show(query, import_error_text(RoadmapImportError(ImportErrorCode.TOO_LARGE)))
        return
    except _DownloadFailed:
        await query.answer(
            _("Could not get the file from Telegram. Please send it again in a minute."),
            show_alert=True,
        )
        return
    except RoadmapImportError as error:
        await state.clear()
        await show(query, import_error_text(error))
        return
    if _fingerprint(content) != data.get("sha"):
        await state.clear()
        await show(query, _("The file has changed since the preview. Please send it again."))
        return
    plan = await apply_import(
        session,
        school.id,
        parsed.items,
        actor_id=user.id,
        source=f"chat:{data.get('file_name')}",
    )
    await state.clear()
    await show(query, _outcome(plan, school))


async def import_fallback(message: Message) -> None:
    await message.answer(
        _("Press «Import» or «Cancel» under the preview above, or send another file.")
    )


# --- /roadmap -------------------------------------------------------------------------------


def _status(entry: ItemStatus, as_of: date) -> str:
    item = entry.item
    parts = []
    if entry.done:
        parts.append(_("✅ done"))
    elif item.due_date is not None and item.due_date < as_of:
        parts.append(_("⚠ overdue"))
    if entry.reports:
        parts.append(_("reports: {count}").format(count=entry.reports))
    elif not entry.done:
        parts.append(_("no report"))
    return " · ".join(parts)


def _item_lines(entry: ItemStatus, as_of: date) -> list[str]:
    item = entry.item
    number = f"{escape(one_line(item.number, 10))}. " if item.number else ""
    raw = f"«{escape(one_line(item.due_raw, 80))}»" if item.due_raw else "—"
    understood = due_understood(item.due_kind, item.due_start, item.due_date, item.recurrence)
    return [
        f"<b>{number}</b>{escape(one_line(item.title, 160))}",
        "   "
        + _("Deadline: {raw} → {understood}").format(raw=raw, understood=understood)
        + f" · {_status(entry, as_of)}",
    ]


async def _roadmap_screen(
    session: AsyncSession, user: User, school: School, page: int, as_of: date
) -> tuple[str, InlineKeyboardMarkup | None]:
    entries, total = await roadmap_page(
        session, school.id, offset=page * PAGE_SIZE, limit=PAGE_SIZE
    )
    coordinator = user.role == Role.COORDINATOR and user.school_id == school.id
    if total == 0:
        if coordinator:
            text = _(
                "The roadmap of {school} is empty. To upload it, send the roadmap file "
                "(Word .docx, Excel .xlsx or .xls, LibreOffice .ods or CSV) to this chat."
            )
        elif user.role == Role.TEACHER:
            text = _("The roadmap of {school} is empty. The school coordinator can upload it.")
        else:
            text = _("The roadmap of {school} is empty.")
        return text.format(school=escape(school.short_name)), None
    page = clamp(page, total, PAGE_SIZE)
    if not entries:
        entries, _total = await roadmap_page(
            session, school.id, offset=page * PAGE_SIZE, limit=PAGE_SIZE
        )
    lines = [
        _("<b>Roadmap of {school}</b> · activities: {total} · page {page} of {pages}").format(
            school=escape(school.short_name),
            total=total,
            page=page + 1,
            pages=pages(total, PAGE_SIZE),
        )
    ]
    section: str | None = None
    for entry in entries:
        if entry.item.section and entry.item.section != section:
            section = entry.item.section
            lines += ["", f"<b>{escape(one_line(section, 120))}</b>"]
        lines.append("")
        lines += _item_lines(entry, as_of)
    if coordinator:
        lines += [
            "",
            _(
                "To update the roadmap, send the new file here; reports stay with their "
                "activities."
            ),
        ]
    return fit(lines), kb.roadmap_pages(school.id, page=page, total=total, per_page=PAGE_SIZE)


async def roadmap_command(
    message: Message, user: User, session: AsyncSession, settings: Settings
) -> None:
    if user.role in (Role.TEACHER, Role.COORDINATOR):
        if user.school_id is None:
            raise AccessDenied("no_school")
        school = await school_for(session, user, user.school_id)
    else:
        total = await count_visible_schools(session, user)
        if total == 0:
            await message.answer(_("No schools yet."))
            return
        schools = await visible_schools(session, user, limit=kb.SCHOOLS_SHOWN)
        if total > 1:
            text = _("Whose roadmap? Choose the school:")
            if total > len(schools):
                text += "\n" + _("… and {count} more.").format(count=total - len(schools))
            await message.answer(text, reply_markup=kb.school_choice(schools))
            return
        school = schools[0]
    text, markup = await _roadmap_screen(session, user, school, 0, today(settings))
    await message.answer(text, reply_markup=markup)


async def roadmap_page_chosen(
    query: CallbackQuery,
    callback_data: RoadmapPage,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    text, markup = await _roadmap_screen(
        session, user, school, callback_data.page, today(settings)
    )
    await show(query, text, markup)


# --- mute -----------------------------------------------------------------------------------


def _set_muted(session: AsyncSession, user: User, muted: bool) -> str:
    if user.reminders_muted != muted:
        user.reminders_muted = muted
        record(
            session,
            actor_id=user.id,
            action="reminders_muted" if muted else "reminders_unmuted",
            object_type="user",
            object_id=user.id,
        )
    if muted:
        return _("Reminders are off. /unmute turns them back on.")
    return _("Reminders are on. /mute turns them off.")


async def mute_command(message: Message, user: User, session: AsyncSession) -> None:
    await message.answer(_set_muted(session, user, True), reply_markup=kb.unmute())


async def unmute_command(message: Message, user: User, session: AsyncSession) -> None:
    await message.answer(_set_muted(session, user, False))


async def mute_button(
    query: CallbackQuery, callback_data: ReminderMute, user: User, session: AsyncSession
) -> None:
    muted = callback_data.action == "mute"
    text = _set_muted(session, user, muted)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb.unmute() if muted else None)


async def reminder_report(
    query: CallbackQuery, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    if not isinstance(query.message, Message):
        await query.answer(_("Send /report to report an activity."), show_alert=True)
        return
    # The same start as /report: resumes a draft if there is one, otherwise begins anew.
    await report_start(query.message, state, user, session, settings)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    r = router.message.register
    c = router.callback_query.register
    r(roadmap_command, Command("roadmap"), flags=EVERYONE)
    c(roadmap_page_chosen, RoadmapPage.filter(), flags=EVERYONE)
    r(mute_command, Command("mute"), flags=EVERYONE)
    r(unmute_command, Command("unmute"), flags=EVERYONE)
    c(mute_button, ReminderMute.filter(), flags=EVERYONE)
    c(reminder_report, ReminderReport.filter(), flags=STAFF)
    r(roadmap_document, StateFilter(None, RoadmapImport.confirm), F.document, flags=STAFF)
    c(import_confirmed, RoadmapImport.confirm, RoadmapImportConfirm.filter(), flags=COORDINATOR)
    r(import_fallback, RoadmapImport.confirm, flags=COORDINATOR)
    return router
