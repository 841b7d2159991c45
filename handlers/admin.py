"""Municipal coordinators register schools and create invites; curators list their schools."""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting as fmt
from bot.ui import paging
from bot.ui import replies as edits
from bot.ui.access import OVERSIGHT, allow
from bot.ui.callbacks import (
    InviteDone,
    InviteForSchool,
    InviteRole,
    InviteSchool,
    MunicipalityPick,
    ProjectChoice,
    SchoolsPage,
)
from bot.ui.keyboards import common as keyboards
from bot.ui.markup import Keyboard
from bot.ui.routing import narrow
from bot.ui.states import AddSchool, InviteForm
from bot.ui.texts import project_name, role_name
from models import Municipality, Role, User
from models.errors import InvalidInput
from models.invites import create_invite, invite_link
from models.users import (
    add_school,
    count_visible_schools,
    get_or_create_municipality,
    list_municipalities,
    school_for,
    visible_schools,
)

MUNICIPAL = allow(Role.MUNICIPAL)
MAX_NAME = 300


# --- /addschool -----------------------------------------------------------------------------


async def add_school_start(
    message: Message, state: FSMContext, user: User, session: AsyncSession
) -> None:
    await state.clear()
    if user.municipality_id is None:
        await state.set_state(AddSchool.municipality)
        known = await list_municipalities(session)
        await message.answer(
            _("Which municipality is the school in? Choose one or type its name."),
            reply_markup=keyboards.municipalities(known[:20]),
        )
        return
    await state.update_data(municipality_id=user.municipality_id)
    await state.set_state(AddSchool.name)
    await message.answer(_("Send the full name of the school, as in its charter."))


async def add_school_municipality_picked(
    query: CallbackQuery, callback_data: MunicipalityPick, state: FSMContext, session: AsyncSession
) -> None:
    if await session.get(Municipality, callback_data.municipality_id) is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await state.update_data(municipality_id=callback_data.municipality_id)
    await state.set_state(AddSchool.name)
    await edits.show(query, _("Send the full name of the school, as in its charter."))


async def add_school_municipality_typed(
    message: Message, state: FSMContext, session: AsyncSession
) -> None:
    name = (message.text or "").strip()
    if not 2 <= len(name) <= 200:
        await message.answer(_("The name must be 2 to 200 characters long. Try again."))
        return
    municipality = await get_or_create_municipality(session, name)
    await state.update_data(municipality_id=municipality.id)
    await state.set_state(AddSchool.name)
    await message.answer(_("Send the full name of the school, as in its charter."))


async def add_school_name(message: Message, state: FSMContext) -> None:
    name = " ".join((message.text or "").split())
    if not 3 <= len(name) <= MAX_NAME:
        await message.answer(
            _("The name must be {min} to {max} characters long. Try again.").format(
                min=3, max=MAX_NAME
            )
        )
        return
    await state.update_data(name=name)
    await state.set_state(AddSchool.short_name)
    await message.answer(
        _(
            "Now a short name people use, e.g. «СОШ №2 Дальнереченск». "
            "Send «-» to use the full name."
        )
    )


async def add_school_short_name(message: Message, state: FSMContext) -> None:
    short = " ".join((message.text or "").split())
    if short in {"-", "—"}:
        short = ""
    if len(short) > 100:
        await message.answer(
            _("The short name must be at most {max} characters. Try again.").format(max=100)
        )
        return
    await state.update_data(short_name=short or None)
    await state.set_state(AddSchool.project)
    await message.answer(_("Which project is the school in?"), reply_markup=keyboards.projects())


async def add_school_project(
    query: CallbackQuery,
    callback_data: ProjectChoice,
    state: FSMContext,
    session: AsyncSession,
    user: User,
) -> None:
    project = callback_data.value
    data = await state.get_data()
    try:
        school = await add_school(
            session,
            municipality_id=int(data["municipality_id"]),
            name=str(data["name"]),
            short_name=data.get("short_name"),
            project=project,
            actor_id=user.id,
        )
    except InvalidInput as error:
        await state.clear()
        text = (
            _("A school with this name is already registered in this municipality.")
            if error.code == "school_exists"
            else _("That did not work. Please check and try again.")
        )
        await edits.show(query, text)
        return
    await state.clear()
    builder = Keyboard()
    builder.button(
        text=_("Create an invite link"), callback_data=InviteForSchool(school_id=school.id)
    )
    await edits.show(
        query,
        _("School registered: {name} ({project}), id {id}.").format(
            name=escape(school.name), project=project_name(project), id=school.id
        ),
        builder.as_markup(),
    )


