"""/roadmap: the school's roadmap, paged, each activity with its deadline and status."""

from __future__ import annotations

from datetime import date
from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.callbacks import RoadmapPage
from bot.ui.formatting import fit, one_line, today
from bot.ui.keyboards import roadmap as kb
from bot.ui.paging import clamp, pages
from bot.ui.replies import show
from bot.ui.states import RoadmapItemEdit
from handlers.roadmap.texts import due_understood
from models import Role, School, User
from models.errors import AccessDenied
from models.roadmaps import ItemStatus, roadmap_page
from models.users import count_visible_schools, school_for, visible_schools

PAGE_SIZE = 8


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


def _edit_labels(entries: list[ItemStatus]) -> list[tuple[str, int]]:
    """«✏ n» labels: the activities' own numbers where they tell them apart on the page, else
    the first words of each title (items added from a self-diagnosis have no number)."""
    numbers = [one_line(entry.item.number, 12) for entry in entries]
    if all(numbers) and len(set(numbers)) == len(numbers) and max(map(len, numbers)) <= 5:
        return [(number, entry.item.id) for number, entry in zip(numbers, entries, strict=True)]
    return [(one_line(entry.item.title, 28), entry.item.id) for entry in entries]


async def roadmap_screen(
    session: AsyncSession, user: User, school: School, page: int, as_of: date
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the school's roadmap; its coordinator also gets «✏ n» per activity."""
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
    edit: list[tuple[str, int]] = []
    if coordinator:
        lines += [
            "",
            _("✏ opens an activity: its direction, deadline and responsible can be changed."),
            _(
                "To update the roadmap, send the new file here; reports stay with their "
                "activities."
            ),
        ]
        edit = _edit_labels(entries)
    markup = kb.roadmap_pages(school.id, page=page, total=total, per_page=PAGE_SIZE, edit=edit)
    return fit(lines), markup


# What an activity's card keeps in the form data while it waits for a typed answer; the state
# it came from (a report being written) is the one it returns to.
ITEM_EDIT_KEYS = ("item_id", "prompt_id", "return_state")


async def leave_item_edit(state: FSMContext) -> None:
    """A typed text is no longer an activity's deadline or responsible. Only the card's own
    keys go: a report form left for the card (its draft is in the form data) goes on."""
    if await state.get_state() not in (RoadmapItemEdit.due, RoadmapItemEdit.responsible):
        return
    data = await state.get_data()
    back = data.get("return_state")
    await state.set_state(back if isinstance(back, str) else None)
    await state.set_data({k: v for k, v in data.items() if k not in ITEM_EDIT_KEYS})


async def roadmap_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    await leave_item_edit(state)
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
    text, markup = await roadmap_screen(session, user, school, 0, today(settings))
    await message.answer(text, reply_markup=markup)


async def roadmap_page_chosen(
    query: CallbackQuery,
    callback_data: RoadmapPage,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    await leave_item_edit(state)
    text, markup = await roadmap_screen(session, user, school, callback_data.page, today(settings))
    await show(query, text, markup)
