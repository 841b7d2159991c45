"""One roadmap activity changed by its school's coordinator: direction, deadline, responsible.

Every function re-checks that the user coordinates the item's school (ids come from buttons and
form data, never trusted); every change is audited. The caller's unit of work commits.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import record
from models.duedates import Due, DueKind, parse_due, school_year_of
from models.entities import RoadmapItem, User
from models.enums import Direction, Role
from models.errors import AccessDenied, InvalidInput, NotFound
from models.roadmaps import DIRECTION_SET, due_fields

DUE_MAX = 200
RESPONSIBLE_MAX = 300
_AUDIT_TEXT = 200


async def item_for_coordinator(session: AsyncSession, user: User, item_id: int) -> RoadmapItem:
    """A live item of the school this user coordinates; NotFound / AccessDenied otherwise."""
    item = await session.get(RoadmapItem, item_id)
    if item is None or item.is_archived:
        raise NotFound()
    if user.role != Role.COORDINATOR or user.school_id != item.school_id:
        raise AccessDenied()
    return item


async def item_rank(session: AsyncSession, item: RoadmapItem) -> int:
    """How many live items of the school come before this one in /roadmap's order."""
    before = or_(
        RoadmapItem.position < item.position,
        and_(RoadmapItem.position == item.position, RoadmapItem.id < item.id),
    )
    return (
        await session.scalar(
            select(func.count(RoadmapItem.id)).where(
                RoadmapItem.school_id == item.school_id,
                RoadmapItem.is_archived.is_(False),
                before,
            )
        )
        or 0
    )


def _audit(
    session: AsyncSession, user: User, item: RoadmapItem, action: str, **details: object
) -> None:
    record(
        session,
        actor_id=user.id,
        action=action,
        object_type="roadmap_item",
        object_id=item.id,
        school_id=item.school_id,
        **details,
    )


def set_direction(
    session: AsyncSession, user: User, item: RoadmapItem, code: Direction | None
) -> None:
    """The coordinator's choice, «no direction» included; imports keep it (DIRECTION_SET)."""
    value = None if code is None else code.value
    before, item.direction = item.direction, value
    _audit(session, user, item, DIRECTION_SET, before=before, after=value)


def set_due(
    session: AsyncSession, user: User, item: RoadmapItem, text: str, *, today: date
) -> Due:
    """Read a typed deadline as an import would; text without a deadline changes nothing."""
    raw = " ".join(text.split())
    if not raw:
        raise InvalidInput("text_empty")
    if len(raw) > DUE_MAX:
        raise InvalidInput("text_too_long", max=DUE_MAX)
    # «март», «в течение учебного года»: the school year the coordinator is in now.
    due = parse_due(raw, school_year=school_year_of(today))
    if due.kind is DueKind.UNKNOWN:
        raise InvalidInput("due_unreadable")
    before = item.due_raw
    for name, value in due_fields(due).items():
        setattr(item, name, value)
    _audit(
        session,
        user,
        item,
        "roadmap_item_due",
        before=(before or "")[:_AUDIT_TEXT] or None,
        after=raw[:_AUDIT_TEXT],
        kind=due.kind.value,
    )
    return due


def set_responsible(session: AsyncSession, user: User, item: RoadmapItem, text: str) -> str:
    """Trimmed: blank lines and runs of spaces go, line breaks between people stay."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    value = "\n".join(line for line in lines if line)
    if not value:
        raise InvalidInput("text_empty")
    if len(value) > RESPONSIBLE_MAX:
        raise InvalidInput("text_too_long", max=RESPONSIBLE_MAX)
    before, item.responsible = item.responsible, value
    _audit(
        session,
        user,
        item,
        "roadmap_item_responsible",
        before=(before or "")[:_AUDIT_TEXT] or None,
        after=value[:_AUDIT_TEXT],
    )
    return value