async def add_school_fallback(message: Message) -> None:
    await message.answer(
        _("Please answer with text, or use the buttons above. /cancel leaves the form.")
    )


# --- /schools -------------------------------------------------------------------------------


async def list_schools(message: Message, user: User, session: AsyncSession) -> None:
    total = await count_visible_schools(session, user)
    if total == 0:
        await message.answer(_("No schools yet."))
        return
    schools = await visible_schools(session, user, limit=50)
    lines = [_("<b>Schools: {count}</b>").format(count=total)]
    lines += [f"{s.id} · {escape(s.short_name)}" for s in schools]
    if total > len(schools):
        lines.append(_("… and {count} more.").format(count=total - len(schools)))
    await message.answer("\n".join(lines))


# --- /invite --------------------------------------------------------------------------------


INVITABLE = (Role.TEACHER, Role.COORDINATOR, Role.CURATOR, Role.MUNICIPAL)


async def invite_start(message: Message, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(InviteForm.role)
    await message.answer(_("Whom do you invite?"), reply_markup=keyboards.invite_roles(INVITABLE))


async def invite_for_school(
    query: CallbackQuery,
    callback_data: InviteForSchool,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    await state.clear()
    await state.set_state(InviteForm.role)
    await state.update_data(preset_school=school.id)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("Whom do you invite to {school}?").format(school=escape(school.short_name)),
            reply_markup=keyboards.invite_roles((Role.TEACHER, Role.COORDINATOR, Role.CURATOR)),
        )


async def _show_school_picker(
    query: CallbackQuery, state: FSMContext, user: User, session: AsyncSession, page: int
) -> None:
    data = await state.get_data()
    role = Role(data["role"])
    total = await count_visible_schools(session, user)
    if total == 0:
        await state.clear()
        await edits.show(query, _("Register a school first: /addschool"))
        return
    page = paging.clamp(page, total, keyboards.PAGE_SIZE)
    schools = await visible_schools(
        session, user, offset=page * keyboards.PAGE_SIZE, limit=keyboards.PAGE_SIZE
    )
    multi = role == Role.CURATOR
    text = (
        _("Choose the curator's schools, then press «Done».") if multi else _("Choose the school:")
    )
    await edits.show(
        query,
        text,
        keyboards.school_picker(
            schools,
            page=page,
            total=total,
            purpose="invite",
            selected=frozenset(data.get("school_ids", [])),
            multi=multi,
        ),
    )


async def invite_role(
    query: CallbackQuery,
    callback_data: InviteRole,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
) -> None:
    role = callback_data.role
    await state.update_data(role=role.value, school_ids=[])
    data = await state.get_data()
    if role == Role.MUNICIPAL:
        if user.municipality_id is None:
            await state.set_state(InviteForm.municipality)
            known = await list_municipalities(session)
            if not known:
                await state.clear()
                await edits.show(query, _("Register a school first: /addschool"))
                return
            await edits.show(
                query,
                _("Which municipality will they coordinate?"),
                keyboards.municipalities(known[:20]),
            )
            return
        await _finish_invite(
            query, state, user, session, bot, settings, municipality_id=user.municipality_id
        )
        return
    preset = data.get("preset_school")
    if preset is not None:
        await state.update_data(school_ids=[preset])
        await _finish_invite(query, state, user, session, bot, settings)
        return
    await state.set_state(InviteForm.schools)
    await _show_school_picker(query, state, user, session, page=0)


async def invite_municipality(
    query: CallbackQuery,
    callback_data: MunicipalityPick,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
) -> None:
    if await session.get(Municipality, callback_data.municipality_id) is None:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await _finish_invite(
        query, state, user, session, bot, settings, municipality_id=callback_data.municipality_id
    )


async def invite_page(
    query: CallbackQuery,
    callback_data: SchoolsPage,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    await state.update_data(page=callback_data.page)
    await _show_school_picker(query, state, user, session, page=callback_data.page)


async def invite_school(
    query: CallbackQuery,
    callback_data: InviteSchool,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    data = await state.get_data()
    if Role(data["role"]) != Role.CURATOR:
        await state.update_data(school_ids=[school.id])
        await _finish_invite(query, state, user, session, bot, settings)
        return
    selected = set(data.get("school_ids", []))
    selected ^= {school.id}
    await state.update_data(school_ids=sorted(selected))
    page = int(data.get("page", 0))
    await _show_school_picker(query, state, user, session, page=page)


async def invite_done(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
) -> None:
    data = await state.get_data()
    if not data.get("school_ids"):
        await query.answer(_("Choose at least one school."), show_alert=True)
        return
    await _finish_invite(query, state, user, session, bot, settings)


async def _finish_invite(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    *,
    municipality_id: int | None = None,
) -> None:
    data: dict[str, Any] = await state.get_data()
    role = Role(data["role"])
    school_ids = [int(i) for i in data.get("school_ids", [])]
    # Re-check every id against what this coordinator may see: FSM data came through callbacks.
    for school_id in school_ids:
        await school_for(session, user, school_id)
    created = await create_invite(
        session,
        role=role,
        school_ids=school_ids,
        municipality_id=municipality_id,
        created_by=user,
        ttl=timedelta(days=settings.invite_ttl_days),
    )
    await state.clear()
    username = settings.bot_username or (await bot.me()).username or ""
    link = invite_link(username, created.token)
    await edits.show(
        query,
        _(
            "Invite for the role «{role}». Send this link to the person; it works until "
            "{expires} and can be used {uses} time(s):\n\n{link}"
        ).format(
            role=role_name(role),
            expires=fmt.day(created.invite.expires_at.astimezone(settings.tz).date()),
            uses=created.invite.max_uses,
            link=link,
        ),
    )


async def invite_fallback(message: Message) -> None:
    await message.answer(_("Please use the buttons above. /cancel leaves the form."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    buttons = (MunicipalityPick, ProjectChoice, InviteForSchool, InviteRole, SchoolsPage)
    router = narrow(
        Router(name=__name__),
        commands=True,
        states=(AddSchool, InviteForm),
        buttons=(*buttons, InviteSchool, InviteDone),
    )
    router.message.register(add_school_start, Command("addschool"), flags=MUNICIPAL)
    router.callback_query.register(
        add_school_municipality_picked,
        AddSchool.municipality,
        MunicipalityPick.filter(),
        flags=MUNICIPAL,
    )
    router.message.register(
        add_school_municipality_typed, AddSchool.municipality, F.text, flags=MUNICIPAL
    )
    router.message.register(add_school_name, AddSchool.name, F.text, flags=MUNICIPAL)
    router.message.register(add_school_short_name, AddSchool.short_name, F.text, flags=MUNICIPAL)
    router.callback_query.register(
        add_school_project, AddSchool.project, ProjectChoice.filter(), flags=MUNICIPAL
    )
    router.message.register(add_school_fallback, StateFilter(AddSchool), flags=MUNICIPAL)
    router.message.register(list_schools, Command("schools"), flags=allow(OVERSIGHT))
    router.message.register(invite_start, Command("invite"), flags=MUNICIPAL)
    router.callback_query.register(invite_for_school, InviteForSchool.filter(), flags=MUNICIPAL)
    router.callback_query.register(
        invite_role, InviteForm.role, InviteRole.filter(), flags=MUNICIPAL
    )
    router.callback_query.register(
        invite_municipality, InviteForm.municipality, MunicipalityPick.filter(), flags=MUNICIPAL
    )
    router.callback_query.register(
        invite_page, InviteForm.schools, SchoolsPage.filter(F.purpose == "invite"), flags=MUNICIPAL
    )
    router.callback_query.register(
        invite_school, InviteForm.schools, InviteSchool.filter(), flags=MUNICIPAL
    )
    router.callback_query.register(
        invite_done, InviteForm.schools, InviteDone.filter(), flags=MUNICIPAL
    )
    router.message.register(invite_fallback, StateFilter(InviteForm), flags=MUNICIPAL)
    return router
