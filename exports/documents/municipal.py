"""«Отчёт муниципалитета»: the schools with their key figures, then the actions the data shows —
self-diagnosis, roadmaps, activities per direction, curators' review — each with its terms and
mark — and the anonymous surveys held (documents/surveys.py). Counted by the database per
school and direction (facts.load_figures)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exports.documents import surveys as doc_surveys
from exports.documents.common import (
    Request,
    columns_of,
    day,
    direction_title,
    directions_in_order,
    finish,
    listing,
    mark_for,
    mark_symbol,
    scope_facts,
    write_blocks,
)
from exports.documents.docx import Bold, Cell, DocxWriter, Paragraph
from exports.documents.facts import (
    Diagnostics,
    Figures,
    RunResult,
    SchoolInfo,
    Tally,
    load_diagnostics,
    load_figures,
    load_schools,
)
from exports.documents.templates import fill, render, template
from models.enums import Mark

NAME = "municipal"


@dataclass(frozen=True)
class Data:
    request: Request
    schools: list[SchoolInfo]
    figures: Figures
    diagnostics: Diagnostics
    surveys: doc_surveys.Surveys


async def collect(session: AsyncSession, request: Request) -> Data:
    schools, start, end = request.schools, request.start, request.end
    infos = await load_schools(session, schools)
    return Data(
        request=request,
        schools=infos,
        figures=await load_figures(session, schools, start=start, end=end, today=request.today),
        diagnostics=await load_diagnostics(session, schools, end=end, tz=request.tz),
        surveys=await doc_surveys.load(session, request, infos),
    )


def main_run(
    diagnostics: Diagnostics, school_id: int
) -> tuple[RunResult, RunResult | None] | None:
    """The school's self-diagnosis («levels») if it has one, else its other questionnaire."""
    runs = diagnostics.runs.get(school_id)
    if not runs:
        return None
    return min(runs.values(), key=lambda pair: (pair[0].kind != "levels", pair[0].title))


def coverage_mark(part: int, whole: int) -> str:
    if whole and part >= whole:
        return mark_symbol(Mark.DONE)
    return mark_symbol(Mark.PARTIAL if part else Mark.NOT_DONE)


def span(dates: Sequence[date], request: Request, texts: Mapping[str, str]) -> str:
    """«first–last» of the dates, one date, or the report's period when there are none."""
    if not dates:
        return request.period
    first, last = min(dates), max(dates)
    if first == last:
        return day(first)
    return fill(texts["terms"], {"first": day(first), "last": day(last)})


def school_rows(data: Data, texts: Mapping[str, str]) -> list[Sequence[Cell]]:
    tallies = data.figures.by_school()
    rows: list[Sequence[Cell]] = []
    for number, school in enumerate(data.schools, 1):
        tally = tallies.get(school.id, Tally())
        run = main_run(data.diagnostics, school.id)
        level = texts["no_level"]
        if run is not None:
            latest = run[0]
            title = data.diagnostics.level_title(latest) or "—"
            level = fill(texts["level"], {"level": title, "date": day(latest.completed_on)})
        items = texts["no_roadmap"]
        if tally.items:
            items = fill(texts["items"], {"done": tally.items_done, "total": tally.items})
        rows.append(
            [f"{number}.", school.name, level, str(tally.reports), items, str(tally.overdue)]
        )
    return rows


def _diagnostics_action(data: Data, texts: Mapping[str, str]) -> list[Cell]:
    count = len(data.schools)
    latest = {
        school.id: run[0]
        for school in data.schools
        if (run := main_run(data.diagnostics, school.id)) is not None
    }
    levels: Counter[str] = Counter(
        data.diagnostics.level_title(run) or "—" for run in latest.values()
    )
    missing = [school.short_name for school in data.schools if school.id not in latest]
    text: list[Paragraph] = []
    if latest:
        shown = "; ".join(
            fill(texts["diagnostics_level"], {"level": level, "schools": n})
            for level, n in levels.most_common()
        )
        text.append(
            fill(
                texts["diagnostics_done"],
                {"with_runs": len(latest), "count": count, "levels": shown},
            )
        )
        if missing:
            text.append(fill(texts["diagnostics_missing"], {"missing": listing(missing)}))
    else:
        text.append(fill(texts["diagnostics_none"], {"end": day(data.request.end)}))
    dates = [run.completed_on for run in latest.values()]
    return [
        texts["diagnostics"],
        span(dates, data.request, texts),
        [[Bold(coverage_mark(len(latest), count))], *text],
    ]


