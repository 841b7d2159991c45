"""The school's roadmap: applying an import, listing items with their status, reminder queries.

An import keeps `RoadmapItem` ids stable, so reports stay attached: incoming rows are matched to
existing items by section + number + title, then by title alone, then by a renumbered row with
a similar title; matched items are updated, new ones created, and items that came from an
earlier file but are no longer in it are archived, never deleted. Items added in the bot (from
a self-diagnosis, `source_row IS NULL`) are not in any file and are left alone.

Directions (models/roadmap_directions.py): one the coordinator chose in the chat stays; else one
the file names (its «Направление» column, or a section named after a direction) is taken; one
suggested by the words of an activity only fills an item that has none.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from difflib import SequenceMatcher
from typing import Any, NamedTuple

from sqlalchemy import Row, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import record
from models.duedates import Due
from models.entities import (
    ActivityReport,
    AuditEvent,
    RoadmapItem,
    School,
    User,
    curator_schools,
)
from models.enums import Mark, Role
from models.roadmap_directions import DirectionSource, Found, directions_of
from models.roadmap_import import ParsedItem

# A renumbered row is the same item only if its title is still recognisably the same.
SIMILAR_TITLE = 0.6
_NUMBER_MAX = 20
# The audit action of a direction chosen in the chat: imports leave that direction alone.
DIRECTION_SET = "roadmap_item_direction"


# --- import ---------------------------------------------------------------------------------


class PlannedDirection(NamedTuple):
    """The direction an incoming activity will have; `suggested`: from its words only."""

    code: str | None
    suggested: bool = False


@dataclass(frozen=True)
class ImportPlan:
    """What an import does (or did): counts of items per outcome, and per incoming activity
    the direction it will have."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    restored: int = 0
    suggested: int = 0
    directions: tuple[PlannedDirection, ...] = ()


def _norm(text: str | None) -> str:
    text = (text or "").casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _norm_number(number: str | None) -> str:
    return (number or "").strip().rstrip(".) ").replace(" ", "")


def due_fields(due: Due) -> dict[str, Any]:
    """The item's deadline columns for a deadline read by `parse_due`, all five together."""
    return {
        "due_raw": due.raw,
        "due_kind": due.kind.value,
        "due_start": due.start,
        "due_date": due.end,
        "recurrence": due.recurrence,
    }


def _fields(parsed: ParsedItem, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "section": parsed.section,
        "number": (parsed.number or "")[:_NUMBER_MAX] or None,
        "title": parsed.title,
        "expected_result": parsed.result,
        "responsible": parsed.responsible,
        "external_help": parsed.external_help,
        **due_fields(parsed.due),
        "due_raw": parsed.due_raw,
        "source_row": parsed.source_row,
    }


# Fields whose change makes an item «updated»; the row's place in the file is bookkeeping.
_CONTENT = (
    "section",
    "number",
    "title",
    "expected_result",
    "responsible",
    "external_help",
    "due_raw",
    "due_kind",
    "due_start",
    "due_date",
    "recurrence",
)


def match_items(
    existing: Sequence[RoadmapItem], incoming: Sequence[ParsedItem]
) -> dict[int, RoadmapItem]:
    """Incoming index → the existing item it updates; each existing item is used at most once."""
    matched: dict[int, RoadmapItem] = {}
    used: set[int] = set()
    # Items still in the roadmap are preferred to archived ones with the same key.
    ordered = sorted(existing, key=lambda i: (i.is_archived, i.position, i.id))

    def match_pass(key: Callable[[Any], Hashable | None], accept: Callable[..., bool]) -> None:
        pool: dict[Hashable, deque[RoadmapItem]] = defaultdict(deque)
        for item in ordered:
            if item.id not in used and (k := key(item)) is not None:
                pool[k].append(item)
        for index, parsed in enumerate(incoming):
            if index in matched or (k := key(parsed)) is None:
                continue
            candidates = pool.get(k)
            while candidates:
                item = candidates.popleft()
                if item.id in used:
                    continue
                if accept(item, parsed):
                    matched[index] = item
                    used.add(item.id)
                    break

    def section(x: Any) -> str:
        return _norm(x.section)

    def always(*_: Any) -> bool:
        return True

    def similar(item: RoadmapItem, parsed: ParsedItem) -> bool:
        ratio = SequenceMatcher(None, _norm(item.title), _norm(parsed.title)).ratio()
        return ratio >= SIMILAR_TITLE

    match_pass(lambda x: (section(x), _norm_number(x.number), _norm(x.title)), always)
    match_pass(lambda x: (section(x), _norm(x.title)), always)
    match_pass(lambda x: _norm(x.title) or None, always)
    match_pass(
        lambda x: (section(x), n) if (n := _norm_number(x.number)) else None,
        similar,
    )
    return matched


