"""The questionnaires shipped with the bot, files, and the JSON form stored with each run."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from models.diagnostics.definitions import (
    SCHOOL_LEVELS,
    Problem,
    Questionnaire,
    QuestionnaireError,
    Threshold,
)
from models.diagnostics.schema import parse_questionnaire

# The files stay in models/questionnaires/, shipped as package data of ``models``.
BUILTIN_DIR: Final = Path(__file__).resolve().parent.parent / "questionnaires"


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
        if question.range_min is not None or question.range_max is not None:
            item["range"] = {
                k: v
                for k, v in (("min", question.range_min), ("max", question.range_max))
                if v is not None
            }
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
