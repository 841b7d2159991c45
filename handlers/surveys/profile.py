"""The 500+ risk profile takes what a group said in an anonymous survey as that group's answers,
instead of the coordinator guessing them; the question shows the figures with n and the day.
"""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting as fmt
from handlers.surveys.texts import audience_name, percent, tr
from models import diagnostic_runs as runs
from models import diagnostics
from models import surveys as sv


async def _figures(
    session: AsyncSession, view: runs.RunView, settings: Settings
) -> dict[str, sv.Figure]:
    if view.questionnaire.code != "risk500":
        return {}
    return await sv.risk_figures(
        session,
        view.run.school_id,
        min_responses=settings.survey_min_responses,
        today=fmt.today(settings),
    )


async def take_survey_answers(
    session: AsyncSession, view: runs.RunView, settings: Settings
) -> str:
    """Answer the questions ahead that a survey answered; a line saying so, or ""."""
    figures = await _figures(session, view, settings)
    taken: dict[str, sv.Figure] = {}
    while (question := view.current) is not None and question.code not in view.answers:
        figure = figures.get(question.code)
        if figure is None:
            break
        await runs.save_answer(session, view, view.question_ids[question.code], figure.value)
        taken.setdefault(figure.audience, figure)
    if not taken:
        return ""
    groups = "; ".join(
        _("{group}: n = {n}, {day}").format(
            group=audience_name(f.audience), n=f.n, day=fmt.day(f.on)
        )
        for f in taken.values()
    )
    return _("📊 Answers taken from the anonymous surveys ({groups}).").format(groups=groups)


async def survey_note(
    session: AsyncSession, view: runs.RunView, question: diagnostics.Question, settings: Settings
) -> str:
    """The survey's figures for this question, with n and the day, or ""."""
    figure = (await _figures(session, view, settings)).get(question.code)
    if figure is None:
        return ""
    shares = " · ".join(
        f"{escape(tr(o.label, o.label_en))} {percent(o.share)}" for o in figure.result.options
    )
    return _("📊 Anonymous survey, {group} (n = {n}, {day}): {shares}").format(
        group=audience_name(figure.audience), n=figure.n, day=fmt.day(figure.on), shares=shares
    )
