"""An activity's card for the school's coordinator: its direction, deadline and responsible.

«✏ n» under /roadmap opens it. «Направление» offers the eight directions; «Срок» and
«Ответственный» wait for a typed answer (RoadmapItemEdit, the item id in the form data). Every
press and every answer reads the item again and checks that the user coordinates its school
(models/roadmap_items.py); every change is audited and committed before the reply.
"""

from __future__ import annotations

from html import escape

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.callbacks import ItemAction, RoadmapItemAction, RoadmapItemDirection
from bot.ui.formatting import fit, one_line, today, trim
from bot.ui.keyboards import roadmap as kb
from bot.ui.replies import edit_markup_by_id, show
from bot.ui.states import RoadmapItemEdit
from bot.ui.texts import direction_name, input_problem
from handlers.roadmap.screens import PAGE_SIZE, leave_item_edit, roadmap_screen
from handlers.roadmap.texts import direction_label, due_understood
from models import RoadmapItem, User
from models.errors import DomainError, InvalidInput
from models.roadmap_items import (
    item_for_coordinator,
    item_rank,
    set_direction,
    set_due,
    set_responsible,
)
from models.users import school_for


def _due(item: RoadmapItem) -> dict[str, str]:
    """The deadline as written and what the bot understood, for «{raw} → {understood}»."""
    raw = f"«{escape(one_line(item.due_raw, 200))}»" if item.due_raw else "—"
    understood = due_understood(item.due_kind, item.due_start, item.due_date, item.recurrence)
    return {"raw": raw, "understood": understood}


def _card(item: RoadmapItem, *extra: str, notice: str | None = None) -> str:
    """Title, section, direction, deadline as written → as understood, responsible."""
    lines = [notice, ""] if notice else []
    if item.number:
        lines.append(
            _("<b>Activity {number}</b>").format(number=escape(one_line(item.number, 20)))
        )
    else:
        lines.append("<b>" + _("Activity") + "</b>")
    lines.append(escape(one_line(item.title, 600)))
    if item.section:
        lines.append(_("Section: {section}").format(section=escape(one_line(item.section, 200))))
    lines.append(_("Direction: {value}").format(value=direction_label(item.direction)))
    lines.append(_("Deadline: {raw} → {understood}").format(**_due(item)))
    responsible = escape(trim(item.responsible, 500)) if item.responsible else "—"
    lines.append(_("Responsible: {value}").format(value=responsible))
    return fit([*lines, *extra])


async def item_action(
    query: CallbackQuery,
    callback_data: RoadmapItemAction,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    item = await item_for_coordinator(session, user, callback_data.item_id)
    action = callback_data.action
    if action in (ItemAction.DUE, ItemAction.RESPONSIBLE):
        await _ask(query, state, item, action)
        return
    await leave_item_edit(state)
    if action == ItemAction.LIST:
        school = await school_for(session, user, item.school_id)
        page = await item_rank(session, item) // PAGE_SIZE
        text, markup = await roadmap_screen(session, user, school, page, today(settings))
        await show(query, text, markup)
        return
    if action == ItemAction.DIRECTION:
        prompt = _("Choose the direction of the activity:")
        await show(query, _card(item, "", prompt), kb.item_directions(item.id, item.direction))
        return
    notice = None
    if action == ItemAction.NO_DIRECTION:
        set_direction(session, user, item, None)
        notice = _("✅ Saved: the activity has no direction.")
    await show(query, _card(item, notice=notice), kb.item_card(item.id))


async def direction_chosen(
    query: CallbackQuery,
    callback_data: RoadmapItemDirection,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    item = await item_for_coordinator(session, user, callback_data.item_id)
    await leave_item_edit(state)
    set_direction(session, user, item, callback_data.code)
    notice = _("✅ Direction saved: {direction}.").format(
        direction=direction_name(callback_data.code)
    )
    await show(query, _card(item, notice=notice), kb.item_card(item.id))


def _due_prompt() -> str:
    return _(
        "Write the deadline as in a roadmap: a date (15.03.2027), «до 15.03.2027», a period "
        "(01.03.2027 – 15.03.2027), a month (март 2027) or «ежеквартально»."
    )


async def _ask(
    query: CallbackQuery, state: FSMContext, item: RoadmapItem, action: ItemAction
) -> None:
    await leave_item_edit(state)  # «Срок» pressed while typing the responsible, or the reverse
    await state.update_data(item_id=item.id, prompt_id=None, return_state=await state.get_state())
    if action == ItemAction.DUE:
        await state.set_state(RoadmapItemEdit.due)
        prompt = _due_prompt()
    else:
        await state.set_state(RoadmapItemEdit.responsible)
        prompt = _(
            "Who is responsible? Write the name and position, e.g. «Иванова А.А., заместитель "
            "директора по УВР»; several people on separate lines."
        )
    shown = await show(query, _card(item, "", f"<b>{prompt}</b>"), kb.item_back(item.id))
    if shown is not None:
        # After the answer this message loses its «◀ Back»: the card comes anew below it.
        await state.update_data(prompt_id=shown.message_id)


async def _edited_item(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> RoadmapItem | None:
    """The item the typed answer is for, checked again; gone or foreign: the form ends."""
    item_id = (await state.get_data()).get("item_id")
    try:
        if not isinstance(item_id, int):
            raise InvalidInput("form_data")
        return await item_for_coordinator(session, user, item_id)
    except DomainError:
        await leave_item_edit(state)
        await message.answer(_("This item no longer exists or is not available to you."))
        return None


async def _saved(
    message: Message, state: FSMContext, bot: Bot, item: RoadmapItem, notice: str
) -> None:
    prompt_id = (await state.get_data()).get("prompt_id")
    await leave_item_edit(state)
    await show(message, _card(item, notice=notice), kb.item_card(item.id))
    if isinstance(prompt_id, int):
        await edit_markup_by_id(bot, message.chat.id, prompt_id)


async def due_given(
    message: Message,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
) -> None:
    item = await _edited_item(message, state, user, session)
    if item is None:
        return
    text = message.text or ""
    try:
        set_due(session, user, item, text, today=today(settings))
    except InvalidInput as error:
        if error.code != "due_unreadable":
            await message.answer(input_problem(error.code, error.params))
            return
        await message.answer(
            _(
                "The bot could not read a deadline from «{text}»; the deadline is unchanged."
            ).format(text=escape(one_line(text, 100)))
            + "\n"
            + _due_prompt()
        )
        return
    notice = _("✅ Deadline saved: {raw} → {understood}").format(**_due(item))
    await _saved(message, state, bot, item, notice)


async def responsible_given(
    message: Message, state: FSMContext, user: User, session: AsyncSession, bot: Bot
) -> None:
    item = await _edited_item(message, state, user, session)
    if item is None:
        return
    try:
        set_responsible(session, user, item, message.text or "")
    except InvalidInput as error:
        await message.answer(input_problem(error.code, error.params))
        return
    notice = _("✅ Responsible saved: {value}").format(value=escape(trim(item.responsible, 500)))
    await _saved(message, state, bot, item, notice)


async def item_edit_fallback(message: Message) -> None:
    await message.answer(_("Write the answer as text, or press «◀ Back» above."))
