"""What the documents say, read from the database: schools, reports, roadmap items, runs.

Definitions (the same in every document, and printed in their notes where they matter):

* a report belongs to the period when it was held (``held_on``) from ``start`` to ``end``;
* a report's direction is its own, or else its roadmap item's (``models.stats``);
* a roadmap item counts while it is not archived; it is *planned* in the period when its
  deadline (``due_date``) falls in it; *done* when it has a report marked done held no later
  than the period's end; *covered* when it has any report held by then; *overdue* when its
  deadline is before the period's end (before today, for a period that runs until today or
  later) and it is not done;
* a school's self-diagnosis is its latest completed run of a questionnaire by the period's end,
  compared with the run before it.

Counts are grouped by the database (per school and direction); row lists are read only where a
document lists rows (a school's activities, the activities report), and then a batch at a time
through a server-side cursor: the event loop serves other updates between batches instead of
building a municipality's year of rows in one go (bench/documents.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    Municipality,
    Questionnaire,
    RoadmapItem,
    School,
)
from models.enums import EvidenceKind, Mark, ReviewState, RunStatus
from models.stats import Schools, item_has_report, report_direction, school_filter

BATCH: Final = 1_000


async def _batches(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]]
) -> AsyncIterator[Sequence[Row[*tuple[Any, ...]]]]:
    """The statement's rows, a batch at a time (iterating row by row costs a greenlet switch
    per row)."""
    result = await session.stream(stmt.execution_options(yield_per=BATCH))
    try:
        async for batch in result.partitions():
            yield batch
    finally:
        await result.close()


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    id: int
    name: str
    short_name: str
    project: str
    municipality: str


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    school_id: int
    held_on: date
    title: str
    direction: str | None
    mark: Mark
    description: str | None
    participants_count: int | None
    participants_category: str | None
    organizer: str | None
    review_state: ReviewState
    links: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    school_id: int
    number: str | None
    title: str
    direction: str | None
    due_raw: str | None
    due_date: date | None
    done: bool
    overdue: bool


@dataclass(slots=True)
class Tally:
    """Counters of one school and direction (or any sum of them); see the module docstring."""

    reports: int = 0
    done: int = 0
    partial: int = 0
    not_done: int = 0
    confirmed: int = 0
    awaiting: int = 0
    returned: int = 0
    participants: int = 0
    with_materials: int = 0
    items: int = 0
    covered: int = 0
    items_done: int = 0
    planned: int = 0
    planned_done: int = 0
    overdue: int = 0
    first_due: date | None = None
    last_due: date | None = None

    def facts(self) -> dict[str, Any]:
        """The counters by name, for a template."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def add(self, other: Tally) -> None:
        for item in fields(self):
            name = item.name
            if name == "first_due":
                self.first_due = _earliest(self.first_due, other.first_due)
            elif name == "last_due":
                self.last_due = _latest(self.last_due, other.last_due)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


