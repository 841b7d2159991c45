"""Self-diagnosis questionnaires kept as data: loading, validation, scoring, comparison, import.

Pure on purpose: no aiogram, no database, no interface text. Every word a user reads comes from
the questionnaire files in ``models/questionnaires/`` or from the bot's catalogs; problems are
reported as stable codes for the bot to translate.

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

import enum
import functools
import io
import itertools
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TypeAlias, cast, get_args

import openpyxl

QuestionKind: TypeAlias = Literal["yesno", "choice", "scale", "number", "text"]
QuestionnaireKind: TypeAlias = Literal["levels", "risk_profile"]
ProfileField: TypeAlias = Literal["levels", "ovz"]

QUESTION_KINDS: Final[frozenset[str]] = frozenset(get_args(QuestionKind))
QUESTIONNAIRE_KINDS: Final[frozenset[str]] = frozenset(get_args(QuestionnaireKind))
PROFILE_FIELDS: Final[frozenset[str]] = frozenset(get_args(ProfileField))
SCHOOL_LEVELS: Final[tuple[str, ...]] = ("НОО", "ООО", "СОО")
BUILTIN_DIR: Final = Path(__file__).resolve().parent / "questionnaires"

_CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Sums of fractional points land a hair off (0.1 + 0.7 < 0.8); a share on a threshold counts.
_EPSILON: Final = 1e-9


class DiagnosticsError(Exception):
    """Base of the errors raised by this module."""


class Problem(NamedTuple):
    """One problem in a questionnaire definition: where it is and a stable code."""

    location: str
    code: str


class QuestionnaireError(DiagnosticsError):
    """A questionnaire definition is invalid; ``problems`` lists all that were found."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        details = "; ".join(f"{p.location}: {p.code}" for p in self.problems)
        super().__init__(f"{source}: {details}" if source else details)


class ImportProblem(NamedTuple):
    """A bad spreadsheet row: 1-based row number (0: the whole file), stable code, parameters."""

    row: int
    code: str
    params: Mapping[str, str]


class QuestionnaireImportError(DiagnosticsError):
    """A spreadsheet could not be imported; ``problems`` covers every bad row."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "; ".join(f"row {p.row}: {p.code} {dict(p.params)}" for p in self.problems)
        )


class AnswerError(DiagnosticsError, ValueError):
    """An answer value does not fit its question; ``code`` is stable."""

    def __init__(self, question: str, code: str) -> None:
        self.question = question
        self.code = code
        super().__init__(f"{question}: {code}")


class Unknown(enum.Enum):
    """The «не знаю» answer."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN

# Option index for yesno/choice/scale, a number, a text, or «не знаю».
AnswerValue: TypeAlias = int | float | str | Unknown


