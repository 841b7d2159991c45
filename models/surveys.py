"""Anonymous surveys of pupils, parents and teachers by link: questions from data, counters only.

Anonymity is a property of the schema, not a promise of the code:

* an answer is stored only as ``+1`` on a counter (``survey_counts``): no response row exists,
  so nothing ties one person's answers together or to anyone;
* the one-response-per-person check keeps a keyed digest (HMAC of the Telegram id with a
  per-survey salt and a secret of the bot) in ``survey_respondents``; closing the survey deletes
  the digests and the salt, and with them any way to test an id against the survey;
* dates only (``created_on``, ``closes_on``, ``last_response_on``), never a time of day;
* results are given out only once the survey is closed (its counters can no longer move, so
  nobody can learn one person's answers from the difference between two looks) and only when
  at least ``min_responses`` people answered; while it is open, only n so far is shown.

A respondent's answers in progress live in their form state (keyed by their Telegram id, like
every form); finishing deletes it, and closing a survey deletes the unfinished ones (giving back
the person's own other form, if one was set aside in ``stash`` when they opened the link).

Surveys are data: the 500+ form asks a group the risk-profile questions whose ``respondent`` is
that group (models/questionnaires/risk500.toml, with their risk points); the feedback form is
models/questionnaires/surveys/feedback.toml, in the same schema and read by the same loader.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal, TypeAlias, get_args

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import diagnostics
from models.entities import FsmRecord, School, Survey, SurveyCount, SurveyRespondent, User
from models.errors import InvalidInput
from models.invites import hash_token

Form: TypeAlias = Literal["risk500", "feedback"]
Audience: TypeAlias = Literal["students", "parents", "teachers"]
FORMS: Final[tuple[str, ...]] = get_args(Form)
AUDIENCES: Final[tuple[str, ...]] = get_args(Audience)
GRADES: Final[tuple[int, ...]] = tuple(range(1, 12))
OPTION_KINDS: Final = frozenset({"yesno", "choice", "scale"})
FEEDBACK_FILE: Final = diagnostics.BUILTIN_DIR / "surveys" / "feedback.toml"
TOKEN_BYTES: Final = 18


# --- the questions ---------------------------------------------------------------------------


@functools.cache
def questionnaire(form: str) -> diagnostics.Questionnaire:
    """The questionnaire a form takes its questions from."""
    if form == "feedback":
        return diagnostics.load_questionnaire(FEEDBACK_FILE)
    return diagnostics.builtin_questionnaires()[form]


def questions(form: str, audience: str) -> list[diagnostics.Question]:
    """What this group is asked, in questionnaire order: questions with buttons only."""
    return [
        q
        for q in questionnaire(form).questions
        if q.respondent == audience and q.kind in OPTION_KINDS and q.options
    ]


def audiences(form: str) -> list[str]:
    """The groups this form has questions for."""
    return [a for a in AUDIENCES if questions(form, a)]


# --- life cycle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedSurvey:
    survey: Survey
    token: str


def is_open(survey: Survey, today: date) -> bool:
    """Taking answers: not closed by hand, not past its closing day, link not revoked."""
    return survey.closed_on is None and survey.closes_on >= today and not survey.revoked


def is_closed(survey: Survey, today: date) -> bool:
    return survey.closed_on is not None or survey.closes_on < today


async def create_survey(
    session: AsyncSession,
    *,
    school: School,
    form: str,
    audience: str,
    grades: Collection[int],
    closes_on: date,
    today: date,
    created_by: User | None,
) -> CreatedSurvey:
    """A new survey with zeroed counters and its link's token (only the hash is kept)."""
    asked = questions(form, audience)
    if not asked:
        raise InvalidInput("survey_no_questions")
    if closes_on < today:
        raise InvalidInput("survey_closes_in_past")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    survey = Survey(
        school_id=school.id,
        form=form,
        version=questionnaire(form).version,
        audience=audience,
        grades=",".join(str(g) for g in sorted(set(grades))) if audience == "students" else None,
        token_hash=hash_token(token),
        salt=secrets.token_hex(32),
        created_by_id=created_by.id if created_by is not None else None,
        created_on=today,
        closes_on=closes_on,
        responses=0,
    )
    session.add(survey)
    await session.flush()
    session.add_all(
        SurveyCount(survey_id=survey.id, question=q.code, option=i, count=0)
        for q in asked
        for i in range(len(q.options))
    )
    await session.flush()
    return CreatedSurvey(survey, token)


async def by_token(session: AsyncSession, token: str) -> Survey | None:
    return await session.scalar(select(Survey).where(Survey.token_hash == hash_token(token)))


