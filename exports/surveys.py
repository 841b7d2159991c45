"""Anonymous surveys as the XLSX export and the documents show them (issue 21).

A survey's figures are shown only once it is closed and only from ``min_responses`` answers
on: a figure of an open survey, watched as it moves from n to n + 1, would give the latest
answer away, and a handful of answers can be told apart. ``State`` says which of the three a
survey is in, and ``SurveyFacts.questions`` is empty unless it is ``SHOWN``: nothing that
writes a file can print a hidden count by mistake. The rule is checked here too (not only in
models/surveys.py), so an export never shows an open survey's figures.

Names come from the questionnaires' own data (their titles, their respondents' titles); the
wording around them belongs to each output (xlsx_surveys.py, documents/templates).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from models import surveys as sv

# The default of ``Settings.survey_min_responses`` (bot/config.py; exports can't import bot):
# callers pass the configured value, a test keeps the two equal.
DEFAULT_MIN_RESPONSES: Final = 5
_IDS_PER_QUERY: Final = 500  # schools per query: a region's ids stay within SQLite's limits


class State(StrEnum):
    SHOWN = "shown"
    OPEN = "open"  # figures once it closes
    TOO_FEW = "too_few"  # closed with fewer than the minimum of answers


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    """One survey as an output may show it; ``questions`` only when ``state`` is SHOWN."""

    school_id: int
    form: str
    audience: str
    grades: tuple[int, ...]
    created_on: date
    ends_on: date  # the day it closed, or the day it closes
    closed: bool
    revoked: bool
    n: int
    last_on: date | None
    state: State
    questions: tuple[sv.QuestionResult, ...]

    @property
    def title(self) -> str:
        return questionnaire_title(self.form)

    @property
    def respondents(self) -> str:
        return respondent_title(self.form, self.audience)


def facts_of(results: sv.SurveyResults, today: date) -> SurveyFacts:
    survey = results.survey
    closed = sv.is_closed(survey, today)
    if not closed:
        state = State.OPEN
    elif not results.shown:
        state = State.TOO_FEW
    else:
        state = State.SHOWN
    return SurveyFacts(
        school_id=survey.school_id,
        form=survey.form,
        audience=survey.audience,
        grades=parse_grades(survey.grades),
        created_on=survey.created_on,
        ends_on=survey.closed_on or survey.closes_on,
        closed=closed,
        revoked=bool(survey.revoked),
        n=results.n,
        last_on=results.on if state == State.SHOWN else None,
        state=state,
        questions=results.questions if state == State.SHOWN else (),
    )


async def load_surveys(
    session: AsyncSession,
    school_ids: Iterable[int],
    *,
    min_responses: int,
    today: date,
    start: date | None = None,
    end: date | None = None,
) -> dict[int, list[SurveyFacts]]:
    """Every survey of the schools (running in [start, end] when given), newest first."""
    ids = list(school_ids)
    found: dict[int, list[SurveyFacts]] = {school_id: [] for school_id in ids}
    for first in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[first : first + _IDS_PER_QUERY]
        by_school = await sv.school_survey_results(
            session, chunk, min_responses=min_responses, today=today
        )
        for school_id, results in by_school.items():
            for result in results:
                survey = result.survey
                ends_on = survey.closed_on or survey.closes_on
                if start is not None and ends_on < start:
                    continue
                if end is not None and survey.created_on > end:
                    continue
                found[school_id].append(facts_of(result, today))
    return found


def questionnaire_title(form: str) -> str:
    try:
        return sv.questionnaire(form).title
    except (KeyError, OSError, ValueError):  # a form this version of the bot doesn't know
        return form


def respondent_title(form: str, audience: str) -> str:
    """«обучающиеся», «родители», «учителя»: as the questionnaire names its respondents."""
    try:
        respondents = sv.questionnaire(form).respondents
    except (KeyError, OSError, ValueError):
        return audience
    return next((r.title for r in respondents if r.code == audience), audience)


def group_name(survey: SurveyFacts, *, one_grade: str, grades: str) -> str:
    """The respondents, with the pupils' grades filled into a wording given as
    ``{group} {grades} …``: «обучающиеся 5–7, 9 классов», «обучающиеся 6 класса», «родители»."""
    if not survey.grades:
        return survey.respondents
    text = one_grade if len(survey.grades) == 1 else grades
    return text.format(group=survey.respondents, grades=grade_span(survey.grades))


def status_key(survey: SurveyFacts) -> Literal["closed", "revoked", "open"]:
    """Closed (by hand or by date); not taking answers as its link was withdrawn; or open."""
    return "closed" if survey.closed else "revoked" if survey.revoked else "open"


def parse_grades(grades: str | None) -> tuple[int, ...]:
    if not grades:
        return ()
    return tuple(sorted({int(g) for g in grades.split(",") if g.strip().isdigit()}))


def grade_span(grades: Sequence[int]) -> str:
    """5, 6, 7, 9 → «5–7, 9»: runs of grades as ranges."""
    runs: list[list[int]] = []
    for grade in sorted(set(grades)):
        if runs and grade == runs[-1][-1] + 1:
            runs[-1].append(grade)
        else:
            runs.append([grade])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


def riskiest(question: sv.QuestionResult) -> int:
    """The option with the most risk points (the first of equals): the least favourable."""
    return max(range(len(question.options)), key=lambda i: (question.options[i].points, -i))


def percent(share: float, digits: int = 0) -> float | int:
    value = round(share * 100, digits)
    return int(value) if digits == 0 else value
