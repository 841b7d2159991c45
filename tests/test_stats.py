"""Per-school figures against a hand-counted data set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    EvidenceKind,
    Mark,
    Municipality,
    Questionnaire,
    ReviewState,
    RoadmapItem,
    RunStatus,
    School,
)
from models.stats import (
    DirectionProgress,
    SchoolFigures,
    direction_progress,
    direction_progress_query,
    latest_reports,
    overdue_items,
    school_figures,
    school_figures_query,
)
from models.users import visible_schools_query
from tests.conftest import World

TODAY = date(2026, 11, 25)  # a Wednesday
WEEK_START = date(2026, 11, 23)

DONE, PARTIAL, NOT_DONE = Mark.DONE, Mark.PARTIAL, Mark.NOT_DONE
SUBMITTED, CONFIRMED, RETURNED = ReviewState.SUBMITTED, ReviewState.CONFIRMED, ReviewState.RETURNED


@dataclass
class Data:
    world: World
    empty: School
    other: School
    items: dict[str, RoadmapItem]
    reports: dict[str, ActivityReport]


def _item(school: School, key: str, position: int, **kwargs: Any) -> RoadmapItem:
    return RoadmapItem(
        school_id=school.id, title=f"Мероприятие {key}", position=position, **kwargs
    )


def _report(
    school: School,
    item: RoadmapItem | None,
    held_on: date,
    mark: Mark,
    state: ReviewState,
    direction: str | None = None,
) -> ActivityReport:
    return ActivityReport(
        school_id=school.id,
        roadmap_item_id=item.id if item is not None else None,
        title="Отчёт",
        held_on=held_on,
        mark=mark,
        review_state=state,
        direction=direction,
    )


@pytest.fixture
async def data(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Data:
    a, b = world.school_a, world.school_b
    async with session_factory() as session, session.begin():
        elsewhere = Municipality(name="Другой округ")
        session.add(elsewhere)
        await session.flush()
        empty = School(
            municipality_id=world.municipality.id, name="МБОУ «Гимназия №1»", short_name="Гимназия"
        )
        other = School(municipality_id=elsewhere.id, name="МБОУ «Лицей»", short_name="Лицей")
        session.add_all([empty, other])
        await session.flush()

        items = {
            # A: i1 done; i2 partial only and past due; i3 past due, no report; i4 not done
            # but due later; i5 without a due date; i6 archived; i7 due today (not yet overdue).
            "i1": _item(a, "i1", 1, direction="knowledge", due_date=date(2026, 11, 10)),
            "i2": _item(a, "i2", 2, direction="knowledge", due_date=date(2026, 11, 20)),
            "i3": _item(a, "i3", 3, direction="health", due_date=date(2026, 11, 20)),
            "i4": _item(a, "i4", 4, due_date=date(2026, 12, 31)),
            "i5": _item(a, "i5", 5, direction="health"),
            "i6": _item(
                a, "i6", 6, direction="career", due_date=date(2026, 1, 1), is_archived=True
            ),
            "i7": _item(a, "i7", 7, direction="knowledge", due_date=TODAY),
            # B: done, although the curator returned the report: still not overdue.
            "b1": _item(b, "b1", 1, direction="climate", due_date=date(2026, 11, 1)),
            # A school outside every query below.
            "o1": _item(other, "o1", 1, due_date=date(2026, 1, 1)),
        }
        session.add_all(items.values())
        await session.flush()
        i = items
        reports = {
            "r1": _report(a, i["i1"], date(2026, 11, 24), DONE, CONFIRMED),
            "r2": _report(a, i["i2"], date(2026, 11, 16), PARTIAL, SUBMITTED),
            "r3": _report(a, i["i4"], WEEK_START, NOT_DONE, RETURNED),
            "r4": _report(a, None, date(2026, 11, 22), DONE, SUBMITTED, direction="creativity"),
            "r5": _report(a, i["i6"], date(2026, 10, 1), DONE, CONFIRMED),
            "r6": _report(a, i["i1"], TODAY, NOT_DONE, SUBMITTED),
            "r7": _report(a, None, date(2026, 9, 1), PARTIAL, CONFIRMED),
            "rb1": _report(b, i["b1"], date(2026, 11, 2), DONE, RETURNED),
            "rb2": _report(b, None, date(2026, 11, 29), PARTIAL, CONFIRMED),
            "ro1": _report(other, i["o1"], TODAY, DONE, SUBMITTED),
        }
        session.add_all(reports.values())
        await session.flush()
        session.add_all(
            [
                Evidence(report_id=reports["r1"].id, kind=EvidenceKind.LINK, url="https://a.ru/1"),
                Evidence(report_id=reports["r1"].id, kind=EvidenceKind.PHOTO, file_id="f"),
            ]
        )

        questionnaire = Questionnaire(
            code="msh", version="2024.1", title="ШМР", kind="levels", definition={}
        )
        session.add(questionnaire)
        await session.flush()

        def run(school: School, status: RunStatus, level: str | None, at: datetime | None) -> None:
            session.add(
                DiagnosticRun(
                    school_id=school.id,
                    questionnaire_id=questionnaire.id,
                    status=status,
                    level=level,
                    completed_at=at,
                )
            )

        run(a, RunStatus.COMPLETED, "basic", datetime(2026, 9, 1, 9, tzinfo=UTC))
        run(a, RunStatus.COMPLETED, "medium", datetime(2026, 11, 1, 10, tzinfo=UTC))
        run(a, RunStatus.IN_PROGRESS, None, None)
        run(a, RunStatus.ABANDONED, "high", datetime(2026, 11, 20, tzinfo=UTC))
        run(b, RunStatus.IN_PROGRESS, None, None)
        run(other, RunStatus.COMPLETED, "high", datetime(2026, 11, 1, tzinfo=UTC))
    return Data(world=world, empty=empty, other=other, items=items, reports=reports)


def _expected_a(data: Data) -> SchoolFigures:
    school = data.world.school_a
    return SchoolFigures(
        school_id=school.id,
        name="МБОУ «СОШ №2»",
        short_name="СОШ №2",
        reports_week=3,  # r1, r3 (Monday), r6 (today); r4 is last Sunday
        reports_total=7,
        done=3,  # r1, r4, r5
        partial=2,  # r2, r7
        not_done=2,  # r3, r6
        items_total=6,  # i6 is archived
        items_covered=3,  # i1, i2, i4
        overdue=2,  # i2 (partial only), i3
        awaiting_review=3,  # r2, r4, r6
        returned=1,  # r3
        last_activity=TODAY,
        latest_level="medium",
        latest_level_at=datetime(2026, 11, 1, 10, tzinfo=UTC),
        items_done=1,  # i1 (r1); i6 is archived, i2 only partial
    )


def _expected_b(data: Data) -> SchoolFigures:
    return SchoolFigures(
        school_id=data.world.school_b.id,
        name="МБОУ «СОШ №5»",
        short_name="СОШ №5",
        reports_week=1,  # rb2, on the week's Sunday
        reports_total=2,
        done=1,
        partial=1,
        not_done=0,
        items_total=1,
        items_covered=1,
        overdue=0,
        awaiting_review=0,
        returned=1,
        last_activity=date(2026, 11, 29),
        latest_level=None,
        latest_level_at=None,
        items_done=1,  # b1 (rb1)
    )


def _expected_empty(data: Data) -> SchoolFigures:
    return SchoolFigures(
        school_id=data.empty.id,
        name="МБОУ «Гимназия №1»",
        short_name="Гимназия",
        reports_week=0,
        reports_total=0,
        done=0,
        partial=0,
        not_done=0,
        items_total=0,
        items_covered=0,
        overdue=0,
        awaiting_review=0,
        returned=0,
        last_activity=None,
        latest_level=None,
        latest_level_at=None,
    )


async def test_school_figures_are_counted_exactly(data: Data, session: AsyncSession) -> None:
    ids = [data.world.school_a.id, data.world.school_b.id, data.empty.id]

    figures = await school_figures(session, ids, today=TODAY, week_start=WEEK_START)

    assert figures == [_expected_empty(data), _expected_a(data), _expected_b(data)]


async def test_subset_of_schools_only(data: Data, session: AsyncSession) -> None:
    only_b = await school_figures(
        session, [data.world.school_b.id], today=TODAY, week_start=WEEK_START
    )
    assert only_b == [_expected_b(data)]
    assert await school_figures(session, [], today=TODAY, week_start=WEEK_START) == []


async def test_schools_given_as_a_select(data: Data, session: AsyncSession) -> None:
    curated = await school_figures(
        session, visible_schools_query(data.world.curator), today=TODAY, week_start=WEEK_START
    )
    assert curated == [_expected_a(data)]

    municipality = await school_figures(
        session,
        select(School.id).where(School.municipality_id == data.world.municipality.id),
        today=TODAY,
        week_start=WEEK_START,
    )
    assert [f.short_name for f in municipality] == ["Гимназия", "СОШ №2", "СОШ №5"]


async def test_period_other_than_a_week(data: Data, session: AsyncSession) -> None:
    [figures] = await school_figures(
        session,
        [data.world.school_a.id],
        today=TODAY,
        week_start=date(2026, 11, 16),
        week_end=date(2026, 11, 22),
    )
    assert figures.reports_week == 2  # r2, r4


async def test_one_statement_whatever_the_number_of_schools(
    data: Data, session: AsyncSession, engine: AsyncEngine
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        ids = [data.world.school_a.id, data.world.school_b.id, data.empty.id, data.other.id]
        await school_figures(session, ids, today=TODAY, week_start=WEEK_START)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith(("WITH", "SELECT"))]) == 1


def test_queries_compile_for_postgresql() -> None:
    dialect = postgresql.dialect()
    figures = school_figures_query(select(School.id), today=TODAY, week_start=WEEK_START).compile(
        dialect=dialect
    )
    progress = direction_progress_query(1, today=TODAY).compile(dialect=dialect)
    assert "row_number() OVER" in str(figures)
    assert "UNION ALL" in str(progress)


async def test_direction_progress(data: Data, session: AsyncSession) -> None:
    progress = await direction_progress(session, data.world.school_a.id, today=TODAY)

    assert progress == [
        # i1 done (r1), i2 overdue, i7 due today; reports r1, r6 (via i1) and r2
        # covered: i1 and i2 (partial r2)
        DirectionProgress(
            "knowledge", items_total=3, items_done=1, reports=3, overdue=1, items_covered=2
        ),
        DirectionProgress("health", items_total=2, items_done=0, reports=0, overdue=1),
        DirectionProgress("creativity", items_total=0, items_done=0, reports=1, overdue=0),
        # r5's item i6 is archived, but the report still counts under its direction
        DirectionProgress("career", items_total=0, items_done=0, reports=1, overdue=0),
        # i4 and the free report r7; r3 is on i4
        DirectionProgress(
            None, items_total=1, items_done=0, reports=2, overdue=0, items_covered=1
        ),
    ]


async def test_direction_progress_of_an_empty_school(data: Data, session: AsyncSession) -> None:
    assert await direction_progress(session, data.empty.id, today=TODAY) == []


async def test_overdue_items(data: Data, session: AsyncSession) -> None:
    items = await overdue_items(session, data.world.school_a.id, today=TODAY)
    assert [item.id for item in items] == [data.items["i2"].id, data.items["i3"].id]

    first = await overdue_items(session, data.world.school_a.id, today=TODAY, limit=1)
    assert [item.id for item in first] == [data.items["i2"].id]

    # Tomorrow i7 (due today) joins them.
    later = await overdue_items(session, data.world.school_a.id, today=date(2026, 11, 26))
    assert data.items["i7"].id in {item.id for item in later}


async def test_latest_reports_with_evidence(data: Data, session: AsyncSession) -> None:
    reports = await latest_reports(session, data.world.school_a.id, limit=3)

    assert [r.id for r in reports] == [data.reports[k].id for k in ("r6", "r1", "r3")]
    # lazy="raise" on the relationship: this only works because it was eager-loaded.
    assert [e.url for e in reports[1].evidence] == ["https://a.ru/1", None]
    assert reports[0].evidence == []
