"""«Отчёт о проведённых мероприятиях»: every report of the period as a row of the regional
coordinator's table, grouped by school when there are several; totals are the table's sums."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exports.documents.common import (
    Request,
    columns_of,
    day,
    direction_title,
    finish,
    materials,
    organizer,
    participants,
    scope_facts,
    write_blocks,
)
from exports.documents.docx import Cell, DocxWriter, Link, Paragraph
from exports.documents.facts import ReportRow, SchoolInfo, load_reports, load_schools
from exports.documents.templates import fill, render, template
from models.enums import Mark, ReviewState

NAME = "activities"


@dataclass(frozen=True)
class Data:
    request: Request
    schools: list[SchoolInfo]
    reports: list[ReportRow]


async def collect(session: AsyncSession, request: Request) -> Data:
    return Data(
        request=request,
        schools=await load_schools(session, request.schools),
        reports=await load_reports(session, request.schools, request.start, request.end),
    )


def report_cells(
    number: int, report: ReportRow, school: SchoolInfo, spec: Mapping[str, Any]
) -> list[Cell]:
    topic: list[Paragraph] = [report.title.strip()]
    if report.direction is not None:
        topic.append(fill(spec["direction"], {"direction": direction_title(report.direction)}))
    links: list[Paragraph] = [[Link(url)] for url in report.links]
    links += materials(report)[len(report.links) :]
    return [
        f"{number}.",
        day(report.held_on),
        topic,
        organizer(report, school),
        links or spec["no_materials"],
        participants(report) or spec["not_stated"],
    ]


def table_rows(data: Data, spec: Mapping[str, Any]) -> Iterator[Sequence[Cell] | str]:
    """The rows in school order (the schools' order in ``data.schools``), numbered throughout;
    made one at a time as the writer takes them, so a year of rows is never all in memory."""
    # The reports come by school, date and id; grouped, not sorted again: sorting a year of
    # rows is C code that holds the GIL (and with it the bot's event loop) for its whole run.
    by_school: dict[int, list[ReportRow]] = defaultdict(list)
    for report in data.reports:
        by_school[report.school_id].append(report)
    number = 0
    for school in data.schools:
        reports = by_school.get(school.id)
        if not reports:
            continue
        if len(data.schools) > 1:
            yield fill(spec["school_row"], {"school": school.name})
        for report in reports:
            number += 1
            yield report_cells(number, report, school, spec)


def totals(reports: Sequence[ReportRow]) -> dict[str, int]:
    def count(condition: Any) -> int:
        return sum(1 for report in reports if condition(report))

    with_materials = count(lambda r: r.links or r.files)
    return {
        "reports": len(reports),
        "done": count(lambda r: r.mark == Mark.DONE),
        "partial": count(lambda r: r.mark == Mark.PARTIAL),
        "not_done": count(lambda r: r.mark == Mark.NOT_DONE),
        "with_materials": with_materials,
        "without_materials": len(reports) - with_materials,
        "participants": sum(r.participants_count or 0 for r in reports),
        "no_count": count(lambda r: not r.participants_count),
        "confirmed": count(lambda r: r.review_state == ReviewState.CONFIRMED),
        "awaiting": count(lambda r: r.review_state == ReviewState.SUBMITTED),
        "returned": count(lambda r: r.review_state == ReviewState.RETURNED),
    }


def render_docx(data: Data) -> tuple[bytes, int]:
    spec = template(NAME)
    writer = DocxWriter(title=spec["name"], landscape=bool(spec.get("landscape")))
    facts = {
        **data.request.common_facts(),
        **scope_facts(data.schools),
        **totals(data.reports),
    }
    rows = table_rows(data, spec)
    write_blocks(
        writer,
        render(spec["blocks"], facts),
        tables={"rows": (columns_of(spec["columns"]), rows)},
    )
    return finish(writer, data.request.now), len(data.reports)
