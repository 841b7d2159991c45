"""The questionnaire file format as pydantic models, and ``parse_questionnaire``.

Every problem is reported at once, each with its location (``questions.q4.bands[1].points``)
and a stable code. Pydantic checks each value: unknown keys, missing ones, types, codes, shares.
The rules between values are validators that read the document as written, so that a malformed
value elsewhere never hides them:

* a rule about a list (codes unique, enough options, bands in order) reads every item, even one
  that has problems of its own;
* a rule that refers to another table (a question's direction, the thresholds of the levels)
  checks against what that table declares (``_Declared``), whatever else is wrong with it;
* the rules between the keys of a question and its kind read the question's own table.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from models.diagnostics.definitions import (
    CODE_RE,
    PROFILE_FIELDS,
    QUESTION_KINDS,
    QUESTIONNAIRE_KINDS,
    SCHOOL_LEVELS,
    AppliesTo,
    Band,
    Direction,
    Level,
    Option,
    Problem,
    ProfileField,
    ProfileQuestion,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireError,
    QuestionnaireKind,
    Respondent,
    Threshold,
    YesNoLabels,
)
from models.diagnostics.problems import (
    Loc,
    checked,
    code_of,
    location,
    number,
    problem,
    raise_problems,
    tables,
    text,
)


def parse_questionnaire(raw: Mapping[str, Any]) -> Questionnaire:
    """Build a questionnaire from its TOML/JSON mapping; QuestionnaireError lists all problems."""
    try:
        document = QuestionnaireSchema.model_validate(raw, context=_Declared.read(raw))
    except ValidationError as exc:
        problems = (Problem(location(e["loc"], raw), code_of(e)) for e in exc.errors())
        raise QuestionnaireError(dict.fromkeys(problems)) from None
    return document.build()


# --- rules shared with the spreadsheet import --------------------------------------------------


def option_problems(kind: str, labels: Sequence[str], points: Sequence[float]) -> list[str]:
    """Codes of what is wrong with the explicit options of a ``kind`` question as a whole."""
    problems = []
    if kind == "yesno" and len(labels) != 2:
        problems.append("options_yesno_count")
    elif len(labels) < 2:
        problems.append("options_too_few")
    folded = [label.casefold() for label in labels if label]
    if len(set(folded)) != len(folded):
        problems.append("label_duplicate")
    # A scale is shown as an ordered row of buttons, so its points must run one way.
    if kind == "scale" and list(points) not in (sorted(points), sorted(points, reverse=True)):
        problems.append("scale_unordered")
    return problems


def band_overlaps(bounds: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indexes of the bands (``(min, max)``, ascending) that overlap the band before them."""
    # Bands may touch but not overlap; an open end overlaps whatever follows it.
    return [
        i
        for i, ((_, lower_max), (upper_min, _)) in enumerate(itertools.pairwise(bounds), start=1)
        if lower_max is None or upper_min is None or upper_min < lower_max
    ]


# --- values ------------------------------------------------------------------------------------


def _filled(value: str) -> str:
    if not value:
        raise problem("value_empty")
    return value


def _code_format(value: str) -> str:
    if not CODE_RE.fullmatch(value):
        raise problem("code_invalid")
    return value


def _share_range(value: float) -> float:
    if not 0 < value <= 1:
        raise problem("share_out_of_range")
    return value


def _positive_weight(value: float) -> float:
    if value <= 0:
        raise problem("weight_invalid")
    return value


