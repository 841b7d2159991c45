"""The 500+ risk profile takes what a group said in an anonymous survey as that group's answers,
instead of the coordinator guessing them; the question shows the figures with n and the day,
and every answer so taken keeps that mark on the question and on the result card.
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
        source = runs.SurveySource(figure.survey_id, figure.audience, figure.n, figure.on)
        await runs.save_answer(
            session, view, view.question_ids[question.code], figure.value, source=source
        )
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


def source_mark(source: runs.SurveySource) -> str:
    """«📊 by the survey of parents: n = 12, 01.12.2026» beside an answer taken from a survey."""
    marks = {
        "students": _("📊 by the survey of pupils: n = {n}, {day}"),
        "parents": _("📊 by the survey of parents: n = {n}, {day}"),
        "teachers": _("📊 by the survey of teachers: n = {n}, {day}"),
    }
    mark = marks.get(source.audience, _("📊 by an anonymous survey: n = {n}, {day}"))
    return mark.format(n=source.n, day=fmt.day(source.on))


def answer_text(question: diagnostics.Question, value: diagnostics.AnswerValue) -> str:
    """An option's label (the only kind a survey answers), else the value as stored."""
    if isinstance(value, int) and 0 <= value < len(question.options):
        option = question.options[value]
        return tr(option.label, option.label_en)
    return str(value)


def survey_answer_lines(view: runs.RunView) -> list[str]:
    """For the result card: each answer taken from a survey, with the survey's mark."""
    lines = []
    for question in view.questions:
        source = view.sources.get(question.code)
        if source is None or question.code not in view.answers:
            continue
        answer = answer_text(question, view.answers[question.code])
        lines.append(
            f"• {escape(tr(question.text, question.text_en))} — <b>{escape(answer)}</b>"
            f" · {source_mark(source)}"
        )
    if not lines:
        return []
    heading = _("<b>Answers from anonymous surveys: {count}</b>").format(count=len(lines))
    return ["", heading, *lines]


async def survey_note(
    session: AsyncSession, view: runs.RunView, question: diagnostics.Question, settings: Settings
) -> str:
    """The survey's figures for this question, with n and the day, and the mark of a current
    answer taken from a survey; or ""."""
    lines = []
    figure = (await _figures(session, view, settings)).get(question.code)
    if figure is not None:
        shares = " · ".join(
            f"{escape(tr(o.label, o.label_en))} {percent(o.share)}" for o in figure.result.options
        )
        lines.append(
            _("📊 Anonymous survey, {group} (n = {n}, {day}): {shares}").format(
                group=audience_name(figure.audience),
                n=figure.n,
                day=fmt.day(figure.on),
                shares=shares,
            )
        )
    source = view.sources.get(question.code)
    if source is not None:
        lines.append(
            _("Current answer: {mark}. An answer you choose replaces it.").format(
                mark=source_mark(source)
            )
        )
    return "\n".join(lines)