@dataclass(frozen=True)
class Profile:
    """What a school teaches and whether it has pupils with ОВЗ; selects the criteria."""

    levels: frozenset[str]
    ovz: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", frozenset(self.levels))
        if not self.levels or not self.levels <= frozenset(SCHOOL_LEVELS):
            raise ValueError(f"profile levels must be a non-empty subset of {SCHOOL_LEVELS}")

    @classmethod
    def full(cls) -> Profile:
        """All levels with ОВЗ pupils: for questionnaires that ask no profile."""
        return cls(frozenset(SCHOOL_LEVELS), ovz=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, levels in their canonical order."""
        return {"levels": [lvl for lvl in SCHOOL_LEVELS if lvl in self.levels], "ovz": self.ovz}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Inverse of ``to_dict``."""
        return cls(frozenset(data["levels"]), ovz=bool(data["ovz"]))


@dataclass(frozen=True)
class Option:
    """An answer option of a yesno/choice/scale question."""

    label: str
    points: float
    label_en: str = ""


@dataclass(frozen=True)
class Band:
    """A range of a number question: ``min`` inclusive, ``max`` exclusive, either may be open."""

    points: float
    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        """Whether ``value`` falls into this band."""
        return (self.min is None or value >= self.min) and (self.max is None or value < self.max)


@dataclass(frozen=True)
class AppliesTo:
    """Profile filter of a criterion; ``None`` means no restriction on that field."""

    levels: frozenset[str] | None = None
    ovz: bool | None = None

    def matches(self, profile: Profile) -> bool:
        """Whether a school with ``profile`` answers this criterion."""
        if self.levels is not None and not self.levels & profile.levels:
            return False
        return self.ovz is None or self.ovz == profile.ovz


@dataclass(frozen=True)
class Question:
    """One criterion; yesno questions always carry their two options once loaded."""

    code: str
    direction: str
    text: str
    kind: QuestionKind
    text_en: str = ""
    hint: str = ""
    hint_en: str = ""
    options: tuple[Option, ...] = ()
    bands: tuple[Band, ...] = ()
    weight: float = 1.0
    allow_unknown: bool = True
    deficit: str = ""
    deficit_en: str = ""
    met_at: float | None = None
    applies_to: AppliesTo = AppliesTo()
    respondent: str | None = None

    @property
    def scored(self) -> bool:
        """Whether the question carries points."""
        return self.kind != "text" and self.max_points > 0

    @property
    def max_points(self) -> float:
        """Weighted maximum."""
        return self._raw_range()[1] * self.weight

    def points_for(self, value: AnswerValue) -> float:
        """Weighted points of a valid answer; raises AnswerError otherwise."""
        check_answer(self, value)
        return 0.0 if value is UNKNOWN else self._raw_points(value) * self.weight

    def _raw_range(self) -> tuple[float, float]:
        points = [o.points for o in self.options] + [b.points for b in self.bands]
        if self.kind == "text" or not points:
            return 0.0, 0.0
        # A number outside every band scores 0, so 0 is always reachable for numbers.
        low = min([*points, 0.0]) if self.kind == "number" else min(points)
        return low, max(points)

    def _raw_points(self, value: AnswerValue) -> float:
        if self.kind == "number":
            number = float(cast(float, value))
            return next((b.points for b in self.bands if b.contains(number)), 0.0)
        return self.options[cast(int, value)].points

    def _is_deficit(self, raw: float) -> bool:
        if self.met_at is not None:
            return raw < self.met_at - _EPSILON
        low, high = self._raw_range()
        return high > low and raw <= low + _EPSILON


class Threshold(NamedTuple):
    """Minimum share of the maximum needed for ``level``."""

    level: str
    share: float


@dataclass(frozen=True)
class Level:
    """A level of the scale, lowest first."""

    code: str
    title: str
    title_en: str = ""


@dataclass(frozen=True)
class Direction:
    """A component (levels) or a risk factor (risk_profile)."""

    code: str
    title: str
    thresholds: tuple[Threshold, ...]
    title_en: str = ""
    found_at: float | None = None


@dataclass(frozen=True)
class ProfileQuestion:
    """A profile question asked before the criteria: which levels are taught, ОВЗ pupils."""

    code: ProfileField
    text: str
    text_en: str = ""
    hint: str = ""
    hint_en: str = ""


@dataclass(frozen=True)
class Respondent:
    """A group answering some questions of a risk profile (руководитель, учителя, ...)."""

    code: str
    title: str
    title_en: str = ""


@dataclass(frozen=True)
class YesNoLabels:
    """Labels of the implicit options of yesno questions declared without options."""

    no: str
    yes: str
    no_en: str = ""
    yes_en: str = ""


@dataclass(frozen=True)
class Questionnaire:
    """A validated questionnaire, built by ``load_questionnaire`` or ``parse_questionnaire``."""

    code: str
    version: str
    title: str
    kind: QuestionnaireKind
    levels: tuple[Level, ...]
    thresholds: tuple[Threshold, ...]
    directions: tuple[Direction, ...]
    questions: tuple[Question, ...]
    title_en: str = ""
    allow_unknown: bool = True
    estimate: bool = True
    found_at: float | None = None
    profile: tuple[ProfileQuestion, ...] = ()
    respondents: tuple[Respondent, ...] = ()
    yesno: YesNoLabels | None = None

    def questions_for(self, profile: Profile) -> list[Question]:
        """Questions that apply to ``profile``, in questionnaire order."""
        return [q for q in self.questions if q.applies_to.matches(profile)]

    def question(self, code: str) -> Question:
        """The question with ``code``; KeyError if there is none."""
        return self._questions_by_code[code]

    def direction(self, code: str) -> Direction:
        """The direction with ``code``; KeyError if there is none."""
        return self._directions_by_code[code]

    def level(self, code: str) -> Level:
        """The level with ``code``; KeyError if there is none."""
        for level in self.levels:
            if level.code == code:
                return level
        raise KeyError(code)

    @functools.cached_property
    def _questions_by_code(self) -> dict[str, Question]:
        return {q.code: q for q in self.questions}

    @functools.cached_property
    def _directions_by_code(self) -> dict[str, Direction]:
        return {d.code: d for d in self.directions}


def check_answer(question: Question, value: AnswerValue) -> None:
    """Raise AnswerError unless ``value`` is a valid answer to ``question``."""
    if value is UNKNOWN:
        if not question.allow_unknown:
            raise AnswerError(question.code, "unknown_not_allowed")
        return
    if question.kind == "text":
        if not isinstance(value, str):
            raise AnswerError(question.code, "answer_type_invalid")
        return
    # bool is an int subclass; True as an option index or a number is a caller's bug.
    if isinstance(value, bool | str | Unknown):
        raise AnswerError(question.code, "answer_type_invalid")
    if question.kind == "number":
        if not math.isfinite(value):
            raise AnswerError(question.code, "number_invalid")
        return
    if not isinstance(value, int):
        raise AnswerError(question.code, "answer_type_invalid")
    if not 0 <= value < len(question.options):
        raise AnswerError(question.code, "option_index_invalid")


def answer_to_json(value: AnswerValue) -> dict[str, Any]:
    """Storage form: {"option": i} | {"number": x} | {"text": s} | {"unknown": true}."""
    if value is UNKNOWN:
        return {"unknown": True}
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"option": value}
    return {"number": float(value)}


def answer_from_json(data: Mapping[str, Any]) -> AnswerValue:
    """Inverse of ``answer_to_json``."""
    if data.get("unknown"):
        return UNKNOWN
    if "option" in data:
        return int(data["option"])
    if "number" in data:
        return float(data["number"])
    return str(data["text"])