async def new_link(session: AsyncSession, survey: Survey) -> str:
    """A fresh token: the old link stops working, the new one works (unless closed)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    survey.token_hash = hash_token(token)
    survey.revoked = False
    await session.flush()
    return token


def extend(survey: Survey, days: int, today: date) -> None:
    """Move the closing day on; a closed survey (by hand or by date) stays closed, since its
    figures may have been shown and more answers would give them away by difference."""
    if is_closed(survey, today):
        raise InvalidInput("survey_closed")
    survey.closes_on = max(survey.closes_on, today) + timedelta(days=days)


async def close_survey(
    session: AsyncSession, survey: Survey, today: date, fsm_states: Collection[str]
) -> None:
    """Close now: no more answers; the digests, the salt and unfinished answers are destroyed."""
    if survey.closed_on is None:
        survey.closed_on = min(today, survey.closes_on)
    await _forget(session, [survey.id], fsm_states)


async def purge_closed(session: AsyncSession, today: date, fsm_states: Collection[str]) -> int:
    """Destroy what could link people to surveys that closed by date; returns how many."""
    ids = list(
        await session.scalars(
            select(Survey.id).where(
                Survey.salt.is_not(None),
                or_(Survey.closed_on.is_not(None), Survey.closes_on < today),
            )
        )
    )
    if ids:
        await session.execute(
            update(Survey)
            .where(Survey.id.in_(ids), Survey.closed_on.is_(None))
            .values(closed_on=Survey.closes_on)
        )
        await _forget(session, ids, fsm_states)
    return len(ids)


async def _forget(session: AsyncSession, ids: Sequence[int], fsm_states: Collection[str]) -> None:
    await session.execute(
        update(Survey)
        .where(Survey.id.in_(ids))
        .values(salt=None)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(delete(SurveyRespondent).where(SurveyRespondent.survey_id.in_(ids)))
    if fsm_states:
        # Few rows: only people in the middle of some survey. JSON paths differ by dialect.
        rows = await session.execute(
            select(FsmRecord.key, FsmRecord.data).where(FsmRecord.state.in_(fsm_states))
        )
        stale: list[str] = []
        for key, data in rows:
            if (data or {}).get("survey") not in ids:
                continue
            kept = data.get("stash")
            if isinstance(kept, dict) and isinstance(kept.get("data"), dict):
                # The person's own form, set aside when they opened the link, comes back.
                await session.execute(
                    update(FsmRecord)
                    .where(FsmRecord.key == key)
                    .values(state=kept.get("state"), data=kept["data"])
                    .execution_options(synchronize_session=False)
                )
            else:
                stale.append(key)
        if stale:
            await session.execute(delete(FsmRecord).where(FsmRecord.key.in_(stale)))


# --- respondents -----------------------------------------------------------------------------


def respondent_digest(survey: Survey, telegram_id: int, secret: bytes) -> str | None:
    """HMAC of the id under the survey's salt and the bot's secret; None once closed.

    Telegram ids are few enough to try them all against a plain salted hash; the secret is
    not in the database, so a copy of it alone can't do that either.
    """
    if survey.salt is None:
        return None
    key = hashlib.sha256(secret + survey.salt.encode()).digest()
    return hmac.new(key, str(telegram_id).encode(), hashlib.sha256).hexdigest()


async def has_responded(session: AsyncSession, survey: Survey, digest: str) -> bool:
    found = await session.get(SurveyRespondent, (survey.id, digest))
    return found is not None


async def record_response(
    session: AsyncSession, survey: Survey, digest: str, answers: Sequence[int], today: date
) -> None:
    """Count one complete response. InvalidInput: survey_closed, survey_answered, answer_invalid.

    Nothing is written when any check fails.
    """
    if not is_open(survey, today) or survey.salt is None:
        raise InvalidInput("survey_closed")
    asked = questions(survey.form, survey.audience)
    if len(answers) != len(asked) or any(
        not isinstance(a, int) or not 0 <= a < len(q.options)
        for q, a in zip(asked, answers, strict=False)
    ):
        raise InvalidInput("answer_invalid")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = await session.execute(
        insert(SurveyRespondent)
        .values(survey_id=survey.id, digest=digest)
        .on_conflict_do_nothing()
    )
    if getattr(added, "rowcount", 1) == 0:
        raise InvalidInput("survey_answered")
    await session.execute(
        update(SurveyCount)
        .where(
            SurveyCount.survey_id == survey.id,
            or_(
                *(
                    and_(SurveyCount.question == q.code, SurveyCount.option == a)
                    for q, a in zip(asked, answers, strict=True)
                )
            ),
        )
        .values(count=SurveyCount.count + 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Survey)
        .where(Survey.id == survey.id)
        .values(responses=Survey.responses + 1, last_response_on=today)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(survey, ["responses", "last_response_on"])


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionResult:
    label: str
    label_en: str
    points: float
    count: int
    share: float


@dataclass(frozen=True)
class QuestionResult:
    question: diagnostics.Question
    n: int
    options: tuple[OptionResult, ...]

    @property
    def typical(self) -> int:
        """The option whose risk points are nearest the mean; a tie goes to the riskier one."""
        mean = sum(o.points * o.count for o in self.options) / self.n if self.n else 0.0
        return min(
            range(len(self.options)),
            key=lambda i: (abs(self.options[i].points - mean), -self.options[i].points),
        )


Hidden: TypeAlias = Literal["", "open", "few"]


@dataclass(frozen=True)
class SurveyResults:
    """What a survey found; ``shown`` is False (and ``questions`` empty) while the survey is open
    (``hidden == "open"``) or when fewer than the minimum n answered (``hidden == "few"``)."""

    survey: Survey
    n: int
    shown: bool
    questions: tuple[QuestionResult, ...]
    hidden: Hidden = ""

    @property
    def on(self) -> date | None:
        """The day of the latest response counted."""
        return self.survey.last_response_on


def is_final(survey: Survey, today: date | None = None) -> bool:
    """The counters can no longer move: closed by hand, or (given ``today``) by its date.

    Without ``today`` only a survey marked closed counts (by hand, or by purge_closed
    once its date passed): a caller that doesn't know the region's day never shows too early.
    """
    return survey.closed_on is not None or (today is not None and survey.closes_on < today)


def hidden_reason(survey: Survey, *, min_responses: int, today: date | None = None) -> Hidden:
    """Why a survey's figures can't be shown ("open" or "few"), or "" when they can."""
    if not is_final(survey, today):
        return "open"
    if survey.responses < max(min_responses, 1):
        return "few"
    return ""


async def survey_results(
    session: AsyncSession, survey: Survey, *, min_responses: int, today: date | None = None
) -> SurveyResults:
    """Counts and shares per option, only for a closed survey that at least ``min_responses``
    people answered (see is_final for ``today``); otherwise n and the reason only."""
    n = survey.responses
    hidden = hidden_reason(survey, min_responses=min_responses, today=today)
    if hidden:
        return SurveyResults(survey, n, False, (), hidden)
    rows = await session.execute(
        select(SurveyCount.question, SurveyCount.option, SurveyCount.count).where(
            SurveyCount.survey_id == survey.id
        )
    )
    counts = {(q, o): c for q, o, c in rows}
    try:
        asked = [
            q
            for q in questions(survey.form, survey.audience)
            if (q.code, 0) in counts  # a question of a newer version was not asked
        ]
    except KeyError:
        asked = []
    results = []
    for q in asked:
        per = [counts.get((q.code, i), 0) for i in range(len(q.options))]
        total = sum(per)
        results.append(
            QuestionResult(
                q,
                total,
                tuple(
                    OptionResult(o.label, o.label_en, o.points, c, c / total if total else 0.0)
                    for o, c in zip(q.options, per, strict=True)
                ),
            )
        )
    return SurveyResults(survey, n, True, tuple(results))


async def school_surveys(
    session: AsyncSession, school_id: int, *, limit: int = 20
) -> Sequence[Survey]:
    """A school's surveys, newest first."""
    rows = await session.scalars(
        select(Survey)
        .where(Survey.school_id == school_id)
        .order_by(Survey.created_on.desc(), Survey.id.desc())
        .limit(limit)
    )
    return rows.all()


