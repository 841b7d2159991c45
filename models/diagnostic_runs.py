"""Self-diagnosis in the database: runs and answers, results, roadmap items from deficits.

A run is the source of truth for a school's progress: its profile (empty until asked), its
position in the questions that apply to that profile, and one Answer row per question. So a
pause, a /cancel or a restart of the bot loses nothing. Results are computed by the pure
``models.diagnostics`` against the exact questionnaire version the run was asked with. The
questionnaire rows live in ``models.diagnostic_questionnaires``; this module re-exports them.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import diagnostics
from models.audit import record
from models.base import utcnow
from models.diagnostic_questionnaires import (
    BUILTIN,
    IMPORT_EVERYWHERE,
    IMPORT_PREFIX,
    current_version,
    definition_of,
    import_questionnaire,
    import_scope,
    questionnaire_for,
    questionnaires_for,
    sync_builtin_questionnaires,
)
from models.entities import (
    Answer,
    DiagnosticRun,
    Question,
    Questionnaire,
    RoadmapItem,
    School,
    User,
)
from models.enums import RunStatus
from models.errors import InvalidInput, NotFound
from models.users import school_for

__all__ = [
    "BUILTIN",
    "IMPORT_EVERYWHERE",
    "IMPORT_PREFIX",
    "RunView",
    "SurveySource",
    "abandon_run",
    "add_deficit_to_roadmap",
    "current_version",
    "deficit_at",
    "definition_of",
    "finish_run",
    "import_questionnaire",
    "import_scope",
    "latest_results",
    "load_run",
    "previous_completed_run",
    "profile_of_school",
    "questionnaire_for",
    "questionnaires_for",
    "result_json",
    "roadmap_titles",
    "run_for",
    "save_answer",
    "score_view",
    "set_profile",
    "start_run",
    "step_back",
    "sync_builtin_questionnaires",
    "unfinished_run",
]


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveySource:
    """An answer taken from an anonymous survey: which survey, its group, n and day."""

    survey_id: int | None
    audience: str
    n: int
    on: date | None


@dataclass
class RunView:
    """A run with what its steps need: the parsed questionnaire, question ids, answers
    (and, by question code, the survey those taken from a survey came from)."""

    run: DiagnosticRun
    row: Questionnaire
    questionnaire: diagnostics.Questionnaire
    question_ids: Mapping[str, int]
    answers: dict[str, diagnostics.AnswerValue]
    sources: dict[str, SurveySource] = field(default_factory=dict)

    @property
    def profile(self) -> diagnostics.Profile | None:
        """None while the profile has not been confirmed for this run."""
        if not self.run.profile:
            return None
        return diagnostics.Profile.from_dict(self.run.profile)

    @property
    def questions(self) -> list[diagnostics.Question]:
        profile = self.profile
        return [] if profile is None else self.questionnaire.questions_for(profile)

    @property
    def total(self) -> int:
        return len(self.questions)

    @property
    def current(self) -> diagnostics.Question | None:
        """The question asked now; None during the profile step or when all are answered."""
        questions = self.questions
        if 0 <= self.run.position < len(questions):
            return questions[self.run.position]
        return None

    @property
    def asks_profile(self) -> frozenset[str]:
        return frozenset(p.code for p in self.questionnaire.profile)

    def next_position(self, after: int) -> int:
        """First unanswered question after ``after``, else the first anywhere, else the end."""
        questions = self.questions
        for index in itertools.chain(range(after + 1, len(questions)), range(len(questions))):
            if questions[index].code not in self.answers:
                return index
        return len(questions)


async def run_for(session: AsyncSession, user: User, run_id: int) -> DiagnosticRun:
    """The run if this user may see its school; ids from callbacks are never trusted."""
    run = await session.get(DiagnosticRun, run_id)
    if run is None:
        raise NotFound()
    await school_for(session, user, run.school_id)
    return run


async def load_run(session: AsyncSession, run: DiagnosticRun) -> RunView:
    row = await session.get(Questionnaire, run.questionnaire_id)
    if row is None:  # the foreign key is RESTRICT; kept for type checkers
        raise NotFound()
    ids = dict(
        (
            await session.execute(
                select(Question.code, Question.id).where(Question.questionnaire_id == row.id)
            )
        ).all()
    )
    stored = (
        await session.execute(
            select(
                Question.code,
                Answer.value,
                Answer.survey_id,
                Answer.survey_audience,
                Answer.survey_n,
                Answer.survey_on,
            )
            .join(Question, Question.id == Answer.question_id)
            .where(Answer.run_id == run.id)
        )
    ).all()
    answers = {code: diagnostics.answer_from_json(value) for code, value, *_ in stored}
    sources = {
        code: SurveySource(survey_id, audience, n, on)
        for code, _value, survey_id, audience, n, on in stored
        if audience is not None and n is not None
    }
    return RunView(run, row, definition_of(row), ids, answers, sources)


async def unfinished_run(
    session: AsyncSession, school_id: int, code: str | None = None
) -> DiagnosticRun | None:
    """The school's most recently touched run in progress (of questionnaire ``code``)."""
    stmt = select(DiagnosticRun).where(
        DiagnosticRun.school_id == school_id, DiagnosticRun.status == RunStatus.IN_PROGRESS
    )
    if code is not None:
        stmt = stmt.join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id).where(
            Questionnaire.code == code
        )
    stmt = stmt.order_by(DiagnosticRun.updated_at.desc(), DiagnosticRun.id.desc()).limit(1)
    return await session.scalar(stmt)


