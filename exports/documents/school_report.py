"""«Отчёт об участии школы в проекте»: self-diagnosis first, then a row per direction with its
terms, the mark by the rule in data, and the activities held, as a coordinator writes them;
then the school's anonymous surveys of the period (exports/documents/surveys.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exports.documents import surveys as doc_surveys
from exports.documents.common import (
    Request,
    columns_of,
    day,
    deficit_text,
    direction_title,
    directions_in_order,
    finish,
    item_line,
    mark_for,
    mark_symbol,
    materials,
    number,
    organizer,
    participants,
    project_phrase,
    report_mark,
    say,
    write_blocks,
)
from exports.documents.docx import Bold, Cell, DocxWriter, Link, Paragraph
from exports.documents.facts import (
    Diagnostics,
    Figures,
    ItemRow,
    ReportRow,
    RunResult,
    SchoolInfo,
    Tally,
    load_diagnostics,
    load_figures,
    load_items,
    load_reports,
    load_schools,
)
from exports.documents.templates import fill, render, template

NAME = "school_report"


@dataclass(frozen=True)
class Data:
    request: Request
    schools: list[SchoolInfo]
    reports: list[ReportRow]
    items: list[ItemRow]
    figures: Figures
    diagnostics: Diagnostics
    surveys: doc_surveys.Surveys


async def collect(session: AsyncSession, request: Request) -> Data:
    schools = request.schools
    start, end = request.start, request.end
    infos = await load_schools(session, schools)
    return Data(
        request=request,
        schools=infos,
        reports=await load_reports(session, schools, start, end),
        items=await load_items(session, schools, end=end, today=request.today),
        figures=await load_figures(session, schools, start=start, end=end, today=request.today),
        diagnostics=await load_diagnostics(session, schools, end=end, tz=request.tz),
        surveys=await doc_surveys.load(session, request, infos),
    )


def render_docx(data: Data) -> tuple[bytes, int]:
    """The .docx and how many table rows it has."""
    spec = template(NAME)
    writer = DocxWriter(title=spec["name"], landscape=bool(spec.get("landscape")))
    reports: dict[int, list[ReportRow]] = defaultdict(list)
    for report in data.reports:
        reports[report.school_id].append(report)
    items: dict[int, list[ItemRow]] = defaultdict(list)
    for item in data.items:
        items[item.school_id].append(item)
    rows_written = 0
    for index, school in enumerate(data.schools):
        if index:
            writer.page_break()
        rows = school_rows(data, school, reports[school.id], items[school.id])
        surveys = doc_surveys.school_rows(data.surveys.get(school.id, []), data.request)
        rows_written += len(rows) + len(surveys)
        facts = {
            **data.request.common_facts(),
            "school": school.name,
            "project": project_phrase([school]),
            "surveys": bool(surveys),
            "survey_rule": doc_surveys.rule(data.request),
        }
        write_blocks(
            writer,
            render(spec["blocks"], facts),
            tables={
                "rows": (columns_of(spec["columns"]), rows),
                "surveys": (columns_of(spec["survey_columns"]), surveys),
            },
        )
    return finish(writer, data.request.now), rows_written


def school_rows(
    data: Data, school: SchoolInfo, reports: Sequence[ReportRow], items: Sequence[ItemRow]
) -> list[Sequence[Cell]]:
    spec = template(NAME)
    rows: list[Sequence[Cell]] = [_diagnostics_row(data, school, spec["diagnostics"])]
    tallies = data.figures.by_direction([school.id])
    by_direction: dict[str | None, list[ReportRow]] = defaultdict(list)
    for report in reports:
        by_direction[report.direction].append(report)
    present = [*tallies, *by_direction]
    for number_, code in enumerate(directions_in_order(present), 2):
        tally = tallies.get(code, Tally())
        late = [item for item in items if item.direction == code and item.overdue]
        rows.append(
            [
                f"{number_}.",
                direction_title(code),
                _terms(tally, data.request, spec["row"]),
                mark_symbol(mark_for(tally)),
                _activities(by_direction.get(code, []), school, tally, late, spec),
            ]
        )
    return rows


def _terms(tally: Tally, request: Request, row: Mapping[str, str]) -> str:
    if tally.first_due is None or tally.last_due is None:
        return request.period
    if tally.first_due == tally.last_due:
        return day(tally.first_due)
    return fill(row["terms"], {"first": day(tally.first_due), "last": day(tally.last_due)})


def activity_paragraphs(
    report: ReportRow, school: SchoolInfo, spec: Mapping[str, Any]
) -> list[Paragraph]:
    """One report as a coordinator writes it: date, title, mark and details; what was done;
    the links and files."""
    activity = spec["activity"]
    details = [report_mark(report.mark)]
    if who := participants(report):
        details.append(fill(activity["participants"], {"participants": who}))
    details.append(fill(activity["organizer"], {"organizer": organizer(report, school)}))
    line = {
        "date": day(report.held_on),
        "title": report.title.strip(),
        "details": activity["details_separator"].join(details),
    }
    out: list[Paragraph] = [[Bold(fill(activity["date"], line)), fill(activity["line"], line)]]
    if report.description and report.description.strip():
        out += report.description.strip().split("\n")
    shown = materials(report)
    if shown:
        out.append(activity["materials"])
        out += [[Link(url)] for url in report.links]
        out += shown[len(report.links) :]
    return out


def _activities(
    reports: Sequence[ReportRow],
    school: SchoolInfo,
    tally: Tally,
    late: Sequence[ItemRow],
    spec: Mapping[str, Any],
) -> list[Paragraph]:
    row = spec["row"]
    out: list[Paragraph] = []
    for report in reports:
        out += activity_paragraphs(report, school, spec)
    if not reports:
        out.append(row["none"])
    if tally.planned:
        out.append(
            fill(row["planned"], {"planned": tally.planned, "planned_done": tally.planned_done})
        )
    else:
        out.append(row["not_planned"])
    if late:
        out.append(row["overdue"])
        out += [fill(row["overdue_item"], {"item": item_line(item)}) for item in late]
    return out


def _level(run: RunResult, diagnostics: Diagnostics, texts: Mapping[str, str]) -> str:
    title = diagnostics.level_title(run) or "—"
    key = "level_levels" if run.kind == "levels" else "level_other"
    return fill(texts[key], {"level": title})


def _diagnostics_row(data: Data, school: SchoolInfo, texts: Mapping[str, str]) -> list[Cell]:
    runs = data.diagnostics.runs.get(school.id, {})
    if not runs:
        none = fill(texts["none"], {"date": day(data.request.end)})
        return ["1.", texts["direction"], data.request.period, mark_symbol("not_done"), none]
    # Self-diagnosis («levels») before a risk profile, then by title.
    ordered = sorted(runs.values(), key=lambda pair: (pair[0].kind != "levels", pair[0].title))
    content: list[Paragraph] = []
    for latest, previous in ordered:
        estimate = f" {say('estimate')}" if latest.estimate else ""
        content.append(
            fill(
                texts["run"],
                {
                    "questionnaire": latest.title,
                    "date": day(latest.completed_on),
                    "level": data.diagnostics.level_title(latest) or "—",
                    "estimate": estimate,
                    "points": number(latest.points),
                    "max_points": number(latest.max_points),
                },
            )
        )
        if previous is not None:
            content.append(
                fill(
                    texts["previous"],
                    {
                        "date": day(previous.completed_on),
                        "level": data.diagnostics.level_title(previous) or "—",
                    },
                )
            )
        if latest.deficits:
            content.append(texts["deficits"])
            content += [
                fill(texts["deficit"], {"deficit": deficit_text(direction, deficit)})
                for direction, deficit in latest.deficits
            ]
        else:
            content.append(texts["no_deficits"])
    dates = ", ".join(sorted({day(latest.completed_on) for latest, _ in ordered}))
    mark = fill(texts["mark_done"], {"level": _level(ordered[0][0], data.diagnostics, texts)})
    return ["1.", texts["direction"], dates, mark, content]