def _roadmaps_action(data: Data, texts: Mapping[str, str]) -> list[Cell]:
    tallies = data.figures.by_school()
    with_roadmap = [s for s in data.schools if tallies.get(s.id, Tally()).items]
    total = data.figures.total()
    text: list[Paragraph] = [
        fill(
            texts["roadmaps_done"],
            {
                "with_roadmap": len(with_roadmap),
                "count": len(data.schools),
                "items": total.items,
                "items_done": total.items_done,
                "overdue": total.overdue,
            },
        )
    ]
    missing = [s.short_name for s in data.schools if not tallies.get(s.id, Tally()).items]
    if missing:
        text.append(fill(texts["roadmaps_missing"], {"missing": listing(missing)}))
    mark = coverage_mark(len(with_roadmap), len(data.schools))
    return [texts["roadmaps"], data.request.period, [[Bold(mark)], *text]]


def _direction_action(
    code: str | None, tally: Tally, schools_reporting: int, data: Data, texts: Mapping[str, str]
) -> list[Cell]:
    title = (
        fill(texts["direction"], {"direction": direction_title(code)})
        if code is not None
        else texts["other"]
    )
    facts: dict[str, Any] = {**tally.facts(), "schools_reporting": schools_reporting}
    text: list[Paragraph] = [[Bold(mark_symbol(mark_for(tally)))]]
    text.append(fill(texts["direction_done"], facts) if tally.reports else texts["direction_none"])
    if tally.planned or tally.overdue:
        text.append(fill(texts["direction_planned"], facts))
    dates = [d for d in (tally.first_due, tally.last_due) if d is not None]
    return [title, span(dates, data.request, texts), text]


def _review_action(data: Data, texts: Mapping[str, str]) -> list[Cell]:
    total = data.figures.total()
    if not total.reports:
        return [
            texts["review"],
            data.request.period,
            [mark_symbol(Mark.NOT_DONE), texts["review_none"]],
        ]
    return [
        texts["review"],
        data.request.period,
        [
            [Bold(coverage_mark(total.confirmed, total.reports))],
            fill(texts["review_done"], total.facts()),
        ],
    ]


def _surveys_action(data: Data, texts: Mapping[str, str]) -> list[Cell]:
    limit = template(NAME)["limits"]["survey_questions"]
    facts = doc_surveys.summary_facts(data.schools, data.surveys, data.request, limit)
    if not facts["surveys"]:
        return [
            texts["surveys"],
            data.request.period,
            [mark_symbol(Mark.NOT_DONE), texts["surveys_none"]],
        ]
    facts["count"] = len(data.schools)
    text: list[Paragraph] = [
        [Bold(coverage_mark(facts["survey_schools"], len(data.schools)))],
        fill(texts["surveys_done"], facts),
        fill(texts["surveys_states"], facts),
    ]
    text += [fill(texts["surveys_worst"], {**facts, **group}) for group in facts["survey_results"]]
    if facts["surveys_missing"]:
        text.append(fill(texts["surveys_missing"], facts))
    return [texts["surveys"], span(facts["survey_dates"], data.request, texts), text]


def action_rows(data: Data, texts: Mapping[str, str]) -> list[Sequence[Cell]]:
    actions = [_diagnostics_action(data, texts), _roadmaps_action(data, texts)]
    by_direction = data.figures.by_direction()
    reporting: Counter[str | None] = Counter(
        direction for (_school, direction), tally in data.figures.cells.items() if tally.reports
    )
    for code in directions_in_order(list(by_direction)):
        tally = by_direction.get(code, Tally())
        actions.append(_direction_action(code, tally, reporting[code], data, texts))
    actions.append(_review_action(data, texts))
    actions.append(_surveys_action(data, texts))
    return [[f"{number}.", *action] for number, action in enumerate(actions, 1)]


def render_docx(data: Data) -> tuple[bytes, int]:
    spec = template(NAME)
    writer = DocxWriter(title=spec["name"], landscape=bool(spec.get("landscape")))
    texts = spec["actions"]
    facts = {
        **data.request.common_facts(),
        **scope_facts(data.schools),
        "coverage_note": texts["coverage_note"],
    }
    schools = school_rows(data, spec["school"])
    actions = action_rows(data, texts)
    write_blocks(
        writer,
        render(spec["blocks"], facts),
        tables={
            "schools": (columns_of(spec["school_columns"]), schools),
            "actions": (columns_of(spec["action_columns"]), actions),
        },
    )
    return finish(writer, data.request.now), len(schools) + len(actions)