async def _school_items(session: AsyncSession, school_id: int) -> Sequence[RoadmapItem]:
    rows = await session.scalars(
        select(RoadmapItem)
        .where(RoadmapItem.school_id == school_id)
        .order_by(RoadmapItem.position, RoadmapItem.id)
    )
    return rows.all()


async def hand_set_directions(session: AsyncSession, school_id: int) -> set[int]:
    """Items of the school whose direction the coordinator chose in the chat (the audit log
    has it: models/roadmap_items.py records every such choice)."""
    rows = await session.scalars(
        select(AuditEvent.object_id)
        .join(RoadmapItem, RoadmapItem.id == AuditEvent.object_id)
        .where(
            RoadmapItem.school_id == school_id,
            AuditEvent.object_type == "roadmap_item",
            AuditEvent.action == DIRECTION_SET,
        )
        .distinct()
    )
    return {item_id for item_id in rows if item_id is not None}


def _direction(
    found: Found | None, item: RoadmapItem | None, hand_set: Collection[int]
) -> PlannedDirection:
    """A direction chosen in the chat stays, also «no direction»; otherwise what the file
    names wins; a suggestion from the words only fills an empty direction, never one the item
    has (suggested by an earlier import, or given by the self-diagnosis)."""
    if item is not None and item.id in hand_set:
        return PlannedDirection(item.direction)
    if found is not None and found.source is not DirectionSource.WORDS:
        return PlannedDirection(found.code.value)
    if item is not None and item.direction is not None:
        return PlannedDirection(item.direction)
    if found is not None:
        return PlannedDirection(found.code.value, suggested=True)
    return PlannedDirection(None)


def _plan(
    existing: Sequence[RoadmapItem],
    incoming: Sequence[ParsedItem],
    matched: dict[int, RoadmapItem],
    hand_set: Collection[int],
) -> tuple[ImportPlan, list[RoadmapItem]]:
    created = updated = unchanged = restored = 0
    directions = [
        _direction(found, matched.get(index), hand_set)
        for index, found in enumerate(directions_of(incoming))
    ]
    for index, parsed in enumerate(incoming):
        item = matched.get(index)
        if item is None:
            created += 1
            continue
        fields = _fields(parsed, index + 1)
        if item.is_archived:
            restored += 1
        elif any(getattr(item, name) != fields[name] for name in _CONTENT):
            updated += 1
        else:
            unchanged += 1
    used = {item.id for item in matched.values()}
    to_archive = [
        item
        for item in existing
        if item.id not in used and not item.is_archived and item.source_row is not None
    ]
    suggested = sum(1 for d in directions if d.suggested)
    plan = ImportPlan(
        created, updated, unchanged, len(to_archive), restored, suggested, tuple(directions)
    )
    return plan, to_archive


async def plan_import(
    session: AsyncSession, school_id: int, incoming: Sequence[ParsedItem]
) -> ImportPlan:
    """What `apply_import` would do, for the preview; changes nothing."""
    existing = await _school_items(session, school_id)
    hand_set = await hand_set_directions(session, school_id)
    plan, _ = _plan(existing, incoming, match_items(existing, incoming), hand_set)
    return plan


