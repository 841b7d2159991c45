"""Questionnaire definitions: the runtime objects, the answer values and the errors."""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, TypeAlias, cast, get_args

QuestionKind: TypeAlias = Literal["yesno", "choice", "scale", "number", "text"]
QuestionnaireKind: TypeAlias = Literal["levels", "risk_profile"]
ProfileField: TypeAlias = Literal["levels", "ovz"]

QUESTION_KINDS: Final[frozenset[str]] = frozenset(get_args(QuestionKind))
QUESTIONNAIRE_KINDS: Final[frozenset[str]] = frozenset(get_args(QuestionnaireKind))
PROFILE_FIELDS: Final[frozenset[str]] = frozenset(get_args(ProfileField))
SCHOOL_LEVELS: Final[tuple[str, ...]] = ("НОО", "ООО", "СОО")

CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Sums of fractional points land a hair off (0.1 + 0.7 < 0.8); a share on a threshold counts.
EPSILON: Final = 1e-9


class DiagnosticsError(Exception):
    """Base of the errors raised by this package."""


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
    # The numbers a number question accepts (inclusive; None: open), from the data.
    range_min: float | None = None
    range_max: float | None = None

    def in_range(self, value: float) -> bool:
        return (self.range_min is None or value >= self.range_min) and (
            self.range_max is None or value <= self.range_max
        )

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
            return raw < self.met_at - EPSILON
        low, high = self._raw_range()
        return high > low and raw <= low + EPSILON


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
        if not question.in_range(value):
            raise AnswerError(question.code, "number_out_of_range")
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
