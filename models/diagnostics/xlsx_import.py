"""Import of a questionnaire from a spreadsheet of one question per row."""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, cast, get_args

import openpyxl

from models.diagnostics.definitions import (
    CODE_RE,
    Direction,
    ImportProblem,
    QuestionKind,
    Questionnaire,
    QuestionnaireError,
    QuestionnaireImportError,
)
from models.diagnostics.loading import builtin_questionnaires, questionnaire_to_dict
from models.diagnostics.schema import band_overlaps, option_problems, parse_questionnaire

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
        if code and not CODE_RE.fullmatch(code):
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
        if band_overlaps([(b.get("min"), b.get("max")) for b in ordered]):
            problem("bands_overlap", value=text)
        return [], ordered
    if len(options) != len(parts):
        return [], []
    labels = [o["label"] for o in options]
    for code in option_problems(kind, labels, [o["points"] for o in options]):
        problem(code, value=text)
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