# --------------------------------------------------------------------------------------------
# Scoring


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
            found = share + _EPSILON >= cast(float, direction.found_at)
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
        if share + _EPSILON >= threshold.share:
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


# --------------------------------------------------------------------------------------------
# Loading and validation


def load_questionnaire(path: str | os.PathLike[str]) -> Questionnaire:
    """Load and validate one TOML questionnaire file."""
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError([Problem("", "file_unreadable")], source.name) from exc
    except tomllib.TOMLDecodeError as exc:
        raise QuestionnaireError([Problem("", "toml_invalid")], source.name) from exc
    try:
        return parse_questionnaire(raw)
    except QuestionnaireError as exc:
        raise QuestionnaireError(exc.problems, source.name) from None


def builtin_questionnaires() -> dict[str, Questionnaire]:
    """The questionnaires shipped in ``models/questionnaires/``, by code."""
    return dict(_builtin())


@functools.cache
def _builtin() -> tuple[tuple[str, Questionnaire], ...]:
    loaded: dict[str, Questionnaire] = {}
    problems: list[Problem] = []
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        try:
            questionnaire = load_questionnaire(path)
        except QuestionnaireError as exc:
            problems += [Problem(f"{path.name}:{p.location}", p.code) for p in exc.problems]
            continue
        if questionnaire.code in loaded:
            problems.append(Problem(f"{path.name}:code", "code_duplicate"))
        loaded[questionnaire.code] = questionnaire
    if problems:
        raise QuestionnaireError(problems, str(BUILTIN_DIR))
    return tuple(loaded.items())


_TOP_KEYS: Final = frozenset(
    "code version title title_en kind allow_unknown estimate found_at thresholds levels profile"
    " respondents yesno directions questions".split()
)
_LEVEL_KEYS: Final = frozenset({"code", "title", "title_en"})
_PROFILE_KEYS: Final = frozenset({"code", "text", "text_en", "hint", "hint_en"})
_YESNO_KEYS: Final = frozenset({"no", "no_en", "yes", "yes_en"})
_DIRECTION_KEYS: Final = frozenset({"code", "title", "title_en", "thresholds", "found_at"})
_QUESTION_KEYS: Final = frozenset(
    "code direction text text_en hint hint_en kind options bands points weight allow_unknown"
    " deficit deficit_en met_at applies_to respondent".split()
)
_OPTION_KEYS: Final = frozenset({"label", "label_en", "points"})
_BAND_KEYS: Final = frozenset({"min", "max", "points"})
_APPLIES_KEYS: Final = frozenset({"levels", "ovz"})


def parse_questionnaire(raw: Mapping[str, Any]) -> Questionnaire:
    """Build a questionnaire from its TOML/JSON mapping; QuestionnaireError lists all problems."""
    return _Parser().questionnaire(raw)


def questionnaire_to_dict(questionnaire: Questionnaire) -> dict[str, Any]:
    """JSON-ready definition that ``parse_questionnaire`` reads back to an equal questionnaire."""
    q = questionnaire

    def thresholds(items: Sequence[Threshold]) -> dict[str, float]:
        return {t.level: t.share for t in items}

    data: dict[str, Any] = {
        "code": q.code,
        "version": q.version,
        "title": q.title,
        "title_en": q.title_en,
        "kind": q.kind,
        "allow_unknown": q.allow_unknown,
        "estimate": q.estimate,
        "thresholds": thresholds(q.thresholds),
        "levels": [vars(lvl).copy() for lvl in q.levels],
        "profile": [vars(p).copy() for p in q.profile],
        "respondents": [vars(r).copy() for r in q.respondents],
        "directions": [],
        "questions": [],
    }
    if q.found_at is not None:
        data["found_at"] = q.found_at
    if q.yesno is not None:
        data["yesno"] = vars(q.yesno).copy()
    for d in q.directions:
        direction: dict[str, Any] = {
            "code": d.code,
            "title": d.title,
            "title_en": d.title_en,
            "thresholds": thresholds(d.thresholds),
        }
        if d.found_at is not None:
            direction["found_at"] = d.found_at
        data["directions"].append(direction)
    for question in q.questions:
        item: dict[str, Any] = {
            "code": question.code,
            "direction": question.direction,
            "text": question.text,
            "text_en": question.text_en,
            "hint": question.hint,
            "hint_en": question.hint_en,
            "kind": question.kind,
            "weight": question.weight,
            "allow_unknown": question.allow_unknown,
            "deficit": question.deficit,
            "deficit_en": question.deficit_en,
        }
        if question.options:
            item["options"] = [vars(o).copy() for o in question.options]
        if question.bands:
            item["bands"] = [
                {k: v for k, v in vars(b).items() if v is not None} for b in question.bands
            ]
        if question.met_at is not None:
            item["met_at"] = question.met_at
        if question.respondent is not None:
            item["respondent"] = question.respondent
        applies: dict[str, Any] = {}
        if question.applies_to.levels is not None:
            applies["levels"] = [x for x in SCHOOL_LEVELS if x in question.applies_to.levels]
        if question.applies_to.ovz is not None:
            applies["ovz"] = question.applies_to.ovz
        if applies:
            item["applies_to"] = applies
        data["questions"].append(item)
    return data