def _one_of(allowed: frozenset[str], code: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise problem(code)
        return value

    return AfterValidator(check)


Text = Annotated[str, AfterValidator(_filled)]
Code = Annotated[Text, AfterValidator(_code_format)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Share = Annotated[Number, AfterValidator(_share_range)]

_SHARE: Final = TypeAdapter(Share, config=ConfigDict(strict=True))


def _thresholds(value: dict[str, Any], info: ValidationInfo) -> dict[str, float]:
    """One share per level above the lowest, rising with the level; returned in level order."""
    expected = _declared(info).levels[1:]
    problems: list[tuple[Loc, str]] = [
        ((key,), "key_unknown") for key in value if key not in expected
    ]
    shares: dict[str, float] = {}
    previous: float | None = None
    for level in expected:
        if level not in value:
            problems.append(((level,), "value_missing"))
            continue
        try:
            share = _SHARE.validate_python(value[level])
        except ValidationError as exc:
            problems += [((level,), code_of(e)) for e in exc.errors()]
            continue
        if previous is not None and share <= previous:
            problems.append(((level,), "thresholds_unordered"))
        shares[level] = previous = share
    if problems:
        raise_problems(problems, value)
    return shares


Thresholds = Annotated[dict[str, Any], AfterValidator(_thresholds)]


# --- tables ------------------------------------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class LevelSchema(_Table):
    code: Code
    title: Text
    title_en: str = ""


class RespondentSchema(LevelSchema):
    pass


class ProfileQuestionSchema(_Table):
    code: Annotated[Text, _one_of(PROFILE_FIELDS, "profile_code_unknown")]
    text: Text
    text_en: str = ""
    hint: str = ""
    hint_en: str = ""

    def build(self) -> ProfileQuestion:
        code = cast(ProfileField, self.code)
        return ProfileQuestion(code, self.text, self.text_en, self.hint, self.hint_en)


class YesNoSchema(_Table):
    no: Text
    yes: Text
    no_en: str = ""
    yes_en: str = ""

    def build(self) -> YesNoLabels:
        return YesNoLabels(self.no, self.yes, self.no_en, self.yes_en)


class OptionSchema(_Table):
    label: Text
    # Not negative: checked with the list, which reads every option.
    points: Number
    label_en: str = ""


class BandSchema(_Table):
    points: Number
    min: Number | None = None
    max: Number | None = None


class RangeSchema(_Table):
    """The numbers a number question accepts, both ends inclusive (a share: 0 to 100)."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeSchema:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise problem("range_invalid")
        return self


def _school_levels(value: list[str]) -> list[str]:
    if not value:
        raise problem("value_empty")
    if not set(value) <= set(SCHOOL_LEVELS):
        raise problem("school_level_unknown")
    return value


class AppliesToSchema(_Table):
    levels: Annotated[list[str], AfterValidator(_school_levels)] | None = None
    ovz: StrictBool | None = None

    @field_validator("levels", "ovz", mode="wrap")
    @classmethod
    def _asked(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        """A criterion can depend only on what the profile step asks."""
        asked = info.field_name in _declared(info).profile
        return checked(value, handler, [] if asked else [((), "profile_not_asked")])

    def build(self) -> AppliesTo:
        levels = None if self.levels is None else frozenset(self.levels)
        return AppliesTo(levels=levels, ovz=self.ovz)


class DirectionSchema(_Table):
    code: Code
    title: Text
    title_en: str = ""
    thresholds: Thresholds | None = None
    found_at: Share | None = Field(None, validate_default=True)

    @field_validator("found_at")
    @classmethod
    def _found_at(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Risk factors only; each needs its own or the questionnaire's."""
        declared = _declared(info)
        if value is not None and not declared.risk:
            raise problem("key_unexpected")
        if value is None and declared.risk and not declared.found_at:
            raise problem("value_missing")
        return value

    def build(self, thresholds: tuple[Threshold, ...], found_at: float | None) -> Direction:
        if self.thresholds is not None:
            thresholds = _threshold_tuple(self.thresholds)
        if self.found_at is not None:
            found_at = self.found_at
        return Direction(self.code, self.title, thresholds, self.title_en, found_at)


class QuestionSchema(_Table):
    code: Code
    direction: Text
    text: Text
    kind: Annotated[Text, _one_of(QUESTION_KINDS, "kind_invalid")]
    text_en: str = ""
    hint: str = ""
    hint_en: str = ""
    options: list[OptionSchema] | None = None
    bands: list[BandSchema] | None = None
    range: RangeSchema | None = None
    # The points of «да» when the options are the questionnaire's yesno labels.
    points: Number | None = None
    weight: Annotated[Number, AfterValidator(_positive_weight)] | None = None
    allow_unknown: StrictBool | None = None
    deficit: str = ""
    deficit_en: str = ""
    met_at: Number | None = None
    applies_to: AppliesToSchema | None = None
    respondent: str = Field("", validate_default=True)

    @model_validator(mode="wrap")
    @classmethod
    def _keys_fit_the_kind(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        kind = text(data.get("kind"))
        points = number(data.get("points"))
        problems: list[tuple[Loc, str]] = []
        if "options" in data:
            if points is not None:
                # Explicit options carry their own points.
                problems.append((("points",), "key_unexpected"))
            if kind in {"number", "text"}:
                problems.append((("options",), "options_unexpected"))
        elif kind == "yesno":
            if not _declared(info).yesno:
                problems.append((("options",), "yesno_labels_missing"))
            elif points is not None and points <= 0:
                problems.append((("points",), "points_invalid"))
        elif kind in {"choice", "scale"}:
            problems.append((("options",), "options_missing"))
        if "bands" in data and kind != "number":
            problems.append((("bands",), "bands_unexpected"))
        elif "bands" not in data and kind == "number":
            problems.append((("bands",), "bands_missing"))
        if "range" in data and kind != "number":
            problems.append((("range",), "key_unexpected"))
        if kind == "text" and number(data.get("met_at")) is not None:
            problems.append((("met_at",), "key_unexpected"))
        return checked(data, handler, problems)

    @field_validator("direction")
    @classmethod
    def _known_direction(cls, value: str, info: ValidationInfo) -> str:
        if value not in _declared(info).directions:
            raise problem("direction_unknown")
        return value

    @field_validator("options", mode="wrap")
    @classmethod
    def _options_as_a_whole(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        kind = info.data.get("kind", "")
        if kind in {"number", "text"}:
            return handler(value)  # no options at all: _keys_fit_the_kind
        items = tables(value)
        # A negative option counts as 0 for the order of a scale.
        points = [number(item.get("points")) for item in items]
        problems: list[tuple[Loc, str]] = [
            ((i, "points"), "points_invalid")
            for i, p in enumerate(points)
            if p is not None and p < 0
        ]
        labels = [text(item.get("label")) for item in items]
        ranks = [max(p or 0.0, 0.0) for p in points]
        problems += [((), code) for code in option_problems(kind, labels, ranks)]
        return checked(value, handler, problems)

    @field_validator("bands", mode="wrap")
    @classmethod
    def _bands_as_a_whole(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if info.data.get("kind") != "number":
            return handler(value)  # no bands at all: _keys_fit_the_kind
        items = tables(value)
        bounds = [(number(item.get("min")), number(item.get("max"))) for item in items]
        problems: list[tuple[Loc, str]] = []
        for i, item in enumerate(items):
            points = number(item.get("points"))
            if points is not None and points < 0:
                problems.append(((i, "points"), "points_invalid"))
            low, high = bounds[i]
            if low is not None and high is not None and low >= high:
                problems.append(((i,), "band_empty"))
        if not items:
            problems.append(((), "bands_missing"))
        problems += [((i,), "bands_overlap") for i in band_overlaps(bounds)]
        return checked(value, handler, problems)

    @field_validator("respondent")
    @classmethod
    def _known_respondent(cls, value: str, info: ValidationInfo) -> str:
        """Where a questionnaire has respondents, each question names one of them."""
        respondents = _declared(info).respondents
        if value and value not in respondents:
            raise problem("respondent_unknown")
        if not value and respondents:
            raise problem("value_missing")
        return value

    def build(self, allow_unknown: bool, yesno: YesNoLabels | None) -> Question:
        options = tuple(Option(o.label, o.points, o.label_en) for o in self.options or ())
        if self.options is None and self.kind == "yesno" and yesno is not None:
            yes = 1.0 if self.points is None else self.points
            options = (Option(yesno.no, 0.0, yesno.no_en), Option(yesno.yes, yes, yesno.yes_en))
        return Question(
            code=self.code,
            direction=self.direction,
            text=self.text,
            kind=cast(QuestionKind, self.kind),
            text_en=self.text_en,
            hint=self.hint,
            hint_en=self.hint_en,
            options=options,
            bands=tuple(Band(b.points, b.min, b.max) for b in self.bands or ()),
            weight=1.0 if self.weight is None else self.weight,
            allow_unknown=allow_unknown if self.allow_unknown is None else self.allow_unknown,
            deficit=self.deficit,
            deficit_en=self.deficit_en,
            met_at=self.met_at,
            range_min=None if self.range is None else self.range.min,
            range_max=None if self.range is None else self.range.max,
            applies_to=AppliesTo() if self.applies_to is None else self.applies_to.build(),
            respondent=self.respondent or None,
        )


class QuestionnaireSchema(_Table):
    """A questionnaire file, validated by ``parse_questionnaire`` (it passes the context)."""

    code: Code
    version: Text
    title: Text
    title_en: str = ""
    kind: Annotated[Text, _one_of(QUESTIONNAIRE_KINDS, "kind_invalid")]
    allow_unknown: StrictBool = True
    estimate: StrictBool = True
    found_at: Share | None = None
    levels: list[LevelSchema] = Field(default_factory=list, validate_default=True)
    thresholds: Thresholds
    profile: list[ProfileQuestionSchema] = []
    respondents: list[RespondentSchema] = []
    yesno: YesNoSchema | None = None
    directions: list[DirectionSchema]
    questions: list[QuestionSchema]

    @field_validator("found_at")
    @classmethod
    def _risk_only(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and not _declared(info).risk:
            raise problem("key_unexpected")
        return value

    @field_validator("levels", "profile", "respondents", "directions", "questions", mode="wrap")
    @classmethod
    def _codes_unique(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A duplicate is named by its position: its code names two items.
        seen: set[str] = set()
        problems: list[tuple[Loc, str]] = []
        for i, item in enumerate(tables(value)):
            code = text(item.get("code"))
            if code in seen:
                problems.append(((i,), "code_duplicate"))
            elif code:
                seen.add(code)
        return checked(value, handler, problems)

    @field_validator("levels", mode="wrap")
    @classmethod
    def _a_scale(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        enough = len(tables(value)) >= 2
        return checked(value, handler, [] if enough else [((), "levels_too_few")])

    @field_validator("directions", "questions", mode="wrap")
    @classmethod
    def _not_empty(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        empty = not tables(value)
        return checked(value, handler, [((), "value_missing")] if empty else [])

    @field_validator("directions", mode="wrap")
    @classmethod
    def _directions_used(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        used = _declared(info).used_directions
        problems: list[tuple[Loc, str]] = [
            ((i,), "direction_empty")
            for i, item in enumerate(tables(value))
            if (code := text(item.get("code"))) and code not in used
        ]
        return checked(value, handler, problems)

    def build(self) -> Questionnaire:
        thresholds = _threshold_tuple(self.thresholds)
        yesno = None if self.yesno is None else self.yesno.build()
        return Questionnaire(
            code=self.code,
            version=self.version,
            title=self.title,
            title_en=self.title_en,
            kind=cast(QuestionnaireKind, self.kind),
            allow_unknown=self.allow_unknown,
            estimate=self.estimate,
            found_at=self.found_at,
            levels=tuple(Level(lvl.code, lvl.title, lvl.title_en) for lvl in self.levels),
            thresholds=thresholds,
            directions=tuple(d.build(thresholds, self.found_at) for d in self.directions),
            questions=tuple(q.build(self.allow_unknown, yesno) for q in self.questions),
            profile=tuple(p.build() for p in self.profile),
            respondents=tuple(Respondent(r.code, r.title, r.title_en) for r in self.respondents),
            yesno=yesno,
        )


def _threshold_tuple(shares: Mapping[str, float]) -> tuple[Threshold, ...]:
    return tuple(Threshold(level, share) for level, share in shares.items())


# --- the document as written ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Declared:
    """What the document declares, read before it is validated (the validation context)."""

    risk: bool
    # Whether the questionnaire's own found_at is valid, for the risk factors that lack theirs.
    found_at: bool
    levels: tuple[str, ...]
    directions: frozenset[str]
    used_directions: frozenset[str]
    profile: frozenset[str]
    respondents: frozenset[str]
    yesno: bool

    @classmethod
    def read(cls, raw: object) -> _Declared:
        data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

        def texts(section: str, key: str = "code") -> list[str]:
            return [text(item.get(key)) for item in tables(data.get(section))]

        try:
            _SHARE.validate_python(data.get("found_at"))
            found_at = True
        except ValidationError:
            found_at = False
        return cls(
            risk=text(data.get("kind")) == "risk_profile",
            found_at=found_at,
            levels=tuple(texts("levels")),
            directions=frozenset(texts("directions")),
            used_directions=frozenset(texts("questions", "direction")),
            profile=frozenset(texts("profile")),
            respondents=frozenset(texts("respondents")),
            yesno="yesno" in data,
        )


def _declared(info: ValidationInfo) -> _Declared:
    return cast(_Declared, info.context)
