"""The result card of a self-diagnosis: scores, deficits (each one tap from the school's
roadmap), the comparison with the previous run; opened from the menu or a school.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from html import escape

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.callbacks import DiagSchool, DiagToRoadmap, DiagView, ItemAction, RoadmapItemAction
from bot.ui.formatting import trim
from bot.ui.keyboards import diagnostics as kb
from bot.ui.markup import Keyboard
from handlers.diagnostics.shared import (
    Step,
    chunks,
    day_of,
    inactive_text,
    level_title,
    num,
    show_card,
    signed,
    title_of,
    tr,
)
from handlers.surveys.profile import survey_answer_lines
from models import DiagnosticRun, Role, RunStatus, School, User, diagnostics
from models import diagnostic_runs as runs
from models.errors import InvalidInput
from models.users import school_for

logger = logging.getLogger(__name__)


async def finish(step: Step) -> None:
    result = await runs.finish_run(step.session, step.view, actor_id=step.user.id)
    await step.state.clear()
    parts, markup = await result_card(step.session, step.view, result, step.user, step.settings)
    await show_card(step.event, parts, markup, in_place=True)


def numbered_deficits(
    result: diagnostics.DiagnosticResult,
) -> list[tuple[int, int, int, diagnostics.Deficit]]:
    """(number on the card, direction index, item index, deficit), as stored on the run."""
    items: list[tuple[int, int, int, diagnostics.Deficit]] = []
    for direction_index, score in enumerate(result.directions):
        for item_index, deficit in enumerate(score.deficits):
            items.append((len(items) + 1, direction_index, item_index, deficit))
    return items


async def result_card(
    session: AsyncSession,
    view: runs.RunView,
    result: diagnostics.DiagnosticResult,
    user: User,
    settings: Settings,
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    run, questionnaire = view.run, view.questionnaire
    risk = questionnaire.kind == "risk_profile"
    school = await session.get(School, run.school_id)
    heading = (
        _("<b>Risk profile result</b> · {title}")
        if risk
        else _("<b>Self-diagnosis result</b> · {title}")
    )
    lines = [
        heading.format(title=title_of(questionnaire)),
        _("{school}, completed {date}").format(
            school=escape(school.short_name if school else "—"),
            date=day_of(run.completed_at, settings),
        ),
    ]
    if questionnaire.profile:
        profile = result.profile
        lines.append(
            _("Profile: {levels}; pupils with ОВЗ: {ovz}").format(
                levels=", ".join(
                    lvl for lvl in diagnostics.SCHOOL_LEVELS if lvl in profile.levels
                ),
                ovz=_("yes") if profile.ovz else _("no"),
            )
        )
    overall = result.overall
    total_text = (
        _("<b>Overall: {points} of {max} risk points — {level}</b>")
        if risk
        else _("<b>Overall: {points} of {max} points — {level}</b>")
    )
    lines += [
        "",
        total_text.format(
            points=num(overall.points),
            max=num(overall.max_points),
            level=level_title(questionnaire, overall.level),
        ),
        "",
        _("<b>By risk factor</b>") if risk else _("<b>By direction</b>"),
    ]
    for score in result.directions:
        direction = questionnaire.direction(score.direction)
        lines.append(
            _("• {title}: {points} of {max} — {level}").format(
                title=escape(tr(direction.title, direction.title_en)),
                points=num(score.points),
                max=num(score.max_points),
                level=level_title(questionnaire, score.level),
            )
        )

    deficits = numbered_deficits(result)
    can_edit_roadmap = user.role == Role.COORDINATOR and user.school_id == run.school_id
    lines.append("")
    if risk:
        lines.append(_("<b>Risk factors found: {count}</b>").format(count=len(deficits)))
    else:
        lines.append(_("<b>Deficits: {count}</b>").format(count=len(deficits)))
    if not deficits:
        lines.append(_("No risk factors found.") if risk else _("No deficits found."))
    shown_direction = None
    for number, direction_index, _item, deficit in deficits:
        if not risk and direction_index != shown_direction:
            shown_direction = direction_index
            direction = questionnaire.direction(deficit.direction)
            lines.append(f"<u>{escape(tr(direction.title, direction.title_en))}</u>")
        lines.append(f"{number}. {escape(tr(deficit.text, deficit.text_en))}")
    if deficits and can_edit_roadmap:
        lines.append(_("Tap one below to add it to the school's roadmap."))

    if overall.unknown:
        lines += [
            "",
            _("<b>Answered «don't know»: {count}</b>").format(count=len(overall.unknown)),
        ]
        for code in overall.unknown:
            question = questionnaire.question(code)
            lines.append("• " + escape(tr(question.text, question.text_en)))

    lines += survey_answer_lines(view)

    lines += await comparison_lines(session, view, result, settings)

    lines.append("")
    if risk:
        lines.append(
            _(
                "<i>This is the bot's own estimate from your answers, not the official FIOKO "
                "risk profile.</i>"
            )
        )
    elif result.estimate:
        lines.append(
            _(
                "<i>The levels are the bot's estimate with configurable thresholds, not an "
                "official result.</i>"
            )
        )

    markup = None
    if can_edit_roadmap and deficits:
        stored = run.result or {"directions": []}
        titles = [
            stored["directions"][d]["deficits"][i]
            for _n, d, i, _x in deficits
            if d < len(stored["directions"]) and i < len(stored["directions"][d]["deficits"])
        ]
        present_titles = await runs.roadmap_titles(session, run.school_id, titles)
        added = set()
        for number, d, i, _deficit in deficits:
            try:
                title = stored["directions"][d]["deficits"][i]
            except (IndexError, KeyError):
                continue
            if title in present_titles:
                added.add(number)
        markup = kb.result_actions(
            run.id,
            [(n, d, i, tr(x.text, x.text_en)) for n, d, i, x in deficits],
            added,
        )
    return chunks(lines), markup


async def comparison_lines(
    session: AsyncSession,
    view: runs.RunView,
    result: diagnostics.DiagnosticResult,
    settings: Settings,
) -> list[str]:
    previous = await runs.previous_completed_run(session, view.run)
    if previous is None:
        return []
    before_view = await runs.load_run(session, previous)
    try:
        change = diagnostics.compare(result, runs.score_view(before_view))
    except (ValueError, diagnostics.DiagnosticsError):
        logger.warning("runs %s and %s cannot be compared", view.run.id, previous.id)
        return []
    now_q, before_q = view.questionnaire, before_view.questionnaire
    risk = now_q.kind == "risk_profile"
    lines = [
        "",
        _("<b>Compared with the previous self-diagnosis of {date}</b>").format(
            date=day_of(previous.completed_at, settings)
        ),
    ]
    overall = change.overall
    if overall.level_change:
        lines.append(
            _("Overall: {delta} points, level {before} → {after}").format(
                delta=signed(overall.points_delta),
                before=level_title(before_q, overall.previous_level),
                after=level_title(now_q, overall.current_level),
            )
        )
    else:
        lines.append(
            _("Overall: {delta} points, level unchanged ({level})").format(
                delta=signed(overall.points_delta),
                level=level_title(now_q, overall.current_level),
            )
        )
    for delta in change.directions:
        if abs(delta.points_delta) < 1e-9 and not delta.level_change:
            continue
        direction = now_q.direction(delta.direction or "")
        title = escape(tr(direction.title, direction.title_en))
        if delta.level_change:
            lines.append(
                _("• {title}: {delta}, {before} → {after}").format(
                    title=title,
                    delta=signed(delta.points_delta),
                    before=level_title(before_q, delta.previous_level),
                    after=level_title(now_q, delta.current_level),
                )
            )
        else:
            lines.append(
                _("• {title}: {delta}").format(title=title, delta=signed(delta.points_delta))
            )
    text = (
        _("Risk factors no longer found: {closed}; newly found: {new}.")
        if risk
        else _("Deficits closed: {closed}; new: {new}.")
    )
    lines.append(text.format(closed=len(change.resolved_deficits), new=len(change.new_deficits)))
    return lines


async def view_run(
    query: CallbackQuery,
    callback_data: DiagView,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    run = await runs.run_for(session, user, callback_data.run_id)
    if run.status != RunStatus.COMPLETED:
        await query.answer(inactive_text(), show_alert=True)
        return
    await send_cards(query, session, [run], user, settings)


async def view_school(
    query: CallbackQuery,
    callback_data: DiagSchool,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    school = await school_for(session, user, callback_data.school_id)
    latest = (await runs.latest_results(session, [school.id])).get(school.id, [])
    if not latest:
        await query.answer(
            _("{school} has no completed self-diagnosis yet.").format(school=school.short_name),
            show_alert=True,
        )
        return
    await send_cards(query, session, [run for run, _row in latest], user, settings)


async def send_cards(
    event: Message | CallbackQuery,
    session: AsyncSession,
    completed: Sequence[DiagnosticRun],
    user: User,
    settings: Settings,
) -> None:
    for run in completed:
        view = await runs.load_run(session, run)
        parts, markup = await result_card(session, view, runs.score_view(view), user, settings)
        await show_card(event, parts, markup, in_place=False)


async def add_to_roadmap(
    query: CallbackQuery,
    callback_data: DiagToRoadmap,
    user: User,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    run = await runs.run_for(session, user, callback_data.run_id)
    # The roadmap is shared school data: its section is written in the bot's default language.
    with i18n.use_locale(i18n.default_locale):
        section = _("From the self-diagnosis")
    try:
        item, created = await runs.add_deficit_to_roadmap(
            session,
            run,
            callback_data.direction,
            callback_data.item,
            section=section,
            actor_id=user.id,
        )
    except InvalidInput:
        await query.answer(inactive_text(), show_alert=True)
        return
    if not created:
        await query.answer(_("The school's roadmap already has this item."), show_alert=True)
        return
    view = await runs.load_run(session, run)
    _parts, markup = await result_card(session, view, runs.score_view(view), user, settings)
    if isinstance(query.message, Message):
        await replies.edit_markup(query.message, markup)
        # A deficit comes without a deadline or a responsible: one tap to the activity's card.
        builder = Keyboard()
        builder.button(
            text=_("✏ Set the deadline and the responsible"),
            callback_data=RoadmapItemAction(action=ItemAction.OPEN, item_id=item.id),
        )
        await query.message.answer(
            _("Added to the school's roadmap: {title}").format(title=escape(trim(item.title, 150)))
            + "\n"
            + _("It has no deadline and no responsible yet."),
            reply_markup=builder.as_markup(),
        )