async def school_survey_results(
    session: AsyncSession,
    school_ids: Iterable[int],
    *,
    min_responses: int,
    today: date | None = None,
) -> dict[int, list[SurveyResults]]:
    """Every survey of these schools with its results (hidden while open or below
    ``min_responses``), newest first, by school: for the XLSX export and the documents."""
    ids = list(school_ids)
    found: dict[int, list[SurveyResults]] = {school_id: [] for school_id in ids}
    if not ids:
        return found
    rows = await session.scalars(
        select(Survey)
        .where(Survey.school_id.in_(ids))
        .order_by(Survey.school_id, Survey.created_on.desc(), Survey.id.desc())
    )
    for survey in rows.all():
        found[survey.school_id].append(
            await survey_results(session, survey, min_responses=min_responses, today=today)
        )
    return found


@dataclass(frozen=True)
class Figure:
    """A risk-profile question answered by a survey of its group: the typical answer, n, day."""

    audience: str
    value: int
    n: int
    on: date | None
    result: QuestionResult
    survey_id: int | None = None


async def risk_figures(
    session: AsyncSession,
    school_id: int,
    *,
    min_responses: int,
    form: str = "risk500",
    today: date | None = None,
) -> dict[str, Figure]:
    """By question code: what the latest closed 500+ survey of each group with enough answers
    says (an open one's figures are not given out; see is_final for ``today``)."""
    closed: ColumnElement[bool] = Survey.closed_on.is_not(None)
    if today is not None:
        closed = or_(closed, Survey.closes_on < today)
    rows = await session.scalars(
        select(Survey)
        .where(
            Survey.school_id == school_id,
            Survey.form == form,
            Survey.responses >= max(min_responses, 1),
            closed,
        )
        .order_by(
            func.coalesce(Survey.last_response_on, Survey.created_on).desc(), Survey.id.desc()
        )
    )
    figures: dict[str, Figure] = {}
    done: set[str] = set()
    for survey in rows.all():
        if survey.audience in done:
            continue
        done.add(survey.audience)
        results = await survey_results(session, survey, min_responses=min_responses, today=today)
        for result in results.questions:
            if result.n and result.question.code not in figures:
                figures[result.question.code] = Figure(
                    survey.audience, result.typical, result.n, results.on, result, survey.id
                )
    return figures