async def start_run(
    session: AsyncSession, *, school: School, row: Questionnaire, actor_id: int | None
) -> DiagnosticRun:
    """A new run; an unfinished run of the same questionnaire for the school is abandoned."""
    while (previous := await unfinished_run(session, school.id, row.code)) is not None:
        await abandon_run(session, previous, actor_id=actor_id)
    questionnaire = definition_of(row)
    # Questionnaires that ask no profile apply in full.
    profile = {} if questionnaire.profile else diagnostics.Profile.full().to_dict()
    run = DiagnosticRun(
        school_id=school.id,
        questionnaire_id=row.id,
        started_by_id=actor_id,
        status=RunStatus.IN_PROGRESS,
        profile=profile,
        position=0,
    )
    await _flush_and_record(
        session,
        run,
        "diagnostic_started",
        actor_id=actor_id,
        questionnaire=row.code,
        version=row.version,
    )
    return run


async def abandon_run(session: AsyncSession, run: DiagnosticRun, *, actor_id: int | None) -> None:
    """Set a run in progress aside; its answers stay for the record."""
    if run.status != RunStatus.IN_PROGRESS:
        raise InvalidInput("run_not_in_progress")
    run.status = RunStatus.ABANDONED
    await _flush_and_record(session, run, "diagnostic_abandoned", actor_id=actor_id)


def profile_of_school(school: School) -> tuple[frozenset[str], bool | None]:
    """The levels and ОВЗ answer stored on the school, to prefill the profile step."""
    levels = frozenset(
        part.strip() for part in (school.levels or "").split(",") if part.strip()
    ) & frozenset(diagnostics.SCHOOL_LEVELS)
    return levels, school.has_ovz


async def set_profile(
    session: AsyncSession, view: RunView, levels: Iterable[str] | None, ovz: bool | None
) -> None:
    """Confirm the run's profile and store the fields asked back on the school.

    ``None`` stands for a field the questionnaire does not ask; then every level (or ОВЗ
    pupils) is assumed, so no criterion is left out.
    """
    run = view.run
    if run.status != RunStatus.IN_PROGRESS:
        raise InvalidInput("run_not_in_progress")
    asked = view.asks_profile
    if ("levels" in asked) != (levels is not None) or ("ovz" in asked) != (ovz is not None):
        raise InvalidInput("profile_incomplete")
    try:
        profile = diagnostics.Profile(
            frozenset(levels if levels is not None else diagnostics.SCHOOL_LEVELS),
            ovz=True if ovz is None else ovz,
        )
    except ValueError as exc:
        raise InvalidInput("profile_invalid") from exc
    run.profile = profile.to_dict()
    school = await session.get(School, run.school_id)
    if school is not None:
        if levels is not None:
            school.levels = ",".join(profile.to_dict()["levels"])
        if ovz is not None:
            school.has_ovz = ovz
    run.position = view.next_position(-1)
    await session.flush()


