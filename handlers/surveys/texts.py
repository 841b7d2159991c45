"""Words and figures of surveys shared by the coordinator's screens, /status and /diagnostics."""

from __future__ import annotations

import hashlib
from html import escape

from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting as fmt
from bot.ui.states import SURVEY_FSM_STATES
from models import Survey
from models import surveys as sv

# Form states that hold a respondent's unfinished answers: closing a survey deletes them.
FSM_STATES = SURVEY_FSM_STATES


def secret(settings: Settings) -> bytes:
    """The bot's secret for respondents' digests: derived from the token, never stored."""
    token = settings.bot_token.get_secret_value() if settings.bot_token is not None else ""
    return hashlib.sha256(b"survey-respondents:" + token.encode()).digest()


def tr(ru: str, en: str) -> str:
    """Questionnaire text in the user's language."""
    try:
        english = get_i18n().current_locale == "en"
    except LookupError:
        english = False
    return en if en and english else ru


def audience_name(audience: str) -> str:
    """The group, as a subject: «родители»."""
    names = {
        "students": _("pupils"),
        "parents": _("parents"),
        "teachers": _("teachers"),
    }
    return names.get(audience, audience)


def audience_for(audience: str) -> str:
    """For whom: «для родителей»."""
    names = {
        "students": _("for pupils"),
        "parents": _("for parents"),
        "teachers": _("for teachers"),
    }
    return names.get(audience, audience)


def form_name(form: str) -> str:
    names = {
        "risk500": _("500+ risk profile questions"),
        "feedback": _("feedback on the project"),
    }
    return names.get(form, form)


def group_label(survey: Survey) -> str:
    """«pupils, grades 6, 9» / «parents»."""
    label = audience_name(survey.audience)
    if survey.grades:
        label += ", " + _("grades {grades}").format(grades=survey.grades.replace(",", ", "))
    return label


def state_label(survey: Survey, settings: Settings) -> str:
    today = fmt.today(settings)
    if sv.is_closed(survey, today):
        return _("closed {day}").format(day=fmt.day(survey.closed_on or survey.closes_on))
    if survey.revoked:
        return _("link withdrawn, open until {day}").format(day=fmt.day(survey.closes_on))
    return _("open until {day}").format(day=fmt.day(survey.closes_on))


def percent(share: float) -> str:
    return f"{round(share * 100)}%"


def result_lines(results: sv.SurveyResults, settings: Settings) -> list[str]:
    """Counts and shares per option, with n; only n and why while open or below the minimum n."""
    if results.hidden == "open":
        return [
            _("Responses so far: {n}.").format(n=results.n),
            _(
                "The results will appear once the survey is closed (if at least {min} people "
                "answered): this way nobody can be recognised by the difference between two "
                "looks."
            ).format(min=settings.survey_min_responses),
        ]
    if not results.shown:
        return [
            _(
                "Results are shown from {min} responses on, so that nobody can be "
                "recognised (now: {n})."
            ).format(min=settings.survey_min_responses, n=results.n)
        ]
    lines = [
        _("n = {n}, last response {day}").format(n=results.n, day=fmt.day(results.on)),
    ]
    for number, question in enumerate(results.questions, start=1):
        lines += [
            "",
            f"<b>{number}. {escape(tr(question.question.text, question.question.text_en))}</b>",
        ]
        lines += [
            "   "
            + " · ".join(
                f"{escape(tr(o.label, o.label_en))} — {o.count} ({percent(o.share)})"
                for o in question.options
            )
        ]
    return lines


async def status_line(session: AsyncSession, school_id: int, settings: Settings) -> str | None:
    """One line for /status: the latest survey of each group, with n."""
    surveys = await sv.school_surveys(session, school_id)
    if not surveys:
        return None
    today = fmt.today(settings)
    seen: set[str] = set()
    parts = []
    for survey in surveys:
        if survey.audience in seen:
            continue
        seen.add(survey.audience)
        part = _("{group}: n = {n}").format(
            group=audience_name(survey.audience), n=survey.responses
        )
        if survey.last_response_on is not None:
            part += f" ({fmt.day(survey.last_response_on)})"
        if not sv.is_closed(survey, today):
            part += " — " + _("results after closing")
        elif survey.responses < settings.survey_min_responses:
            part += " — " + _("too few to show")
        parts.append(part)
    return _("Anonymous surveys: {parts}").format(parts="; ".join(parts))
