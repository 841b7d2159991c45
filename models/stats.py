"""Per-school figures for status screens and summaries, counted by the database, not in Python.

Definitions shared by the bot and the export:

* Reports of the week are those held (``held_on``) from ``week_start`` to ``week_end``, which
  defaults to the Sunday after; totals count every report, whatever its review state.
* A report's direction is its own, or else its roadmap item's (``report_direction``).
* An item counts only while it is not archived. It is *covered* when it has any report, *done*
  when it has a report marked done (whatever the review state), and *overdue* when its due date
  is before today and it is not done.
* The latest self-diagnosis level is that of the run completed last of a questionnaire of kind
  «levels» (Школа Минпросвещения); risk profiles have risk levels, not a «уровень».
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Final, NamedTuple, TypeAlias

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.entities import ActivityReport, DiagnosticRun, Questionnaire, RoadmapItem, School
from models.enums import Direction, Mark, ReviewState, RunStatus

# A list of school ids, or a select of schools such as models.users.visible_schools_query(user).
Schools: TypeAlias = Sequence[int] | Select[Any]
# For statements built once and run with the school ids as a parameter.
_SCHOOL_IDS: Final = "school_ids"


@dataclass(frozen=True)
class SchoolFigures:
    """Counters of one school; see the module docstring for what each one means."""

    school_id: int
    name: str
    short_name: str
    reports_week: int
    reports_total: int
    done: int
    partial: int
    not_done: int
    items_total: int
    items_covered: int
    overdue: int
    awaiting_review: int
    returned: int
    last_activity: date | None
    latest_level: str | None
    latest_level_at: datetime | None
    items_done: int = 0
    """Roadmap items with a report marked done (a subset of ``items_covered``)."""


class DirectionProgress(NamedTuple):
    """Roadmap progress of one school in one direction (None: items and reports without one)."""

    direction: str | None
    items_total: int
    items_done: int
    reports: int
    overdue: int
    items_covered: int = 0


def school_filter(column: SQLColumnExpression[int], schools: Schools) -> ColumnElement[bool]:
    """``column IN (...)`` for a list of ids or a select of schools (its ``id`` column)."""
    if isinstance(schools, Select):
        subquery = schools.subquery()
        ids = subquery.c["id"] if "id" in subquery.c else subquery.c[0]
        return column.in_(select(ids))
    if isinstance(schools, BindParameter):
        return column.in_(schools)
    return column.in_(list(schools))


def report_direction() -> ColumnElement[str | None]:
    """Direction of a report; needs ``RoadmapItem`` outer-joined on the report's item."""
    return func.coalesce(ActivityReport.direction, RoadmapItem.direction)


def item_has_report(*conditions: ColumnElement[bool]) -> Exists:
    """EXISTS a report of the current ``RoadmapItem`` row matching ``conditions``."""
    return exists().where(ActivityReport.roadmap_item_id == RoadmapItem.id, *conditions)


def item_is_done() -> Exists:
    return item_has_report(ActivityReport.mark == Mark.DONE)


def item_is_overdue(today: date) -> ColumnElement[bool]:
    return and_(RoadmapItem.due_date < today, ~item_is_done())


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    # COUNT skips the NULL of a CASE without ELSE: portable, unlike COUNT(*) FILTER (WHERE ...).
    return func.count(case((condition, 1)))


def school_figures_query(
    schools: Schools, *, today: date, week_start: date, week_end: date | None = None
) -> Select[*tuple[Any, ...]]:
    """The single statement behind ``school_figures``: three grouped CTEs joined to schools."""
    week_end = week_end if week_end is not None else week_start + timedelta(days=6)
    report = ActivityReport
    reports = (
        select(
            report.school_id,
            _count_where(report.held_on.between(week_start, week_end)).label("week"),
            func.count().label("total"),
            _count_where(report.mark == Mark.DONE).label("done"),
            _count_where(report.mark == Mark.PARTIAL).label("partial"),
            _count_where(report.mark == Mark.NOT_DONE).label("not_done"),
            _count_where(report.review_state == ReviewState.SUBMITTED).label("awaiting"),
            _count_where(report.review_state == ReviewState.RETURNED).label("returned"),
            func.max(report.held_on).label("last_activity"),
        )
        .where(school_filter(report.school_id, schools))
        .group_by(report.school_id)
        .cte("school_reports")
    )
    items = (
        select(
            RoadmapItem.school_id,
            func.count().label("total"),
            _count_where(item_has_report()).label("covered"),
            _count_where(item_is_overdue(today)).label("overdue"),
            _count_where(item_is_done()).label("done"),
        )
        .where(school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False))
        .group_by(RoadmapItem.school_id)
        .cte("school_items")
    )
    run = DiagnosticRun
    runs = (
        select(
            run.school_id,
            run.level,
            run.completed_at,
            func.row_number()
            .over(
                partition_by=run.school_id,
                order_by=(run.completed_at.desc().nulls_last(), run.id.desc()),
            )
            .label("run_rank"),
        )
        # The level is the self-diagnosis «уровень»; a 500+ risk profile has risk levels instead.
        .join(Questionnaire, Questionnaire.id == run.questionnaire_id)
        .where(
            school_filter(run.school_id, schools),
            run.status == RunStatus.COMPLETED,
            Questionnaire.kind == "levels",
        )
        .cte("school_runs")
    )

    def zero(column: ColumnElement[int]) -> ColumnElement[int]:
        return func.coalesce(column, 0)

    return (
        select(
            School.id,
            School.name,
            School.short_name,
            zero(reports.c.week),
            zero(reports.c.total),
            zero(reports.c.done),
            zero(reports.c.partial),
            zero(reports.c.not_done),
            zero(items.c.total),
            zero(items.c.covered),
            zero(items.c.overdue),
            zero(reports.c.awaiting),
            zero(reports.c.returned),
            reports.c.last_activity,
            runs.c.level,
            runs.c.completed_at,
            zero(items.c.done),
        )
        .outerjoin(reports, reports.c.school_id == School.id)
        .outerjoin(items, items.c.school_id == School.id)
        .outerjoin(runs, and_(runs.c.school_id == School.id, runs.c.run_rank == 1))
        .where(school_filter(School.id, schools))
        .order_by(School.short_name, School.id)
    )