async def apply_import(
    session: AsyncSession,
    school_id: int,
    incoming: Sequence[ParsedItem],
    *,
    actor_id: int | None,
    source: str,
) -> ImportPlan:
    """Bring the school's roadmap in line with a parsed file; ids of matched items are kept."""
    existing = await _school_items(session, school_id)
    matched = match_items(existing, incoming)
    hand_set = await hand_set_directions(session, school_id)
    plan, to_archive = _plan(existing, incoming, matched, hand_set)
    for index, parsed in enumerate(incoming):
        fields = _fields(parsed, index + 1)
        direction = plan.directions[index].code
        item = matched.get(index)
        if item is None:
            session.add(RoadmapItem(school_id=school_id, direction=direction, **fields))
            continue
        if direction is not None:
            # A file without a direction column keeps what the bot knew.
            fields["direction"] = direction
        for name, value in fields.items():
            if getattr(item, name) != value:
                setattr(item, name, value)
        item.is_archived = False
    for item in to_archive:
        item.is_archived = True
    await session.flush()
    record(
        session,
        actor_id=actor_id,
        action="roadmap_imported",
        object_type="school",
        object_id=school_id,
        school_id=school_id,
        source=source[:200],
        created=plan.created,
        updated=plan.updated,
        unchanged=plan.unchanged,
        archived=plan.archived,
        restored=plan.restored,
        suggested=plan.suggested,
    )
    return plan


# --- listing --------------------------------------------------------------------------------


class ItemStatus(NamedTuple):
    item: RoadmapItem
    reports: int
    done: bool
    last_held: date | None


async def count_items(session: AsyncSession, school_id: int) -> int:
    return (
        await session.scalar(
            select(func.count(RoadmapItem.id)).where(
                RoadmapItem.school_id == school_id, RoadmapItem.is_archived.is_(False)
            )
        )
        or 0
    )


async def roadmap_page(
    session: AsyncSession, school_id: int, *, offset: int = 0, limit: int = 8
) -> tuple[list[ItemStatus], int]:
    """The school's items in file order with report counts; (page, total)."""
    total = await count_items(session, school_id)
    reports = (
        select(
            ActivityReport.roadmap_item_id.label("item_id"),
            func.count(ActivityReport.id).label("reports"),
            func.max(case((ActivityReport.mark == Mark.DONE, 1), else_=0)).label("done"),
            func.max(ActivityReport.held_on).label("last_held"),
        )
        .where(ActivityReport.school_id == school_id, ActivityReport.roadmap_item_id.is_not(None))
        .group_by(ActivityReport.roadmap_item_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            RoadmapItem,
            func.coalesce(reports.c.reports, 0),
            func.coalesce(reports.c.done, 0),
            reports.c.last_held,
        )
        .outerjoin(reports, reports.c.item_id == RoadmapItem.id)
        .where(RoadmapItem.school_id == school_id, RoadmapItem.is_archived.is_(False))
        .order_by(RoadmapItem.position, RoadmapItem.id)
        .offset(offset)
        .limit(limit)
    )
    return [ItemStatus(item, int(n), bool(done), last) for item, n, done, last in rows], total


# --- reminders ------------------------------------------------------------------------------


def _has_report() -> Any:
    return exists().where(ActivityReport.roadmap_item_id == RoadmapItem.id)


def _has_done_report() -> Any:
    return exists().where(
        ActivityReport.roadmap_item_id == RoadmapItem.id, ActivityReport.mark == Mark.DONE
    )


def _live_item() -> Any:
    return and_(
        RoadmapItem.is_archived.is_(False),
        School.id == RoadmapItem.school_id,
        School.is_active.is_(True),
    )


def _reachable(user: type[User] = User) -> Any:
    return and_(user.is_active.is_(True), user.reminders_muted.is_(False))


class DigestRow(NamedTuple):
    user_id: int
    school_id: int
    item_id: int
    due_date: date


def _digest_rows(rows: Iterable[Row[int, int, int, date | None]]) -> list[DigestRow]:
    # Every digest query compares due_date with a day, so it is never NULL here.
    return [DigestRow(*row[:3], due) for row in rows if (due := row[3]) is not None]


