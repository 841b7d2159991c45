"""Scoring and comparison of runs.

Scoring rules that are choices rather than facts, so the bot and the data authors can rely on them:

* «не знаю» (``UNKNOWN``) scores 0 but its question still counts in the maximum, so not knowing
  never raises a level; it is listed in ``unknown`` and is not a deficit.
* A missing answer is scored like «не знаю» and listed in ``unanswered``.
* Answers for questions that do not apply to the profile, or that the questionnaire does not
  have (a stored run of an older version), are ignored.
* ``weight`` multiplies both the points and the maximum of a question; text questions carry none.
* A number outside every band scores 0.
* A criterion is not met (a deficit, on ``levels`` questionnaires) when it scores below
  ``met_at`` raw points, or, without ``met_at``, when it scores the lowest points it can.
* Levels and thresholds are shares of the maximum applicable to the profile, compared inclusively.
* On ``risk_profile`` questionnaires points are risk points: a factor is found when its share
  reaches ``found_at``, its deficit is the factor itself, and the level is the bot's estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from models.diagnostics.definitions import (
    EPSILON,
    UNKNOWN,
    AnswerValue,
    Level,
    Profile,
    Question,
    Questionnaire,
    QuestionnaireKind,
    Threshold,
    check_answer,
)


@dataclass(frozen=True)
class Deficit:
    """A criterion not met (levels) or a risk factor found (risk_profile)."""

    code: str
    direction: str
    text: str
    text_en: str = ""


@dataclass(frozen=True)
class Score:
    """Points, share and level of a direction or of the whole run."""

    points: float
    max_points: float
    share: float
    level: str
    deficits: tuple[Deficit, ...] = ()
    unknown: tuple[str, ...] = ()
    unanswered: tuple[str, ...] = ()
    # risk_profile only: whether the factor (or, overall, any factor) is found.
    found: bool | None = None


@dataclass(frozen=True)
class DirectionScore(Score):
    """Score of one direction; ``direction`` is its code."""

    direction: str = ""


@dataclass(frozen=True)
class DiagnosticResult:
    """Result of a run; directions without applicable scored questions are left out."""

    questionnaire: str
    version: str
    kind: QuestionnaireKind
    profile: Profile
    levels: tuple[str, ...]
    directions: tuple[DirectionScore, ...]
    overall: Score
    # True when the levels are the bot's own estimate rather than an official result.
    estimate: bool = True

    def direction(self, code: str) -> DirectionScore:
        """Score of direction ``code``; KeyError if it is not in this result."""
        for item in self.directions:
            if item.direction == code:
                return item
        raise KeyError(code)

    @property
    def found(self) -> tuple[str, ...]:
        """Codes of the risk factors found (empty on levels questionnaires)."""
        return tuple(d.direction for d in self.directions if d.found)


def score(
    questionnaire: Questionnaire, profile: Profile, answers: Mapping[str, AnswerValue]
) -> DiagnosticResult:
    """Score ``answers`` (question code -> value) for a school with ``profile``."""
    risk = questionnaire.kind == "risk_profile"
    by_direction: dict[str, list[Question]] = {}
    for question in questionnaire.questions_for(profile):
        by_direction.setdefault(question.direction, []).append(question)

    scores: list[DirectionScore] = []
    for direction in questionnaire.directions:
        questions = by_direction.get(direction.code, [])
        points = max_points = 0.0
        deficits: list[Deficit] = []
        unknown: list[str] = []
        unanswered: list[str] = []
        for question in questions:
            value = answers.get(question.code)
            if value is not None:
                check_answer(question, value)
            if not question.scored:
                continue
            max_points += question.max_points
            if value is None:
                unanswered.append(question.code)
            elif value is UNKNOWN:
                unknown.append(question.code)
            else:
                raw = question._raw_points(value)
                points += raw * question.weight
                if not risk and question._is_deficit(raw):
                    deficits.append(
                        Deficit(
                            code=question.code,
                            direction=direction.code,
                            text=question.deficit or question.text,
                            text_en=question.deficit_en or question.text_en,
                        )
                    )
        if max_points <= 0:
            continue
        share = points / max_points
        found: bool | None = None
        if risk:
            found = share + EPSILON >= cast(float, direction.found_at)
            if found:
                deficits = [
                    Deficit(direction.code, direction.code, direction.title, direction.title_en)
                ]
        scores.append(
            DirectionScore(
                direction=direction.code,
                points=points,
                max_points=max_points,
                share=share,
                level=_level_for(share, questionnaire.levels, direction.thresholds),
                deficits=tuple(deficits),
                unknown=tuple(unknown),
                unanswered=tuple(unanswered),
                found=found,
            )
        )

    total = sum(s.points for s in scores)
    total_max = sum(s.max_points for s in scores)
    share = total / total_max if total_max > 0 else 0.0
    overall = Score(
        points=total,
        max_points=total_max,
        share=share,
        level=_level_for(share, questionnaire.levels, questionnaire.thresholds),
        deficits=tuple(d for s in scores for d in s.deficits),
        unknown=tuple(c for s in scores for c in s.unknown),
        unanswered=tuple(c for s in scores for c in s.unanswered),
        found=any(s.found for s in scores) if risk else None,
    )
    return DiagnosticResult(
        questionnaire=questionnaire.code,
        version=questionnaire.version,
        kind=questionnaire.kind,
        profile=profile,
        levels=tuple(lvl.code for lvl in questionnaire.levels),
        directions=tuple(scores),
        overall=overall,
        estimate=questionnaire.estimate,
    )


def _level_for(share: float, levels: Sequence[Level], thresholds: Sequence[Threshold]) -> str:
    level = levels[0].code
    for threshold in thresholds:
        if share + EPSILON >= threshold.share:
            level = threshold.level
    return level


@dataclass(frozen=True)
class ScoreDelta:
    """Change between two runs; ``direction`` is None for the overall score."""

    direction: str | None
    points_delta: float
    share_delta: float
    previous_level: str
    current_level: str
    # Steps up the level scale; on risk profiles the scale runs from low to high risk.
    level_change: int


@dataclass(frozen=True)
class Comparison:
    """What changed from ``previous`` to ``current`` run of the same questionnaire."""

    kind: QuestionnaireKind
    overall: ScoreDelta
    directions: tuple[ScoreDelta, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    resolved_deficits: tuple[str, ...]
    new_deficits: tuple[str, ...]


def compare(current: DiagnosticResult, previous: DiagnosticResult) -> Comparison:
    """Per-direction and overall change; the versions may differ, the questionnaire may not."""
    if current.questionnaire != previous.questionnaire:
        raise ValueError("results of different questionnaires cannot be compared")

    def delta(direction: str | None, now: Score, before: Score) -> ScoreDelta:
        return ScoreDelta(
            direction=direction,
            points_delta=now.points - before.points,
            share_delta=now.share - before.share,
            previous_level=before.level,
            current_level=now.level,
            level_change=current.levels.index(now.level) - previous.levels.index(before.level),
        )

    before_by_code = {d.direction: d for d in previous.directions}
    now_codes = [d.direction for d in current.directions]
    before_deficits = [d.code for d in previous.overall.deficits]
    now_deficits = [d.code for d in current.overall.deficits]
    return Comparison(
        kind=current.kind,
        overall=delta(None, current.overall, previous.overall),
        directions=tuple(
            delta(d.direction, d, before_by_code[d.direction])
            for d in current.directions
            if d.direction in before_by_code
        ),
        added=tuple(c for c in now_codes if c not in before_by_code),
        removed=tuple(c for c in before_by_code if c not in now_codes),
        resolved_deficits=tuple(c for c in before_deficits if c not in now_deficits),
        new_deficits=tuple(c for c in now_deficits if c not in before_deficits),
    )