async def save_answer(
    session: AsyncSession,
    view: RunView,
    question_id: int,
    value: diagnostics.AnswerValue,
    *,
    kinds: Collection[str] | None = None,
    source: SurveySource | None = None,
) -> None:
    """Answer the current question and move on; anything else is refused unchanged.

    ``kinds`` limits the question kinds this way of answering fits (an option index is a
    valid number too, so a forged button must not answer a number question). ``source``
    marks an answer taken from a survey; any other answer clears an earlier mark.
    InvalidInput codes: run_not_in_progress, question_not_current, answer_invalid.
    """
    if view.run.status != RunStatus.IN_PROGRESS:
        raise InvalidInput("run_not_in_progress")
    question = view.current
    if question is None or view.question_ids.get(question.code) != question_id:
        raise InvalidInput("question_not_current")
    if kinds is not None and value is not diagnostics.UNKNOWN and question.kind not in kinds:
        raise InvalidInput("answer_invalid", reason="kind")
    try:
        diagnostics.check_answer(question, value)
    except diagnostics.AnswerError as exc:
        raise InvalidInput("answer_invalid", reason=exc.code) from None
    stored = await session.scalar(
        select(Answer).where(Answer.run_id == view.run.id, Answer.question_id == question_id)
    )
    if stored is None:
        stored = Answer(run_id=view.run.id, question_id=question_id)
        session.add(stored)
    stored.value = diagnostics.answer_to_json(value)
    stored.answered_at = utcnow()
    stored.survey_id = source.survey_id if source is not None else None
    stored.survey_audience = source.audience if source is not None else None
    stored.survey_n = source.n if source is not None else None
    stored.survey_on = source.on if source is not None else None
    view.answers[question.code] = value
    if source is not None:
        view.sources[question.code] = source
    else:
        view.sources.pop(question.code, None)
    view.run.position = view.next_position(view.run.position)
    await session.flush()


async def step_back(session: AsyncSession, view: RunView, question_id: int) -> bool:
    """Go to the previous question; False when the current one is the first."""
    if view.run.status != RunStatus.IN_PROGRESS:
        raise InvalidInput("run_not_in_progress")
    question = view.current
    if question is None or view.question_ids.get(question.code) != question_id:
        raise InvalidInput("question_not_current")
    if view.run.position == 0:
        return False
    view.run.position -= 1
    await session.flush()
    return True


def result_json(
    questionnaire: diagnostics.Questionnaire, result: diagnostics.DiagnosticResult
) -> dict[str, Any]:
    """The stored form of a result; the XLSX export reads exactly these keys."""
    return {
        "directions": [
            {
                "code": score.direction,
                "title": questionnaire.direction(score.direction).title,
                "points": score.points,
                "max_points": score.max_points,
                "level": score.level,
                "deficits": [deficit.text for deficit in score.deficits],
            }
            for score in result.directions
        ],
        "overall": {
            "points": result.overall.points,
            "max_points": result.overall.max_points,
            "level": result.overall.level,
        },
        "unknown": list(result.overall.unknown),
        "estimate": result.estimate,
    }


def score_view(view: RunView) -> diagnostics.DiagnosticResult:
    """The result of a run's answers against the version it was asked with."""
    profile = view.profile or diagnostics.Profile.full()
    return diagnostics.score(view.questionnaire, profile, view.answers)


async def finish_run(
    session: AsyncSession, view: RunView, *, actor_id: int | None
) -> diagnostics.DiagnosticResult:
    """Score a fully answered run and store its result."""
    run = view.run
    if run.status != RunStatus.IN_PROGRESS:
        raise InvalidInput("run_not_in_progress")
    if view.profile is None or view.current is not None:
        raise InvalidInput("run_not_answered")
    result = score_view(view)
    if result.overall.unanswered:
        raise InvalidInput("run_not_answered")
    run.status = RunStatus.COMPLETED
    run.completed_at = utcnow()
    run.total_points = result.overall.points
    run.max_points = result.overall.max_points
    run.level = result.overall.level
    run.result = result_json(view.questionnaire, result)
    await _flush_and_record(
        session, run, "diagnostic_completed", actor_id=actor_id, level=result.overall.level
    )
    return result


async def previous_completed_run(
    session: AsyncSession, run: DiagnosticRun
) -> DiagnosticRun | None:
    """The school's completed run of the same questionnaire (any version) before ``run``."""
    code = select(Questionnaire.code).where(Questionnaire.id == run.questionnaire_id)
    stmt = (
        select(DiagnosticRun)
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(
            DiagnosticRun.school_id == run.school_id,
            DiagnosticRun.status == RunStatus.COMPLETED,
            DiagnosticRun.id != run.id,
            Questionnaire.code == code.scalar_subquery(),
        )
        .order_by(DiagnosticRun.completed_at.desc(), DiagnosticRun.id.desc())
        .limit(1)
    )
    if run.completed_at is not None:
        stmt = stmt.where(DiagnosticRun.completed_at < run.completed_at)
    return await session.scalar(stmt)


