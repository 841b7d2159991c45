"""Commands every user has: /cancel, /help, /lang, /whoami."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ui import replies as edits
from bot.ui.access import EVERY_ROLE, allow, public, refuse
from bot.ui.callbacks import Cancel, LangChoice
from bot.ui.commands import commands_for, set_user_commands
from bot.ui.keyboards import common as keyboards
from bot.ui.keyboards.report import main_menu
from bot.ui.routing import narrow
from bot.ui.states import (
    AddSchool,
    DiagnosticsForm,
    DocumentsForm,
    EvidenceForm,
    InviteForm,
    ReportForm,
    ReviewForm,
    RoadmapImport,
    RoadmapItemEdit,
    SurveyAnswering,
)
from bot.ui.texts import role_name
from handlers.report.draft import earlier_form_button
from handlers.surveys.respond import cancel_survey, command_during_survey
from models import Role, User
from models.audit import record
from models.users import visible_schools


def _cancelled(state_name: str | None, data: dict[str, Any]) -> str:
    """What a cancel closed, in the user's words: it depends on the form it was pressed in."""
    group = (state_name or "").split(":")[0]
    if group == ReportForm.__name__:
        draft = data.get("draft")
        report_id = draft.get("report_id") if isinstance(draft, dict) else None
        if report_id:
            return _("Changes to report №{id} are discarded; the report stays as it was.").format(
                id=report_id
            )
        return _("The report draft is discarded. /report starts a new one.")
    texts = {
        EvidenceForm.__name__: _("Adding evidence is finished; what you sent is saved."),
        InviteForm.__name__: _("The invite is cancelled; no link was made."),
        AddSchool.__name__: _("Adding the school is cancelled; nothing was saved."),
        DiagnosticsForm.__name__: _(
            "The self-diagnosis is paused; your answers are saved. /diagnostics continues it."
        ),
        ReviewForm.__name__: _("The return is cancelled; the report stays in the review queue."),
        RoadmapImport.__name__: _("The import is cancelled; the roadmap is unchanged."),
        RoadmapItemEdit.__name__: _("The change is cancelled; the activity stays as it was."),
        DocumentsForm.__name__: _("The document is cancelled; nothing was prepared."),
    }
    if group in texts:
        return texts[group]
    if state_name:
        return _("The form is closed; saved answers stay.")
    return _("There is nothing to cancel.")


async def cancel_command(message: Message, state: FSMContext) -> None:
    current = await state.get_state()
    if current == SurveyAnswering.question.state:
        # The survey's answers are dropped; a form the person had open before comes back.
        await message.answer(await cancel_survey(state))
        return
    text = _cancelled(current, await state.get_data())
    await state.clear()
    await message.answer(text)


async def cancel_button(
    query: CallbackQuery, callback_data: Cancel, state: FSMContext, user: User | None
) -> None:
    current = await state.get_state()
    if user is None and current is None:
        await refuse(query, stranger=True)
        return
    if current == SurveyAnswering.question.state:
        # A «✖ Cancel» or «Keep it» left under an earlier screen: the survey (and the form
        # kept inside it) stays; /cancel is how to leave a survey.
        await earlier_form_button(query)
        return
    if callback_data.form and current is not None:
        draft = (await state.get_data()).get("draft")
        key = draft.get("key") if isinstance(draft, dict) else None
        if not isinstance(key, str) or not key.startswith(callback_data.form):
            # «Отмена» under an earlier report form: whatever is in progress now stays.
            await earlier_form_button(query)
            return
    # A button without a form behind it (e.g. «Оставить» under a delete question) closes itself.
    text = _cancelled(current, await state.get_data()) if current else _("Closed.")
    await state.clear()
    if isinstance(query.message, Message):
        await edits.edit_text(query.message, text)


async def help_command(message: Message, user: User | None) -> None:
    role = user.role if user else None
    lines = [_("<b>What you can do here</b>")]
    if role is None:
        lines.append(
            _(
                "This bot is for schools, their curators and municipal coordinators. "
                "To get access, ask your municipal coordinator or curator for an invite link "
                "and open it."
            )
        )
    else:
        lines.append(_("You are registered as: {role}.").format(role=role_name(role)))
    lines += [f"/{c.command} — {c.description}" for c in commands_for(role)]
    await message.answer("\n".join(lines))


async def whoami(message: Message, user: User, session: AsyncSession) -> None:
    schools = await visible_schools(session, user, limit=11)
    names = ", ".join(escape(s.short_name) for s in schools[:10])
    if len(schools) > 10:
        names += ", …"
    await message.answer(
        _("Telegram id: <code>{tg_id}</code>\nRole: {role}\nSchools: {schools}").format(
            tg_id=user.telegram_id, role=role_name(user.role), schools=names or "—"
        )
    )


async def lang_command(message: Message) -> None:
    await message.answer(_("Choose the language:"), reply_markup=keyboards.languages())


async def lang_chosen(
    query: CallbackQuery,
    callback_data: LangChoice,
    user: User,
    session: AsyncSession,
    i18n: I18n,
    bot: Bot,
) -> None:
    if callback_data.code not in i18n.available_locales:
        await query.answer(_("This language is not available."), show_alert=True)
        return
    user.locale = callback_data.code
    record(
        session,
        actor_id=user.id,
        action="locale_set",
        object_type="user",
        object_id=user.id,
        locale=callback_data.code,
    )
    with i18n.use_locale(callback_data.code):
        text = (
            _("Language set: English.")
            if callback_data.code == "en"
            else _("Language set: Russian.")
        )
        if user.role in (Role.TEACHER, Role.COORDINATOR):
            # The on-screen menu keeps the language it was drawn in: draw it anew.
            if isinstance(query.message, Message):
                await edits.edit_markup(query.message, None)
            await bot.send_message(user.telegram_id, text, reply_markup=main_menu())
        elif isinstance(query.message, Message):
            await edits.edit_text(query.message, text)
        await set_user_commands(bot, user.telegram_id, user.role)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    # Only commands and its own buttons reach these handlers: everything else passes on at once.
    router = narrow(Router(name=__name__), commands=True, buttons=(Cancel, LangChoice))
    router.message.register(cancel_command, Command("cancel"), flags=public())
    router.callback_query.register(cancel_button, Cancel.filter(), flags=public())
    router.message.register(help_command, Command("help"), flags=public())
    router.message.register(whoami, Command("whoami"), flags=allow(EVERY_ROLE))
    router.message.register(lang_command, Command("lang"), flags=allow(EVERY_ROLE))
    router.callback_query.register(lang_chosen, LangChoice.filter(), flags=allow(EVERY_ROLE))
    # Any other command during a survey (a survey link, /start <token>, still opens one).
    router.message.register(
        command_during_survey,
        SurveyAnswering.question,
        F.text.startswith("/"),
        ~F.text.startswith("/start"),
        flags=public(),
    )
    return router
