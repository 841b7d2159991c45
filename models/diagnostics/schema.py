"""The questionnaire file format: a TOML/JSON mapping checked and turned into a Questionnaire."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

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
        if value and not CODE_RE.fullmatch(value):
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
        location = f"questions.{code}" if code and CODE_RE.fullmatch(code) else index_location
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