async def school_figures(
    session: AsyncSession,
    school_ids: Schools,
    *,
    today: date,
    week_start: date,
    week_end: date | None = None,
) -> list[SchoolFigures]:
    """Figures of the given schools in one query, by short name; the week ends on week_end."""
    if isinstance(school_ids, Select):
        rows = await session.execute(
            school_figures_query(school_ids, today=today, week_start=week_start, week_end=week_end)
        )
    else:
        rows = await session.execute(
            _school_figures_by_ids(),
            {
                _SCHOOL_IDS: list(school_ids),
                "today": today,
                "week_start": week_start,
                "week_end": week_end if week_end is not None else week_start + timedelta(days=6),
            },
        )
    return [SchoolFigures(*row) for row in rows]


@cache
def _school_figures_by_ids() -> Select[Any]:
    """``school_figures_query`` built once, with the ids and dates as parameters: building the
    statement took most of a one-school /status call's CPU (bench/status.py)."""
    return school_figures_query(
        bindparam(_SCHOOL_IDS, expanding=True),  # type: ignore[arg-type]
        today=bindparam("today"),  # type: ignore[arg-type]
        week_start=bindparam("week_start"),  # type: ignore[arg-type]
        week_end=bindparam("week_end"),  # type: ignore[arg-type]
    )


def direction_progress_query(school_id: int, *, today: date) -> Select[Any]:
    """Items and reports of one school, each grouped by direction, summed per direction."""

    def zero(name: str) -> ColumnElement[int]:
        return literal_column("0").label(name)

    items = (
        select(
            RoadmapItem.direction.label("direction"),
            func.count().label("items_total"),
            _count_where(item_is_done()).label("items_done"),
            zero("reports"),
            _count_where(item_is_overdue(today)).label("overdue"),
            _count_where(item_has_report()).label("items_covered"),
        )
        .where(RoadmapItem.school_id == school_id, RoadmapItem.is_archived.is_(False))
        .group_by(RoadmapItem.direction)
    )
    direction = report_direction()
    reports = (
        select(
            direction.label("direction"),
            zero("items_total"),
            zero("items_done"),
            func.count().label("reports"),
            zero("overdue"),
            zero("items_covered"),
        )
        .select_from(ActivityReport)
        .outerjoin(RoadmapItem, RoadmapItem.id == ActivityReport.roadmap_item_id)
        .where(ActivityReport.school_id == school_id)
        .group_by(direction)
    )
    # UNION ALL then GROUP BY instead of a FULL OUTER JOIN, which older SQLite lacks.
    both = union_all(items, reports).subquery("by_direction")
    known = [(both.c.direction == code.value, index) for index, code in enumerate(Direction)]
    order = case(*known, (both.c.direction.is_(None), len(known) + 1), else_=len(known))
    return (
        select(
            both.c.direction,
            func.sum(both.c.items_total),
            func.sum(both.c.items_done),
            func.sum(both.c.reports),
            func.sum(both.c.overdue),
            func.sum(both.c.items_covered),
        )
        .group_by(both.c.direction)
        .order_by(order, both.c.direction)
    )


async def direction_progress(
    session: AsyncSession, school_id: int, *, today: date
) -> list[DirectionProgress]:
    """Progress per direction: known directions in their canonical order, others, then None."""
    rows = await session.execute(direction_progress_query(school_id, today=today))
    # SUM of a bigint is numeric on PostgreSQL, so the driver hands back Decimal.
    return [
        DirectionProgress(
            direction, int(total), int(done), int(reports), int(overdue), int(covered)
        )
        for direction, total, done, reports, overdue, covered in rows
    ]


async def overdue_items(
    session: AsyncSession, school_id: int, *, today: date, limit: int = 20
) -> Sequence[RoadmapItem]:
    """Overdue items of a school, earliest deadline first."""
    stmt = (
        select(RoadmapItem)
        .where(
            RoadmapItem.school_id == school_id,
            RoadmapItem.is_archived.is_(False),
            item_is_overdue(today),
        )
        .order_by(RoadmapItem.due_date, RoadmapItem.position, RoadmapItem.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def latest_reports(
    session: AsyncSession, school_id: int, limit: int = 10
) -> Sequence[ActivityReport]:
    """The school's most recently held reports, with their evidence loaded for display."""
    stmt = (
        select(ActivityReport)
        .where(ActivityReport.school_id == school_id)
        .order_by(ActivityReport.held_on.desc(), ActivityReport.id.desc())
        .limit(limit)
        .options(selectinload(ActivityReport.evidence))
    )
    return (await session.scalars(stmt)).all()
