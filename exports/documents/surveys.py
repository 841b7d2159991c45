"""Anonymous surveys in the documents: the school report's table, the municipal report's action
and the analytic note's section, from the surveys that ran in the period (created by its end,
not closed before its start).

Figures only of closed surveys with enough answers (exports/surveys.py); for the others the
reason is printed, never a count. Summaries across schools add up the latest shown survey of
each group of each school, and name per question the share who chose its least favourable
answer (the option with the most risk points). Wording: ``[surveys]`` in vocabulary.toml and
each document's own template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exports.documents.common import Request, day, listing, period, say, words
from exports.documents.docx import Bold, Cell, Paragraph
from exports.documents.facts import SchoolInfo
from exports.documents.templates import fill
from exports.surveys import (
    State,
    SurveyFacts,
    group_name,
    load_surveys,
    percent,
    riskiest,
    status_key,
)
from models.surveys import AUDIENCES

Surveys = dict[int, list[SurveyFacts]]


async def load(session: AsyncSession, request: Request, schools: Sequence[SchoolInfo]) -> Surveys:
    return await load_surveys(
        session,
        [school.id for school in schools],
        min_responses=request.survey_min_responses,
        today=request.today,
        start=request.start,
        end=request.end,
    )


def _say(key: str, **facts: Any) -> str:
    return fill(words("surveys")[key], facts)


def group(survey: SurveyFacts) -> str:
    texts = words("surveys")
    return group_name(survey, one_grade=texts["group_grade"], grades=texts["group_grades"])


def status(survey: SurveyFacts) -> str:
    return _say(status_key(survey), date=day(survey.ends_on))


def reason(survey: SurveyFacts, request: Request) -> str:
    """Why a survey's figures are not shown."""
    if survey.state == State.OPEN:
        return _say("after_closing", n=survey.n)
    return _say("too_few", min=request.survey_min_responses)


def rule(request: Request) -> str:
    return _say("rule", min=request.survey_min_responses)


def results(survey: SurveyFacts, request: Request) -> list[Paragraph]:
    """Per question the share (and number) of each answer, or why there are none."""
    if survey.state != State.SHOWN:
        return [reason(survey, request)]
    out: list[Paragraph] = []
    if survey.last_on is not None:
        out.append(_say("last_response", date=day(survey.last_on)))
    separator = _say("option_separator")
    for number, question in enumerate(survey.questions, 1):
        out.append([Bold(_say("question", number=number, question=question.question.text))])
        out.append(
            separator.join(
                _say(
                    "option",
                    option=option.label,
                    percent=percent(option.share),
                    count=option.count,
                )
                for option in question.options
            )
        )
    return out


def school_rows(surveys: Sequence[SurveyFacts], request: Request) -> list[Sequence[Cell]]:
    """The school report's table: a row per survey, newest first."""
    return [
        [
            f"{number}.",
            survey.title,
            group(survey),
            [period(survey.created_on, survey.ends_on), status(survey)],
            str(survey.n),
            results(survey, request),
        ]
        for number, survey in enumerate(surveys, 1)
    ]


@dataclass
class _Question:
    text: str
    answer: str
    chosen: int = 0
    total: int = 0


@dataclass
class _Group:
    title: str
    respondents: str
    n: int = 0
    surveys: int = 0
    questions: dict[str, _Question] = field(default_factory=dict)


def _groups(surveys: Surveys) -> list[_Group]:
    """The latest shown survey of each school, form and group, added up per form and group."""
    groups: dict[tuple[str, str], _Group] = {}
    for school_surveys in surveys.values():
        seen: set[tuple[str, str]] = set()
        for survey in school_surveys:  # newest first
            key = (survey.form, survey.audience)
            if survey.state != State.SHOWN or key in seen:
                continue
            seen.add(key)
            group = groups.setdefault(key, _Group(survey.title, survey.respondents))
            group.n += survey.n
            group.surveys += 1
            for result in survey.questions:
                option = result.options[riskiest(result)]
                found = group.questions.setdefault(
                    result.question.code, _Question(result.question.text, option.label)
                )
                found.chosen += option.count
                found.total += result.n
    ordered = sorted(groups.items(), key=lambda kv: (kv[1].title, _rank(kv[0][1])))
    return [group for _key, group in ordered]


def _rank(audience: str) -> int:
    """Pupils, parents, teachers: the order the bot lists the groups in."""
    return AUDIENCES.index(audience) if audience in AUDIENCES else len(AUDIENCES)


def _worst_questions(questions: Sequence[_Question], limit: int) -> str:
    ranked = sorted(
        (q for q in questions if q.total),
        key=lambda q: (-q.chosen / q.total, q.text),
    )
    shown = _say("option_separator").join(
        _say(
            "worst",
            question=q.text,
            answer=q.answer,
            percent=percent(q.chosen / q.total),
        )
        for q in ranked[:limit]
    )
    if len(ranked) > limit:
        shown += " " + say("more", count=len(ranked) - limit)
    return shown


def summary_facts(
    schools: Sequence[SchoolInfo], surveys: Surveys, request: Request, limit: int
) -> dict[str, Any]:
    """Facts for a summary across schools: counts, answers per group, the worst answers."""
    every = [survey for school in schools for survey in surveys.get(school.id, [])]
    states = Counter(survey.state for survey in every)
    answered: Counter[str] = Counter()
    order: dict[str, int] = {}
    for survey in every:
        answered[survey.respondents] += survey.n
        order.setdefault(survey.respondents, _rank(survey.audience))
    with_surveys = [s for s in schools if surveys.get(s.id)]
    missing = [s.short_name for s in schools if not surveys.get(s.id)]
    groups = _groups(surveys)
    return {
        "surveys": len(every),
        "survey_schools": len(with_surveys),
        "surveys_missing": listing(missing) if missing and every else "",
        "survey_groups": _say("option_separator").join(
            _say("answered", group=name, n=n)
            for name, n in sorted(answered.items(), key=lambda kv: order[kv[0]])
        ),
        "surveys_shown": states[State.SHOWN],
        "surveys_open": states[State.OPEN],
        "surveys_too_few": states[State.TOO_FEW],
        "survey_min": request.survey_min_responses,
        "survey_rule": rule(request),
        "survey_results": [
            {
                "questionnaire": group.title,
                "group": group.respondents,
                "n": group.n,
                "group_surveys": group.surveys,
                "worst": _worst_questions(list(group.questions.values()), limit),
            }
            for group in groups
        ],
        "survey_dates": [d for s in every for d in (s.created_on, s.ends_on)],
    }