def _at(location: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{location}[{key}]"
    return f"{location}.{key}" if location else key


class _Parser:
    """Reads a raw mapping while collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, location: str, code: str) -> None:
        self.problems.append(Problem(location, code))

    # -- typed field readers ------------------------------------------------------------------

    def table(self, value: object, location: str, keys: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.add(location, "type_invalid")
            return {}
        for key in value:
            if key not in keys:
                self.add(_at(location, str(key)), "key_unknown")
        return value

    def tables(
        self, raw: Mapping[str, Any], key: str, location: str, keys: frozenset[str]
    ) -> list[Mapping[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.add(_at(location, key), "type_invalid")
            return []
        return [self.table(v, _at(_at(location, key), i), keys) for i, v in enumerate(value)]

    def text(
        self, raw: Mapping[str, Any], key: str, location: str, *, required: bool = False
    ) -> str:
        value = raw.get(key)
        if value is None:
            if required:
                self.add(_at(location, key), "value_missing")
            return ""
        if not isinstance(value, str):
            self.add(_at(location, key), "type_invalid")
            return ""
        value = value.strip()
        if required and not value:
            self.add(_at(location, key), "value_empty")
        return value

    def code(self, raw: Mapping[str, Any], location: str, key: str = "code") -> str:
        value = self.text(raw, key, location, required=True)
        if value and not _CODE_RE.fullmatch(value):
            self.add(_at(location, key), "code_invalid")
        return value

    def number(self, raw: Mapping[str, Any], key: str, location: str) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.add(_at(location, key), "type_invalid")
            return None
        return float(value)

    def flag(self, raw: Mapping[str, Any], key: str, location: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.add(_at(location, key), "type_invalid")
            return default
        return value

    def share(self, raw: Mapping[str, Any], key: str, location: str) -> float | None:
        value = self.number(raw, key, location)
        if value is not None and not 0 < value <= 1:
            self.add(_at(location, key), "share_out_of_range")
            return None
        return value

    def unique(self, codes: Iterable[tuple[str, str]]) -> None:
        seen: set[str] = set()
        for location, code in codes:
            if code and code in seen:
                self.add(location, "code_duplicate")
            seen.add(code)

    # -- sections -----------------------------------------------------------------------------

    def questionnaire(self, raw_value: Mapping[str, Any]) -> Questionnaire:
        raw = self.table(raw_value, "", _TOP_KEYS)
        code = self.code(raw, "")
        version = self.text(raw, "version", "", required=True)
        title = self.text(raw, "title", "", required=True)
        kind = self.text(raw, "kind", "", required=True)
        if kind and kind not in QUESTIONNAIRE_KINDS:
            self.add("kind", "kind_invalid")
        risk = kind == "risk_profile"
        allow_unknown = self.flag(raw, "allow_unknown", "", True)
        found_at = self.share(raw, "found_at", "")
        if found_at is not None and not risk:
            self.add("found_at", "key_unexpected")

        levels = self.levels(raw)
        thresholds = self.thresholds(raw.get("thresholds"), "thresholds", levels)
        profile = self.profile(raw)
        respondents = tuple(
            Respondent(
                code=self.code(r, _at("respondents", i)),
                title=self.text(r, "title", _at("respondents", i), required=True),
                title_en=self.text(r, "title_en", _at("respondents", i)),
            )
            for i, r in enumerate(self.tables(raw, "respondents", "", _LEVEL_KEYS))
        )
        self.unique((_at("respondents", i), r.code) for i, r in enumerate(respondents))
        yesno = self.yesno(raw)

        directions: list[Direction] = []
        for i, item in enumerate(self.tables(raw, "directions", "", _DIRECTION_KEYS)):
            location = _at("directions", i)
            own = item.get("thresholds")
            direction_found_at = self.share(item, "found_at", location)
            if direction_found_at is not None and not risk:
                self.add(_at(location, "found_at"), "key_unexpected")
            resolved_found_at = direction_found_at if direction_found_at is not None else found_at
            if risk and resolved_found_at is None:
                self.add(_at(location, "found_at"), "value_missing")
            directions.append(
                Direction(
                    code=self.code(item, location),
                    title=self.text(item, "title", location, required=True),
                    title_en=self.text(item, "title_en", location),
                    thresholds=(
                        thresholds
                        if own is None
                        else self.thresholds(own, _at(location, "thresholds"), levels)
                    ),
                    found_at=resolved_found_at,
                )
            )
        self.unique((_at("directions", i), d.code) for i, d in enumerate(directions))
        if not directions:
            self.add("directions", "value_missing")

        context = _QuestionContext(
            directions=frozenset(d.code for d in directions),
            profile=frozenset(p.code for p in profile),
            respondents=frozenset(r.code for r in respondents),
            allow_unknown=allow_unknown,
            yesno=yesno,
        )
        questions = [
            self.question(item, _at("questions", i), context)
            for i, item in enumerate(self.tables(raw, "questions", "", _QUESTION_KEYS))
        ]
        self.unique((_at("questions", i), q.code) for i, q in enumerate(questions))
        if not questions:
            self.add("questions", "value_missing")
        used = {q.direction for q in questions}
        for i, direction in enumerate(directions):
            if direction.code and direction.code not in used:
                self.add(_at("directions", i), "direction_empty")

        title_en = self.text(raw, "title_en", "")
        estimate = self.flag(raw, "estimate", "", True)
        if self.problems:
            raise QuestionnaireError(self.problems)
        return Questionnaire(
            code=code,
            version=version,
            title=title,
            title_en=title_en,
            kind=cast(QuestionnaireKind, kind),
            allow_unknown=allow_unknown,
            estimate=estimate,
            found_at=found_at,
            levels=levels,
            thresholds=thresholds,
            directions=tuple(directions),
            questions=tuple(questions),
            profile=profile,
            respondents=respondents,
            yesno=yesno,
        )

    def levels(self, raw: Mapping[str, Any]) -> tuple[Level, ...]:
        levels = tuple(
            Level(
                code=self.code(item, _at("levels", i)),
                title=self.text(item, "title", _at("levels", i), required=True),
                title_en=self.text(item, "title_en", _at("levels", i)),
            )
            for i, item in enumerate(self.tables(raw, "levels", "", _LEVEL_KEYS))
        )
        self.unique((_at("levels", i), lvl.code) for i, lvl in enumerate(levels))
        if len(levels) < 2:
            self.add("levels", "levels_too_few")
        return levels

    def thresholds(
        self, value: object, location: str, levels: Sequence[Level]
    ) -> tuple[Threshold, ...]:
        if value is None:
            self.add(location, "value_missing")
            return ()
        expected = [lvl.code for lvl in levels[1:]]
        raw = self.table(value, location, frozenset(expected))
        result: list[Threshold] = []
        for code in expected:
            share = self.share(raw, code, location)
            if share is None:
                if code not in raw:
                    self.add(_at(location, code), "value_missing")
                continue
            if result and share <= result[-1].share:
                self.add(_at(location, code), "thresholds_unordered")
            result.append(Threshold(code, share))
        return tuple(result)

    def profile(self, raw: Mapping[str, Any]) -> tuple[ProfileQuestion, ...]:
        result: list[ProfileQuestion] = []
        for i, item in enumerate(self.tables(raw, "profile", "", _PROFILE_KEYS)):
            location = _at("profile", i)
            code = self.text(item, "code", location, required=True)
            if code and code not in PROFILE_FIELDS:
                self.add(_at(location, "code"), "profile_code_unknown")
            result.append(
                ProfileQuestion(
                    code=cast(ProfileField, code),
                    text=self.text(item, "text", location, required=True),
                    text_en=self.text(item, "text_en", location),
                    hint=self.text(item, "hint", location),
                    hint_en=self.text(item, "hint_en", location),
                )
            )
        self.unique((_at("profile", i), p.code) for i, p in enumerate(result))
        return tuple(result)

    def yesno(self, raw: Mapping[str, Any]) -> YesNoLabels | None:
        if "yesno" not in raw:
            return None
        item = self.table(raw["yesno"], "yesno", _YESNO_KEYS)
        return YesNoLabels(
            no=self.text(item, "no", "yesno", required=True),
            yes=self.text(item, "yes", "yesno", required=True),
            no_en=self.text(item, "no_en", "yesno"),
            yes_en=self.text(item, "yes_en", "yesno"),
        )

    def question(
        self, raw: Mapping[str, Any], index_location: str, context: _QuestionContext
    ) -> Question:
        code = self.code(raw, index_location)
        # Problems inside a question are easier to find by its code than by its position.
        location = f"questions.{code}" if code and _CODE_RE.fullmatch(code) else index_location
        direction = self.text(raw, "direction", location, required=True)
        if direction and direction not in context.directions:
            self.add(_at(location, "direction"), "direction_unknown")
        kind = self.text(raw, "kind", location, required=True)
        if kind and kind not in QUESTION_KINDS:
            self.add(_at(location, "kind"), "kind_invalid")

        options = self.options(raw, location, kind, context.yesno)
        bands = self.bands(raw, location, kind)
        weight = self.number(raw, "weight", location)
        if weight is not None and weight <= 0:
            self.add(_at(location, "weight"), "weight_invalid")
        met_at = self.number(raw, "met_at", location)
        if met_at is not None and kind == "text":
            self.add(_at(location, "met_at"), "key_unexpected")
        respondent = self.text(raw, "respondent", location) or None
        if respondent is not None and respondent not in context.respondents:
            self.add(_at(location, "respondent"), "respondent_unknown")
        if respondent is None and context.respondents:
            self.add(_at(location, "respondent"), "value_missing")

        return Question(
            code=code,
            direction=direction,
            text=self.text(raw, "text", location, required=True),
            kind=cast(QuestionKind, kind),
            text_en=self.text(raw, "text_en", location),
            hint=self.text(raw, "hint", location),
            hint_en=self.text(raw, "hint_en", location),
            options=options,
            bands=bands,
            weight=weight if weight is not None and weight > 0 else 1.0,
            allow_unknown=self.flag(raw, "allow_unknown", location, context.allow_unknown),
            deficit=self.text(raw, "deficit", location),
            deficit_en=self.text(raw, "deficit_en", location),
            met_at=met_at,
            applies_to=self.applies_to(raw, location, context.profile),
            respondent=respondent,
        )

    def options(
        self, raw: Mapping[str, Any], location: str, kind: str, yesno: YesNoLabels | None
    ) -> tuple[Option, ...]:
        yes_points = self.number(raw, "points", location)
        if "options" not in raw:
            if kind == "yesno":
                if yesno is None:
                    self.add(_at(location, "options"), "yesno_labels_missing")
                    return ()
                if yes_points is not None and yes_points <= 0:
                    self.add(_at(location, "points"), "points_invalid")
                yes = yes_points if yes_points is not None and yes_points > 0 else 1.0
                return (Option(yesno.no, 0.0, yesno.no_en), Option(yesno.yes, yes, yesno.yes_en))
            if kind in {"choice", "scale"}:
                self.add(_at(location, "options"), "options_missing")
            return ()
        if yes_points is not None:
            # Explicit options carry their own points.
            self.add(_at(location, "points"), "key_unexpected")
        if kind in {"number", "text"}:
            self.add(_at(location, "options"), "options_unexpected")
            return ()
        options: list[Option] = []
        for i, item in enumerate(self.tables(raw, "options", location, _OPTION_KEYS)):
            where = _at(_at(location, "options"), i)
            points = self.number(item, "points", where)
            if points is None and "points" not in item:
                self.add(_at(where, "points"), "value_missing")
            elif points is not None and points < 0:
                self.add(_at(where, "points"), "points_invalid")
            options.append(
                Option(
                    label=self.text(item, "label", where, required=True),
                    points=points if points is not None and points >= 0 else 0.0,
                    label_en=self.text(item, "label_en", where),
                )
            )
        self._check_options(options, _at(location, "options"), kind)
        return tuple(options)

    def _check_options(self, options: Sequence[Option], location: str, kind: str) -> None:
        if kind == "yesno" and len(options) != 2:
            self.add(location, "options_yesno_count")
        elif len(options) < 2:
            self.add(location, "options_too_few")
        labels = [o.label.casefold() for o in options if o.label]
        if len(set(labels)) != len(labels):
            self.add(location, "label_duplicate")
        points = [o.points for o in options]
        # A scale is shown as an ordered row of buttons, so its points must run one way.
        if kind == "scale" and points != sorted(points) and points != sorted(points, reverse=True):
            self.add(location, "scale_unordered")

    def bands(self, raw: Mapping[str, Any], location: str, kind: str) -> tuple[Band, ...]:
        if "bands" not in raw:
            if kind == "number":
                self.add(_at(location, "bands"), "bands_missing")
            return ()
        if kind != "number":
            self.add(_at(location, "bands"), "bands_unexpected")
            return ()
        bands: list[Band] = []
        for i, item in enumerate(self.tables(raw, "bands", location, _BAND_KEYS)):
            where = _at(_at(location, "bands"), i)
            points = self.number(item, "points", where)
            if points is None and "points" not in item:
                self.add(_at(where, "points"), "value_missing")
            elif points is not None and points < 0:
                self.add(_at(where, "points"), "points_invalid")
            band = Band(
                points=points if points is not None and points >= 0 else 0.0,
                min=self.number(item, "min", where),
                max=self.number(item, "max", where),
            )
            if band.min is not None and band.max is not None and band.min >= band.max:
                self.add(where, "band_empty")
            bands.append(band)
        self._check_bands(bands, _at(location, "bands"))
        return tuple(bands)

    def _check_bands(self, bands: Sequence[Band], location: str) -> None:
        if not bands:
            self.add(location, "bands_missing")
            return
        for i, (lower, upper) in enumerate(itertools.pairwise(bands), start=1):
            # Bands are listed in ascending order and may touch but not overlap.
            if lower.max is None or upper.min is None or upper.min < lower.max:
                self.add(_at(location, i), "bands_overlap")

    def applies_to(
        self, raw: Mapping[str, Any], location: str, asked: frozenset[str]
    ) -> AppliesTo:
        if "applies_to" not in raw:
            return AppliesTo()
        where = _at(location, "applies_to")
        item = self.table(raw["applies_to"], where, _APPLIES_KEYS)
        levels: frozenset[str] | None = None
        if "levels" in item:
            value = item["levels"]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                self.add(_at(where, "levels"), "type_invalid")
            elif not value:
                self.add(_at(where, "levels"), "value_empty")
            elif not set(value) <= set(SCHOOL_LEVELS):
                self.add(_at(where, "levels"), "school_level_unknown")
            else:
                levels = frozenset(value)
            if "levels" not in asked:
                self.add(_at(where, "levels"), "profile_not_asked")
        ovz: bool | None = None
        if "ovz" in item:
            ovz = self.flag(item, "ovz", where, False)
            if "ovz" not in asked:
                self.add(_at(where, "ovz"), "profile_not_asked")
        return AppliesTo(levels=levels, ovz=ovz)


@dataclass(frozen=True)
class _QuestionContext:
    directions: frozenset[str]
    profile: frozenset[str]
    respondents: frozenset[str]
    allow_unknown: bool
    yesno: YesNoLabels | None


# --------------------------------------------------------------------------------------------
# Spreadsheet import

# Header names are the sheet's input format, not interface text; English ones are accepted so a
# sheet made from an English template imports too.
_COLUMNS: Final[Mapping[str, str]] = {
    "направление": "direction",
    "direction": "direction",
    "вопрос": "text",
    "question": "text",
    "тип": "kind",
    "type": "kind",
    "варианты": "options",
    "варианты ответа": "options",
    "options": "options",
    "подсказка": "hint",
    "hint": "hint",
    "код": "code",
    "code": "code",
    "дефицит": "deficit",
    "deficit": "deficit",
    "вес": "weight",
    "weight": "weight",
}
_REQUIRED_COLUMNS: Final = ("direction", "text", "kind", "options")
_KIND_ALIASES: Final[Mapping[str, QuestionKind]] = {
    **{kind: kind for kind in cast(tuple[QuestionKind, ...], get_args(QuestionKind))},
    "да/нет": "yesno",
    "да-нет": "yesno",
    "выбор": "choice",
    "шкала": "scale",
    "число": "number",
    "текст": "text",
}
_HEADER_SEARCH_ROWS: Final = 10
_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
_BAND_RE: Final = re.compile(rf"\s*({_NUMBER})?\s*(?:\.\.|–|—|-)\s*({_NUMBER})?\s*")


def questionnaire_from_xlsx(
    data: bytes,
    *,
    code: str,
    title: str,
    template: Questionnaire | None = None,
    title_en: str = "",
    version: str = "1",
    match_directions: bool = True,
) -> Questionnaire:
    """Import a questionnaire from a sheet of one question per row; all bad rows are reported.

    ``template`` (the built-in ``msh`` by default) supplies what a sheet cannot: kind, levels,
    thresholds, yesno labels. With ``match_directions`` each row must name one of its directions
    (by code or title) and only the directions used are kept; otherwise the sheet's own
    directions are taken in order of appearance, with the template's overall thresholds.
    """
    template = template or builtin_questionnaires()["msh"]
    rows = _read_sheet(data)
    header_row, columns = _find_header(rows)
    if header_row is None:
        raise QuestionnaireImportError([ImportProblem(1, "header_missing", {})])
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise QuestionnaireImportError(
            ImportProblem(header_row, "column_missing", {"column": c}) for c in missing
        )

    sheet = _SheetImport(template, match_directions)
    for number, row in rows:
        if number > header_row and any(_cell(v) for v in row):
            cells = {name: _cell(row[i]) if i < len(row) else "" for name, i in columns.items()}
            sheet.add_row(number, cells)
    drafts = sheet.finish(header_row)

    used = {draft["direction"] for draft in drafts}
    directions = [d for d in sheet.directions() if d.code in used]
    base = questionnaire_to_dict(replace(template, directions=tuple(directions), questions=()))
    base.update(
        code=code,
        version=version,
        title=title,
        title_en=title_en,
        # Profile filters cannot be expressed in a sheet, so the imported criteria apply to all.
        profile=[],
        respondents=[],
        questions=drafts,
    )
    try:
        return parse_questionnaire(base)
    except QuestionnaireError as exc:
        raise QuestionnaireImportError(
            ImportProblem(0, p.code, {"location": p.location}) for p in exc.problems
        ) from None


class _SheetImport:
    """Turns sheet rows into question definitions, collecting the problems of every row."""

    def __init__(self, template: Questionnaire, match_directions: bool) -> None:
        self.template = template
        self.match_directions = match_directions
        self.known: dict[str, Direction] = {}
        if match_directions:
            for direction in template.directions:
                for name in (direction.code, direction.title, direction.title_en):
                    if name:
                        self.known.setdefault(_normalize(name), direction)
        self.created: dict[str, Direction] = {}
        self.problems: list[ImportProblem] = []
        self.drafts: list[tuple[int, dict[str, Any]]] = []

    def directions(self) -> list[Direction]:
        return list(self.template.directions if self.match_directions else self.created.values())

    def direction(self, name: str, problem: _RowProblems) -> Direction | None:
        if not name:
            problem("direction_empty")
            return None
        key = _normalize(name)
        if self.match_directions:
            if key not in self.known:
                problem("direction_unknown", value=name)
            return self.known.get(key)
        if key not in self.created:
            self.created[key] = Direction(
                code=f"d{len(self.created) + 1}",
                title=name,
                thresholds=self.template.thresholds,
                found_at=self.template.found_at,
            )
        return self.created[key]

    def add_row(self, number: int, cells: Mapping[str, str]) -> None:
        problem = _RowProblems(number)
        if not cells["text"]:
            problem("text_empty")
        direction = self.direction(cells["direction"], problem)
        kind = _KIND_ALIASES.get(_normalize(cells["kind"]).replace(" ", ""))
        options: list[dict[str, Any]] = []
        bands: list[dict[str, Any]] = []
        if kind is None:
            problem("kind_unknown", value=cells["kind"])
        else:
            options, bands = _parse_choices(cells["options"], kind, self.template, problem)
        weight = 1.0
        if cells.get("weight"):
            parsed = _parse_number(cells["weight"])
            if parsed is None or parsed <= 0:
                problem("weight_invalid", value=cells["weight"])
            else:
                weight = parsed
        code = cells.get("code", "").casefold()
        if code and not _CODE_RE.fullmatch(code):
            problem("code_invalid", value=cells["code"])

        self.problems += problem.items
        if problem.items or kind is None or direction is None:
            return
        draft: dict[str, Any] = {
            "code": code,
            "direction": direction.code,
            "text": cells["text"],
            "hint": cells.get("hint", ""),
            "kind": kind,
            "weight": weight,
            "deficit": cells.get("deficit", ""),
        }
        if options:
            draft["options"] = options
        if bands:
            draft["bands"] = bands
        self.drafts.append((number, draft))

    def finish(self, header_row: int) -> list[dict[str, Any]]:
        """The drafts with codes filled in; raises if any row was bad."""
        seen: set[str] = set()
        for number, draft in self.drafts:
            if draft["code"] in seen:
                self.problems.append(
                    ImportProblem(number, "code_duplicate", {"value": draft["code"]})
                )
            elif draft["code"]:
                seen.add(draft["code"])
        if not self.drafts and not self.problems:
            self.problems.append(ImportProblem(header_row, "questions_missing", {}))
        if self.problems:
            raise QuestionnaireImportError(sorted(self.problems, key=lambda p: p.row))
        # Rows without a code get q1, q2, ... in sheet order, skipping codes the sheet uses.
        generated = (f"q{n}" for n in itertools.count(1) if f"q{n}" not in seen)
        drafts = [draft for _, draft in self.drafts]
        for draft in drafts:
            draft["code"] = draft["code"] or next(generated)
        return drafts


class _RowProblems:
    """Collects the problems of one sheet row."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.items: list[ImportProblem] = []

    def __call__(self, code: str, **params: str) -> None:
        self.items.append(ImportProblem(self.row, code, params))


def _parse_choices(
    text: str, kind: QuestionKind, template: Questionnaire, problem: _RowProblems
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parts = [p.strip() for p in re.split(r"[;\n]", text) if p.strip()]
    if kind == "text":
        if parts:
            problem("options_unexpected")
        return [], []
    if not parts:
        if kind == "yesno" and template.yesno is not None:
            return [], []
        problem("options_missing")
        return [], []

    options: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    for part in parts:
        label, sep, points_text = part.rpartition("=")
        points = _parse_number(points_text) if sep else None
        label = label.strip()
        if points is None or not label:
            problem("options_unparsable", value=part)
            continue
        if points < 0:
            problem("points_invalid", value=part)
            continue
        if kind == "number":
            match = _BAND_RE.fullmatch(label)
            low = _parse_number(match.group(1)) if match and match.group(1) else None
            high = _parse_number(match.group(2)) if match and match.group(2) else None
            if match is None or (low is None and high is None):
                problem("options_unparsable", value=part)
                continue
            if low is not None and high is not None and low >= high:
                problem("band_empty", value=part)
                continue
            band: dict[str, Any] = {"points": points}
            if low is not None:
                band["min"] = low
            if high is not None:
                band["max"] = high
            bands.append(band)
        else:
            options.append({"label": label, "points": points})

    if kind == "number":
        ordered = sorted(bands, key=lambda b: b.get("min", -math.inf))
        for lower, upper in itertools.pairwise(ordered):
            if "max" not in lower or "min" not in upper or upper["min"] < lower["max"]:
                problem("bands_overlap", value=text)
                break
        return [], ordered
    if len(options) != len(parts):
        return [], []
    if kind == "yesno" and len(options) != 2:
        problem("options_yesno_count", value=text)
    elif len(options) < 2:
        problem("options_too_few", value=text)
    labels = [o["label"].casefold() for o in options]
    if len(set(labels)) != len(labels):
        problem("label_duplicate", value=text)
    scale = [o["points"] for o in options]
    if kind == "scale" and scale != sorted(scale) and scale != sorted(scale, reverse=True):
        problem("scale_unordered", value=text)
    return options, []


def _read_sheet(data: bytes) -> list[tuple[int, tuple[Any, ...]]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        # openpyxl reports a damaged or foreign file through many unrelated exception types.
        raise QuestionnaireImportError([ImportProblem(0, "file_invalid", {})]) from exc
    try:
        sheet = workbook.active
        if sheet is None:
            raise QuestionnaireImportError([ImportProblem(0, "file_invalid", {})])
        return [
            (number, tuple(row))
            for number, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _find_header(rows: Sequence[tuple[int, tuple[Any, ...]]]) -> tuple[int | None, dict[str, int]]:
    for number, row in rows[:_HEADER_SEARCH_ROWS]:
        columns: dict[str, int] = {}
        for index, value in enumerate(row):
            name = _COLUMNS.get(_normalize(_cell(value)))
            if name is not None and name not in columns:
                columns[name] = index
        if "text" in columns:
            return number, columns
    return None, {}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _normalize(text: str) -> str:
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").split()).casefold()


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", ".").replace(" ", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None