def _earliest(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class Figures:
    """Tallies per (school id, direction); None is «no direction»."""

    cells: dict[tuple[int, str | None], Tally] = field(default_factory=dict)

    def cell(self, school_id: int, direction: str | None) -> Tally:
        return self.cells.setdefault((school_id, direction), Tally())

    def by_school(self) -> dict[int, Tally]:
        return _sum(self.cells.items(), lambda key: key[0])

    def by_direction(self, school_ids: Iterable[int] | None = None) -> dict[str | None, Tally]:
        wanted = None if school_ids is None else set(school_ids)
        cells = [(k, v) for k, v in self.cells.items() if wanted is None or k[0] in wanted]
        return _sum(cells, lambda key: key[1])

    def total(self) -> Tally:
        out = Tally()
        for tally in self.cells.values():
            out.add(tally)
        return out


def _sum(cells: Iterable[tuple[Any, Tally]], key: Any) -> dict[Any, Tally]:
    out: dict[Any, Tally] = defaultdict(Tally)
    for k, tally in cells:
        out[key(k)].add(tally)
    return dict(out)


@dataclass(frozen=True, slots=True)
class RunResult:
    """A completed run: its level and, per direction, what it found."""

    school_id: int
    questionnaire_id: int
    code: str
    title: str
    kind: str
    completed_on: date
    level: str | None
    points: float | None
    max_points: float | None
    estimate: bool
    deficits: tuple[tuple[str, str], ...]  # (direction title, deficit)


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """Per school, per questionnaire code: the latest run and the one before (or None)."""

    runs: dict[int, dict[str, tuple[RunResult, RunResult | None]]]
    scales: dict[int, tuple[tuple[str, str], ...]]  # questionnaire id -> levels, lowest first

    def level_title(self, run: RunResult) -> str | None:
        for code, title in self.scales.get(run.questionnaire_id, ()):
            if code == run.level:
                return title
        return run.level

    def rank(self, run: RunResult) -> int | None:
        codes = [code for code, _title in self.scales.get(run.questionnaire_id, ())]
        return codes.index(run.level) if run.level in codes else None


def period_cutoff(end: date, today: date) -> date:
    """Deadlines before this day are past: the day after the period, or today if earlier."""
    return min(end + timedelta(days=1), today)


async def load_schools(session: AsyncSession, schools: Schools) -> list[SchoolInfo]:
    rows = await session.execute(
        select(School.id, School.name, School.short_name, School.project, Municipality.name)
        .join(Municipality, Municipality.id == School.municipality_id)
        .where(school_filter(School.id, schools))
        .order_by(Municipality.name, School.short_name, School.id)
    )
    return [SchoolInfo(i, n, s, str(p), m) for i, n, s, p, m in rows]


def _in_period(schools: Schools, start: date, end: date) -> ColumnElement[bool]:
    return and_(
        school_filter(ActivityReport.school_id, schools),
        ActivityReport.held_on.between(start, end),
    )


_REPORT_FIELDS: Final = (
    "id",
    "school_id",
    "held_on",
    "title",
    "direction",
    "mark",
    "description",
    "participants_count",
    "participants_category",
    "organizer",
    "review_state",
)


async def load_reports(
    session: AsyncSession, schools: Schools, start: date, end: date
) -> list[ReportRow]:
    """Reports held in the period with their links and files, by school, date and id.

    One statement, a row per piece of evidence (or one for a report without any), read flat:
    consecutive rows of a report make it; nothing is kept per report but the report."""
    r = ActivityReport
    stmt = (
        select(
            r.id,
            r.school_id,
            r.held_on,
            r.title,
            report_direction(),
            r.mark,
            r.description,
            r.participants_count,
            r.participants_category,
            r.organizer,
            r.review_state,
            Evidence.kind,
            Evidence.url,
            Evidence.file_name,
        )
        .outerjoin(RoadmapItem, RoadmapItem.id == r.roadmap_item_id)
        .outerjoin(Evidence, Evidence.report_id == r.id)
        .where(_in_period(schools, start, end))
        .order_by(r.school_id, r.held_on, r.id, Evidence.id)
    )
    out: list[ReportRow] = []
    fields_: tuple[Any, ...] = ()
    links: list[str] = []
    files: list[str] = []

    def flush() -> None:
        if fields_:
            values = dict(zip(_REPORT_FIELDS, fields_, strict=True))
            out.append(ReportRow(**values, links=tuple(links), files=tuple(files)))

    async for batch in _batches(session, stmt):
        for row in batch:
            if not fields_ or row[0] != fields_[0]:
                flush()
                fields_, links, files = tuple(row[:11]), [], []
            kind, url, name = row[11], row[12], row[13]
            if url:
                links.append(url)
            elif kind is not None:
                files.append(name or ("photo" if kind == EvidenceKind.PHOTO else "document"))
    flush()
    return out


def _done_by(end: date) -> ColumnElement[bool]:
    return item_has_report(ActivityReport.mark == Mark.DONE, ActivityReport.held_on <= end)


async def load_items(
    session: AsyncSession, schools: Schools, *, end: date, today: date
) -> list[ItemRow]:
    """Roadmap items (not archived) of the schools, in roadmap order."""
    done = _done_by(end)
    overdue = and_(RoadmapItem.due_date < period_cutoff(end, today), ~done)
    rows = (
        select(
            RoadmapItem.id,
            RoadmapItem.school_id,
            RoadmapItem.number,
            RoadmapItem.title,
            RoadmapItem.direction,
            RoadmapItem.due_raw,
            RoadmapItem.due_date,
            done.label("done"),
            overdue.label("overdue"),
        )
        .where(school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False))
        .order_by(RoadmapItem.school_id, RoadmapItem.position, RoadmapItem.id)
    )
    items = []
    async for batch in _batches(session, rows):
        for row in batch:
            values = row._asdict()
            values["done"], values["overdue"] = bool(row.done), bool(row.overdue)
            items.append(ItemRow(**values))
    return items


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


