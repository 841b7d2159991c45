"""/documents: the documents people file today, generated as .docx for a period (issue 20).

The document (buttons), the period (typed as for /export, or a button), then the schools within
the user's rights — a school coordinator's own school, a curator's schools, a municipal
coordinator's municipality — re-checked against ``visible_schools_query`` whatever a button
carries. The file is read through a read-only session of its own and rendered in a thread
(``exports.documents.build_document``); nothing of the update stays open meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.pipeline.unit_of_work import commit_current_unit
from bot.ui import formatting as fmt
from bot.ui.access import allow
from bot.ui.callbacks import Cancel, DocKind, DocPeriod, DocSchoolsPage, DocScope
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager, clamp
from bot.ui.replies import show
from bot.ui.states import DocumentsForm
from exports.documents.build import build_document
from exports.documents.kinds import DocumentKind
from exports.schedule import PeriodError, format_period, parse_period
from handlers.export import period_problem as export_period_problem
from models import Municipality, Role, School, User
from models.errors import AccessDenied
from models.users import count_visible_schools, school_for, visible_schools_query

logger = logging.getLogger(__name__)
WRITERS = allow(Role.COORDINATOR, Role.CURATOR, Role.MUNICIPAL)
PER_PAGE = 8


def kinds_for(role: Role) -> list[DocumentKind]:
    """The municipal report is the municipal coordinator's; the rest are everyone's here."""
    kinds = [DocumentKind.SCHOOL, DocumentKind.ACTIVITIES, DocumentKind.NOTE]
    if role == Role.MUNICIPAL:
        kinds.insert(2, DocumentKind.MUNICIPAL)
    return kinds


def kind_name(kind: DocumentKind) -> str:
    return {
        DocumentKind.SCHOOL: _("School participation report"),
        DocumentKind.ACTIVITIES: _("Report on activities held"),
        DocumentKind.MUNICIPAL: _("Municipal report"),
        DocumentKind.NOTE: _("Analytic note"),
    }[kind]


def _kinds_keyboard(role: Role) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for kind in kinds_for(role):
        builder.button(text=kind_name(kind), callback_data=DocKind(kind=kind))
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    builder.adjust(1)
    return builder.as_markup()


def _periods_keyboard() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("Last week"), callback_data=DocPeriod(period="last_week"))
    builder.button(text=_("This week"), callback_data=DocPeriod(period="week"))
    builder.button(text=_("Last month"), callback_data=DocPeriod(period="last_month"))
    builder.button(text=_("This month"), callback_data=DocPeriod(period="month"))
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def period_problem(error: PeriodError) -> str:
    """What was wrong with a typed period (in /export's words), and what works here."""
    problem = export_period_problem(error).partition("\n")[0]
    return f"{problem}\n{period_hint()}"


def period_hint() -> str:
    return _(
        "Type the period as for /export: 01.09.2026-31.12.2026, week, last week, month, "
        "last month — or choose a button."
    )


@dataclass(frozen=True)
class _Turn:
    """What a step of the form works with, as aiogram hands it to the handler."""

    event: Message | CallbackQuery
    user: User
    state: FSMContext
    session: AsyncSession
    settings: Settings
    reads: async_sessionmaker[AsyncSession]

    async def form(self, *, scoped: bool = False) -> dict[str, Any] | None:
        return await _form(self.event, self.state, scoped=scoped)


async def _form(
    event: Message | CallbackQuery, state: FSMContext, *, scoped: bool = False
) -> dict[str, Any] | None:
    """The form's data; None — and the user told — when it is gone (an old button, a finished
    form) or, where ``scoped``, has not reached the schools yet."""
    data = await state.get_data()
    if data.get("kind") in set(DocumentKind) and (not scoped or "start" in data):
        return data
    await state.clear()
    text = _("This form is no longer open. /documents starts again.")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    else:
        await event.answer(text)
    return None


async def documents_command(message: Message, user: User, state: FSMContext) -> None:
    await state.clear()
    await message.answer(
        _("Which document shall I prepare?"), reply_markup=_kinds_keyboard(user.role)
    )


async def kind_chosen(
    query: CallbackQuery, callback_data: DocKind, user: User, state: FSMContext
) -> None:
    kind = callback_data.kind
    if kind not in kinds_for(user.role):
        await query.answer(_("This document is not available for your role."), show_alert=True)
        return
    await state.set_state(DocumentsForm.period)
    await state.set_data({"kind": kind.value})
    text = _("<b>{document}</b>\nFor which period?").format(document=kind_name(kind))
    await show(query, f"{text}\n{period_hint()}", _periods_keyboard())


async def period_typed(
    message: Message,
    user: User,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    read_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    turn = _Turn(message, user, state, session, settings, read_session_factory)
    await _period(turn, message.text)


async def period_chosen(
    query: CallbackQuery,
    callback_data: DocPeriod,
    user: User,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    read_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    turn = _Turn(query, user, state, session, settings, read_session_factory)
    await _period(turn, callback_data.period.replace("_", " "))


async def _period(turn: _Turn, text: str | None) -> None:
    """The period given: one school is built at once, more are chosen from a list."""
    data = await turn.form()
    if data is None:
        return
    try:
        start, end = parse_period(text, fmt.today(turn.settings))
    except PeriodError as error:
        await show(turn.event, period_problem(error), _periods_keyboard())
        return
    kind = DocumentKind(data["kind"])
    count = await count_visible_schools(turn.session, turn.user)
    if count == 0:
        await turn.state.clear()
        text = _("You have no schools yet, so there is nothing to put in a document.")
        await show(turn.event, text)
        return
    if count == 1:
        await turn.state.clear()
        await _build(turn, kind, start, end, visible_schools_query(turn.user))
        return
    await turn.state.set_state(DocumentsForm.scope)
    await turn.state.set_data({**data, "start": start.isoformat(), "end": end.isoformat()})
    screen, markup = await _scope_screen(
        turn.session, turn.user, kind, start, end, page=0, total=count
    )
    await show(turn.event, screen, markup)


async def _municipalities(session: AsyncSession, user: User) -> list[tuple[int, str, int]]:
    """(id, name, schools) of the municipalities among the user's schools, by name."""
    visible = visible_schools_query(user).subquery()
    rows = await session.execute(
        select(Municipality.id, Municipality.name, func.count())
        .join(visible, visible.c.municipality_id == Municipality.id)
        .group_by(Municipality.id, Municipality.name)
        .order_by(Municipality.name)
    )
    return [(mid, name, int(n)) for mid, name, n in rows]


async def _scope_screen(
    session: AsyncSession,
    user: User,
    kind: DocumentKind,
    start: date,
    end: date,
    *,
    page: int,
    total: int,
) -> tuple[str, InlineKeyboardMarkup]:
    """«All my schools», then the municipalities (when there are several) and the schools —
    the municipal report is of a whole municipality, so it lists no single schools."""
    entries: list[tuple[str, DocScope]] = []
    municipalities = await _municipalities(session, user)
    if len(municipalities) > 1:
        entries += [
            (f"{fmt.one_line(name, 40)} ({n})", DocScope(scope="municipality", target_id=mid))
            for mid, name, n in municipalities
        ]
    if kind != DocumentKind.MUNICIPAL:
        schools = await session.execute(
            visible_schools_query(user)
            .with_only_columns(School.id, School.short_name)
            .order_by(School.short_name, School.id)
        )
        entries += [
            (fmt.one_line(name, 40), DocScope(scope="school", target_id=sid))
            for sid, name in schools
        ]
    page = clamp(page, len(entries), PER_PAGE)
    builder = Keyboard()
    builder.button(
        text=_("All my schools ({count})").format(count=total),
        callback_data=DocScope(scope="all"),
    )
    for label, data in entries[page * PER_PAGE : (page + 1) * PER_PAGE]:
        builder.button(text=label, callback_data=data)
    pager = add_pager(
        builder,
        page=page,
        total=len(entries),
        per_page=PER_PAGE,
        button=lambda n: DocSchoolsPage(page=n),
    )
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    shown = len(entries[page * PER_PAGE : (page + 1) * PER_PAGE])
    builder.adjust(*([1] * (1 + shown)), *([pager] if pager else []), 1)
    text = _("<b>{document}</b> for {period}\nWhich schools?").format(
        document=kind_name(kind), period=format_period(start, end)
    )
    return text, builder.as_markup()


async def scope_page(
    query: CallbackQuery,
    callback_data: DocSchoolsPage,
    user: User,
    state: FSMContext,
    session: AsyncSession,
) -> None:
    data = await _form(query, state, scoped=True)
    if data is None:
        return
    start, end = date.fromisoformat(data["start"]), date.fromisoformat(data["end"])
    total = await count_visible_schools(session, user)
    kind = DocumentKind(data["kind"])
    text, markup = await _scope_screen(
        session, user, kind, start, end, page=callback_data.page, total=total
    )
    await show(query, text, markup)


async def _chosen_schools(session: AsyncSession, user: User, scope: DocScope) -> Select[Any]:
    """The select of the chosen schools, within the user's own; AccessDenied otherwise."""
    visible = visible_schools_query(user)
    if scope.scope == "school":
        school = await school_for(session, user, scope.target_id)
        return visible.where(School.id == school.id)
    if scope.scope == "municipality":
        chosen = visible.where(School.municipality_id == scope.target_id)
        found = await session.scalar(select(func.count()).select_from(chosen.subquery()))
        if not found:
            raise AccessDenied()
        return chosen
    return visible


async def scope_chosen(
    query: CallbackQuery,
    callback_data: DocScope,
    user: User,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    read_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    turn = _Turn(query, user, state, session, settings, read_session_factory)
    data = await turn.form(scoped=True)
    if data is None:
        return
    schools = await _chosen_schools(session, user, callback_data)
    await state.clear()
    start, end = date.fromisoformat(data["start"]), date.fromisoformat(data["end"])
    await _build(turn, DocumentKind(data["kind"]), start, end, schools)


async def _build(
    turn: _Turn, kind: DocumentKind, start: date, end: date, schools: Select[Any]
) -> None:
    period = format_period(start, end)
    text = _("⏳ Preparing «{document}» for {period}…")
    shown = await show(turn.event, text.format(document=kind_name(kind), period=period))
    if shown is None or shown.bot is None:
        return
    # Reading and rendering take seconds: nothing of this update's may stay open meanwhile
    # (on SQLite, the write lock); the file is read through a read-only session of its own.
    await commit_current_unit()
    try:
        async with (
            ChatActionSender.upload_document(bot=shown.bot, chat_id=shown.chat.id),
            turn.reads() as read,
        ):
            document = await build_document(
                read,
                kind,
                schools=schools,
                start=start,
                end=end,
                today=fmt.today(turn.settings),
                tz=turn.settings.tz,
                survey_min_responses=turn.settings.survey_min_responses,
            )
    except Exception:
        logger.exception("document %s %s for user %s failed", kind, period, turn.user.id)
        await shown.answer(_("The document could not be prepared. Please try again later."))
        return
    caption = _("📄 {document} for {period}\nSchools: {schools}").format(
        document=kind_name(kind), period=period, schools=document.schools
    )
    file = BufferedInputFile(document.data, filename=document.filename)
    try:
        await shown.answer_document(file, caption=caption)
    except TelegramEntityTooLarge:
        size = f"{len(document.data) / 1024 / 1024:.1f}"
        await shown.answer(
            _("The file is too large to send ({size} MB). Choose a shorter period.").format(
                size=size
            )
        )
    except TelegramBadRequest as error:
        logger.warning("document %s for user %s rejected: %s", kind, turn.user.id, error.message)
        await shown.answer(_("Telegram did not accept the file. Please try again later."))


async def period_expected(message: Message) -> None:
    await message.answer(period_hint(), reply_markup=_periods_keyboard())


async def scope_expected(message: Message) -> None:
    await message.answer(_("Choose the schools with the buttons above, or /cancel."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(documents_command, Command("documents"), flags=WRITERS)
    router.callback_query.register(kind_chosen, DocKind.filter(), flags=WRITERS)
    router.message.register(period_typed, DocumentsForm.period, F.text, flags=WRITERS)
    router.message.register(period_expected, DocumentsForm.period, flags=WRITERS)
    router.callback_query.register(
        period_chosen, DocumentsForm.period, DocPeriod.filter(), flags=WRITERS
    )
    router.callback_query.register(
        scope_page, DocumentsForm.scope, DocSchoolsPage.filter(), flags=WRITERS
    )
    router.callback_query.register(
        scope_chosen, DocumentsForm.scope, DocScope.filter(), flags=WRITERS
    )
    router.message.register(scope_expected, DocumentsForm.scope, flags=WRITERS)
    return router