async def _digest(session: AsyncSession, recipients: Role, *due: Any) -> list[DigestRow]:
    """(recipient, item) for live items matching `due`: a school's coordinators, or the
    curators of the school; muted and inactive recipients left out."""
    stmt = (
        select(User.id, RoadmapItem.school_id, RoadmapItem.id, RoadmapItem.due_date)
        .select_from(RoadmapItem)
        .join(School, _live_item())
    )
    order: tuple[Any, ...]
    if recipients == Role.CURATOR:
        stmt = stmt.join(
            curator_schools, curator_schools.c.school_id == RoadmapItem.school_id
        ).join(User, User.id == curator_schools.c.user_id)
        order = (User.id, RoadmapItem.school_id, RoadmapItem.due_date, RoadmapItem.id)
    else:
        stmt = stmt.join(User, User.school_id == RoadmapItem.school_id)
        order = (User.id, RoadmapItem.due_date, RoadmapItem.position, RoadmapItem.id)
    rows = await session.execute(
        stmt.where(User.role == recipients, _reachable(), *due).order_by(*order)
    )
    return _digest_rows(rows)


async def due_soon_for_coordinators(
    session: AsyncSession, *, today: date, until: date
) -> list[DigestRow]:
    """(coordinator, item) for items due today..until with no report at all, muted left out."""
    return await _digest(
        session,
        Role.COORDINATOR,
        RoadmapItem.due_date >= today,
        RoadmapItem.due_date <= until,
        ~_has_report(),
    )


def overdue_condition(today: date) -> Any:
    """Overdue as /status counts it: the deadline has passed and no report says «выполнено»."""
    return and_(RoadmapItem.due_date < today, ~_has_done_report())


async def overdue_for_coordinators(
    session: AsyncSession, *, today: date, since: date
) -> list[DigestRow]:
    """(coordinator, item) for items that became overdue since `since`, muted left out."""
    return await _digest(
        session, Role.COORDINATOR, RoadmapItem.due_date >= since, overdue_condition(today)
    )


async def overdue_for_curators(
    session: AsyncSession, *, today: date, since: date
) -> list[DigestRow]:
    """(curator, item) for overdue items of the curators' schools, muted left out."""
    return await _digest(
        session, Role.CURATOR, RoadmapItem.due_date >= since, overdue_condition(today)
    )


async def silent_schools(session: AsyncSession, *, since: datetime) -> list[tuple[int, int]]:
    """(coordinator, school) for active schools with no report submitted since `since`."""
    reported = exists().where(
        ActivityReport.school_id == School.id, ActivityReport.submitted_at >= since
    )
    rows = await session.execute(
        select(User.id, School.id)
        .select_from(User)
        .join(School, School.id == User.school_id)
        .where(
            User.role == Role.COORDINATOR,
            _reachable(),
            School.is_active.is_(True),
            ~reported,
        )
        .order_by(School.id, User.id)
    )
    return [(user_id, school_id) for user_id, school_id in rows]


async def school_reported_since(session: AsyncSession, school_id: int, since: datetime) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    ActivityReport.school_id == school_id, ActivityReport.submitted_at >= since
                )
            )
        )
    )


async def open_items(
    session: AsyncSession,
    item_ids: Collection[int],
    *,
    school_ids: Collection[int],
    today: date,
    overdue: bool,
) -> list[tuple[RoadmapItem, str]]:
    """Items of a digest that still need attention at send time, with their school's name.

    Due-soon items drop out once any report exists; overdue ones once one says «выполнено».
    """
    if not item_ids or not school_ids:
        return []
    still = overdue_condition(today) if overdue else ~_has_report()
    rows = await session.execute(
        select(RoadmapItem, School.short_name)
        .join(School, _live_item())
        .where(
            RoadmapItem.id.in_(list(item_ids)),
            RoadmapItem.school_id.in_(list(school_ids)),
            still,
        )
        .order_by(School.short_name, RoadmapItem.due_date, RoadmapItem.position, RoadmapItem.id)
    )
    return [(item, name) for item, name in rows]


async def count_overdue(session: AsyncSession, school_id: int, *, today: date) -> int:
    return (
        await session.scalar(
            select(func.count(RoadmapItem.id)).where(
                RoadmapItem.school_id == school_id,
                RoadmapItem.is_archived.is_(False),
                overdue_condition(today),
            )
        )
        or 0
    )


async def curated_school_ids(session: AsyncSession, user_id: int) -> set[int]:
    rows = await session.scalars(
        select(curator_schools.c.school_id).where(curator_schools.c.user_id == user_id)
    )
    return set(rows)