async def latest_results(
    session: AsyncSession, school_ids: Iterable[int]
) -> dict[int, list[tuple[DiagnosticRun, Questionnaire]]]:
    """Per school, its latest completed run of each questionnaire, by questionnaire title."""
    ids = list(school_ids)
    if not ids:
        return {}
    ranked = (
        select(
            DiagnosticRun.id.label("run_id"),
            func.row_number()
            .over(
                partition_by=(DiagnosticRun.school_id, Questionnaire.code),
                order_by=(DiagnosticRun.completed_at.desc(), DiagnosticRun.id.desc()),
            )
            .label("rank"),
        )
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(DiagnosticRun.school_id.in_(ids), DiagnosticRun.status == RunStatus.COMPLETED)
        .subquery()
    )
    rows = (
        await session.execute(
            select(DiagnosticRun, Questionnaire)
            .join(ranked, ranked.c.run_id == DiagnosticRun.id)
            .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
            .where(ranked.c.rank == 1)
            .order_by(DiagnosticRun.school_id, Questionnaire.title, Questionnaire.code)
        )
    ).all()
    results: dict[int, list[tuple[DiagnosticRun, Questionnaire]]] = {}
    for run, row in rows:
        results.setdefault(run.school_id, []).append((run, row))
    return results


# --- roadmap ---------------------------------------------------------------------------------


def deficit_at(run: DiagnosticRun, direction: int, item: int) -> tuple[str, str]:
    """(direction code, wording) of a deficit in the stored result; InvalidInput otherwise."""
    if run.status != RunStatus.COMPLETED or not run.result:
        raise InvalidInput("deficit_unknown")
    directions = run.result.get("directions", [])
    if not 0 <= direction < len(directions):
        raise InvalidInput("deficit_unknown")
    deficits = directions[direction].get("deficits", [])
    if not 0 <= item < len(deficits):
        raise InvalidInput("deficit_unknown")
    return str(directions[direction]["code"]), str(deficits[item])


async def roadmap_titles(session: AsyncSession, school_id: int, titles: Iterable[str]) -> set[str]:
    """Which of ``titles`` the school's roadmap already has."""
    wanted = list(set(titles))
    if not wanted:
        return set()
    found = await session.scalars(
        select(RoadmapItem.title).where(
            RoadmapItem.school_id == school_id,
            RoadmapItem.is_archived.is_(False),
            RoadmapItem.title.in_(wanted),
        )
    )
    return set(found)


async def add_deficit_to_roadmap(
    session: AsyncSession,
    run: DiagnosticRun,
    direction: int,
    item: int,
    *,
    section: str,
    actor_id: int | None,
) -> tuple[RoadmapItem, bool]:
    """A roadmap item for a deficit of a completed run; (item, False) if the title exists."""
    code, title = deficit_at(run, direction, item)
    existing = await session.scalar(
        select(RoadmapItem)
        .where(
            RoadmapItem.school_id == run.school_id,
            RoadmapItem.is_archived.is_(False),
            RoadmapItem.title == title,
        )
        .limit(1)
    )
    if existing is not None:
        return existing, False
    last = await session.scalar(
        select(func.max(RoadmapItem.position)).where(RoadmapItem.school_id == run.school_id)
    )
    roadmap_item = RoadmapItem(
        school_id=run.school_id,
        position=(last or 0) + 1,
        section=section,
        title=title,
        direction=code[:24],
        due_raw=None,
    )
    await _flush_and_record(
        session,
        roadmap_item,
        "roadmap_item_from_diagnostics",
        actor_id=actor_id,
        run_id=run.id,
    )
    return roadmap_item, True


async def _flush_and_record(
    session: AsyncSession,
    row: DiagnosticRun | RoadmapItem,
    action: str,
    *,
    actor_id: int | None,
    **details: Any,
) -> None:
    """Flush ``row`` (a new one gets its id) and log ``action`` on it in the audit log."""
    session.add(row)
    await session.flush()
    record(
        session,
        actor_id=actor_id,
        action=action,
        object_type="roadmap_item" if isinstance(row, RoadmapItem) else "diagnostic_run",
        object_id=row.id,
        school_id=row.school_id,
        **details,
    )
