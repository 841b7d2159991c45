"""/diagnostics: a coordinator's menu (continue, start, or start over a questionnaire), the
school list of curators and municipal coordinators.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.callbacks import DiagContinue, DiagRestart, DiagSchoolsPage, DiagStart
from bot.ui.keyboards import diagnostics as kb
from bot.ui.paging import clamp
from handlers.diagnostics.screens import present
from handlers.diagnostics.shared import (
    Step,
    chunks,
    day_of,
    inactive_text,
    level_title,
    on_active_run,
    own_school,
    row_title,
    show_card,
    title_of,
)
from models import Role, User, diagnostics
from models import diagnostic_runs as runs
from models.errors import NotFound
from models.users import count_visible_schools, school_coordinators, visible_schools

PAGE_SIZE = 10


def is_teacher(_event: object, user: User | None = None) -> bool:
    return user is not None and user.role == Role.TEACHER


async def diagnostics_for_teachers(message: Message, user: User, session: AsyncSession) -> None:
    """A teacher doesn't fill in the self-diagnosis: say who does, by name where we know it."""
    names = [
        escape(c.full_name or "—")
        for c in await school_coordinators(session, user.school_id or -1)
    ]
    if names:
        text = _(
            "The self-diagnosis is filled in by your school's coordinator: {names}. "
            "Curators and the municipal coordinator see its results."
        ).format(names=", ".join(names))
    else:
        text = _(
            "The self-diagnosis is filled in by your school's coordinator; your school has "
            "none in the bot yet. Ask your municipal coordinator for an invite for them."
        )
    await message.answer(text)


async def diagnostics_command(
    message: Message, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    await state.clear()
    await runs.sync_builtin_questionnaires(session)
    if user.role == Role.COORDINATOR:
        await coordinator_menu(message, session, user, settings)
    else:
        await schools_page(message, session, user, settings, page=0)


def unfinished_text(view: runs.RunView, settings: Settings) -> str:
    started = day_of(view.run.created_at, settings)
    if view.profile is None:
        return _(
            "Unfinished self-diagnosis «{title}» (started {date}): stopped at the school profile."
        ).format(title=title_of(view.questionnaire), date=started)
    return _(
        "Unfinished self-diagnosis «{title}» (started {date}): stopped at question "
        "{number} / {total}; the answers so far are saved."
    ).format(
        title=title_of(view.questionnaire),
        date=started,
        number=min(view.run.position + 1, view.total),
        total=view.total,
    )


async def coordinator_menu(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    settings: Settings,
    *,
    offer_unfinished: bool = True,
) -> None:
    school = await own_school(session, user)
    if offer_unfinished:
        run = await runs.unfinished_run(session, school.id)
        if run is not None:
            view = await runs.load_run(session, run)
            await replies.show(event, unfinished_text(view, settings), kb.resume_offer(run.id))
            return
    rows = await runs.questionnaires_for(session, school)
    latest = (await runs.latest_results(session, [school.id])).get(school.id, [])
    lines = [_("<b>Self-diagnosis</b> · {school}").format(school=escape(school.short_name))]
    for run, row in latest:
        lines.append(
            _("Latest result «{title}»: {level}, {date}").format(
                title=escape(row_title(row)),
                level=level_title(runs.definition_of(row), run.level),
                date=day_of(run.completed_at, settings),
            )
        )
    lines.append("")
    if rows:
        lines.append(
            _(
                "Choose a questionnaire. You can pause at any time and continue later "
                "with /diagnostics."
            )
        )
    else:
        lines.append(_("No questionnaires are available yet."))
    markup = kb.menu(
        [(row.id, row_title(row)) for row in rows],
        [(run.id, row_title(row)) for run, row in latest],
        can_import=True,
    )
    await replies.show(event, "\n".join(lines), markup)


async def schools_page(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    settings: Settings,
    *,
    page: int,
) -> None:
    total = await count_visible_schools(session, user)
    if total == 0:
        await replies.show(event, _("No schools yet."))
        return
    page = clamp(page, total, PAGE_SIZE)
    schools = await visible_schools(session, user, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    latest = await runs.latest_results(session, [school.id for school in schools])
    definitions: dict[int, diagnostics.Questionnaire] = {}
    lines = [
        _("<b>Self-diagnosis of your schools</b> ({first}–{last} of {total})").format(
            first=page * PAGE_SIZE + 1, last=page * PAGE_SIZE + len(schools), total=total
        )
    ]
    for school in schools:
        lines += ["", f"<b>{escape(school.short_name)}</b>"]
        results = latest.get(school.id, [])
        if not results:
            lines.append(_("no completed self-diagnosis yet"))
        for run, row in results:
            if row.id not in definitions:
                definitions[row.id] = runs.definition_of(row)
            lines.append(
                _("• {title}: {level}, {date}").format(
                    title=escape(row_title(row)),
                    level=level_title(definitions[row.id], run.level),
                    date=day_of(run.completed_at, settings),
                )
            )
    lines += ["", _("Tap a school to see its latest results.")]
    markup = kb.schools(
        [(school.id, school.short_name) for school in schools],
        page=page,
        total=total,
        page_size=PAGE_SIZE,
        can_import=user.role == Role.MUNICIPAL,
    )
    await show_card(event, chunks(lines), markup, in_place=True)


async def schools_page_turned(
    query: CallbackQuery,
    callback_data: DiagSchoolsPage,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    await schools_page(query, session, user, settings, page=callback_data.page)


# --- choosing, continuing, starting over -----------------------------------------------------


async def choose_questionnaire(
    query: CallbackQuery,
    callback_data: DiagStart,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await own_school(session, user)
    try:
        row = await runs.questionnaire_for(session, school, callback_data.questionnaire_id)
    except NotFound:
        await query.answer(inactive_text(), show_alert=True)
        return
    unfinished = await runs.unfinished_run(session, school.id, row.code)
    if unfinished is not None:
        view = await runs.load_run(session, unfinished)
        await replies.show(query, unfinished_text(view, settings), kb.resume_offer(unfinished.id))
        return
    run = await runs.start_run(session, school=school, row=row, actor_id=user.id)
    view = await runs.load_run(session, run)
    await present(Step(query, state, session, user, settings, view))


@on_active_run
async def continue_run(step: Step, _button: DiagContinue) -> None:
    await present(step)


@on_active_run
async def restart_run(step: Step, _button: DiagRestart) -> None:
    school = await own_school(step.session, step.user)
    if step.view.run.school_id != school.id:
        await step.alert(inactive_text())
        return
    # Starting over takes the questionnaire's current version; the old run is set aside.
    row = await runs.current_version(step.session, school, step.view.row)
    run = await runs.start_run(step.session, school=school, row=row, actor_id=step.user.id)
    await present(replace(step, view=await runs.load_run(step.session, run)))


async def other_questionnaire(
    query: CallbackQuery, user: User, session: AsyncSession, settings: Settings
) -> None:
    await runs.sync_builtin_questionnaires(session)
    await coordinator_menu(query, session, user, settings, offer_unfinished=False)