async def load_figures(
    session: AsyncSession, schools: Schools, *, start: date, end: date, today: date
) -> Figures:
    """Reports of the period and roadmap items, counted per school and direction in SQL."""
    figures = Figures()
    r = ActivityReport
    direction = report_direction()
    has_materials = select(Evidence.id).where(Evidence.report_id == r.id).exists()
    reports = await session.execute(
        select(
            r.school_id,
            direction,
            func.count(),
            _count(r.mark == Mark.DONE),
            _count(r.mark == Mark.PARTIAL),
            _count(r.mark == Mark.NOT_DONE),
            _count(r.review_state == ReviewState.CONFIRMED),
            _count(r.review_state == ReviewState.SUBMITTED),
            _count(r.review_state == ReviewState.RETURNED),
            func.coalesce(func.sum(r.participants_count), 0),
            _count(has_materials),
        )
        .outerjoin(RoadmapItem, RoadmapItem.id == r.roadmap_item_id)
        .where(_in_period(schools, start, end))
        .group_by(r.school_id, direction)
    )
    for school_id, code, *counts in reports:
        tally = figures.cell(school_id, code)
        (
            tally.reports,
            tally.done,
            tally.partial,
            tally.not_done,
            tally.confirmed,
            tally.awaiting,
            tally.returned,
            tally.participants,
            tally.with_materials,
        ) = (int(value) for value in counts)
    done = _done_by(end)
    planned = RoadmapItem.due_date.between(start, end)
    in_period_due = case((planned, RoadmapItem.due_date))
    items = await session.execute(
        select(
            RoadmapItem.school_id,
            RoadmapItem.direction,
            func.count(),
            _count(item_has_report(ActivityReport.held_on <= end)),
            _count(done),
            _count(planned),
            _count(and_(planned, done)),
            _count(and_(RoadmapItem.due_date < period_cutoff(end, today), ~done)),
            func.min(in_period_due),
            func.max(in_period_due),
        )
        .where(school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False))
        .group_by(RoadmapItem.school_id, RoadmapItem.direction)
    )
    for school_id, code, total, covered, n_done, n_planned, n_planned_done, late, a, b in items:
        tally = figures.cell(school_id, code)
        tally.items, tally.covered, tally.items_done = total, covered, n_done
        tally.planned, tally.planned_done, tally.overdue = n_planned, n_planned_done, late
        tally.first_due, tally.last_due = _as_date(a), _as_date(b)
    return figures


def _as_date(value: object) -> date | None:
    # MIN over a CASE loses the column type on SQLite: the driver hands back the ISO text.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


async def load_diagnostics(
    session: AsyncSession, schools: Schools, *, end: date, tz: ZoneInfo
) -> Diagnostics:
    """Each school's two latest completed runs per questionnaire up to the period's end."""
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)
    run = DiagnosticRun
    ranked = (
        select(
            run.id.label("run_id"),
            func.row_number()
            .over(
                partition_by=(run.school_id, Questionnaire.code),
                order_by=(run.completed_at.desc(), run.id.desc()),
            )
            .label("rank"),
        )
        .join(Questionnaire, Questionnaire.id == run.questionnaire_id)
        .where(
            school_filter(run.school_id, schools),
            run.status == RunStatus.COMPLETED,
            run.completed_at < until,
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            run.school_id,
            Questionnaire.id,
            Questionnaire.code,
            Questionnaire.title,
            Questionnaire.kind,
            run.completed_at,
            run.level,
            run.total_points,
            run.max_points,
            run.result,
            ranked.c.rank,
        )
        .join(ranked, ranked.c.run_id == run.id)
        .join(Questionnaire, Questionnaire.id == run.questionnaire_id)
        .where(ranked.c.rank <= 2)
        .order_by(run.school_id, Questionnaire.code, ranked.c.rank)
    )
    latest: dict[int, dict[str, list[RunResult]]] = defaultdict(dict)
    for school_id, qid, code, title, kind, at, level, points, top, result, _rank in rows:
        stored: Mapping[str, Any] = result if isinstance(result, dict) else {}
        found = RunResult(
            school_id=school_id,
            questionnaire_id=qid,
            code=code,
            title=title,
            kind=kind,
            completed_on=at.astimezone(tz).date(),
            level=level,
            points=points,
            max_points=top,
            estimate=stored.get("estimate") is True,
            deficits=_deficits(stored),
        )
        latest[school_id].setdefault(code, []).append(found)
    runs = {
        school_id: {
            code: (pair[0], pair[1] if len(pair) > 1 else None) for code, pair in by.items()
        }
        for school_id, by in latest.items()
    }
    ids = {r.questionnaire_id for by in runs.values() for pair in by.values() for r in pair if r}
    return Diagnostics(runs=runs, scales=await _scales(session, ids))


def _deficits(result: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = []
    directions = result.get("directions")
    for entry in directions if isinstance(directions, list) else []:
        if not isinstance(entry, dict):
            continue
        title = str(entry.get("title") or entry.get("code") or "")
        deficits = entry.get("deficits")
        for text in deficits if isinstance(deficits, list) else []:
            if isinstance(text, str) and text.strip():
                found.append((title, text.strip()))
    return tuple(found)


async def _scales(
    session: AsyncSession, questionnaire_ids: Iterable[int]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """The level scale (lowest first) each questionnaire version was scored with."""
    ids = sorted(questionnaire_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Questionnaire.id, Questionnaire.definition).where(Questionnaire.id.in_(ids))
    )
    scales = {}
    for qid, definition in rows:
        levels: Sequence[Any] = (definition or {}).get("levels") or []
        scales[qid] = tuple(
            (str(level["code"]), str(level.get("title") or level["code"]))
            for level in levels
            if isinstance(level, dict) and "code" in level
        )
    return scales
