"""Roadmap import: a coordinator sends the file; the bot downloads it through the Bot API,
parses it and shows a preview; «Импортировать» downloads it again (only the file id and a hash
wait in the FSM data), checks it is the same file and applies it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from html import escape
from pathlib import PurePath

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ui.callbacks import RoadmapImportConfirm
from bot.ui.formatting import fit, one_line
from bot.ui.keyboards import roadmap as kb
from bot.ui.replies import show
from bot.ui.states import RoadmapImport
from handlers.roadmap.texts import direction_label, due_understood
from models import Role, School, User
from models.errors import AccessDenied
from models.roadmap_import import ImportErrorCode, ParsedRoadmap, RoadmapImportError, parse_roadmap
from models.roadmaps import ImportPlan, apply_import, plan_import
from models.users import school_for

logger = logging.getLogger(__name__)

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
    if plan.suggested:
        lines.append(
            _(
                "Direction suggested by the words of the activity: {count} of {total}. "
                "To change it: /roadmap, ✏ next to the activity."
            ).format(count=plan.suggested, total=len(parsed.items))
        )
    lines += ["", _("<b>First activities:</b>")]
    for item, direction in zip(parsed.items[:PREVIEW_ITEMS], plan.directions, strict=False):
        number = f"{escape(one_line(item.number, 10))}. " if item.number else ""
        lines.append(f"{number}{escape(one_line(item.title, 120))}")
        raw = f"«{escape(one_line(item.due_raw, 60))}»" if item.due_raw else "—"
        due = item.due
        understood = due_understood(due.kind, due.start, due.end, due.recurrence)
        lines.append(
            "   " + _("Deadline: {raw} → {understood}").format(raw=raw, understood=understood)
        )
        lines.append("   " + _("Direction: {value}").format(value=direction_label(*direction)))
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
