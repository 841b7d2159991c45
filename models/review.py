"""Curators' review of submitted reports: the queue, confirm, return with a comment."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.audit import record
from models.base import utcnow
from models.entities import ActivityReport, School, User
from models.enums import ReviewState, Role
from models.errors import AccessDenied, InvalidInput, NotFound
from models.users import visible_schools_query

MAX_COMMENT = 1000
# Reports confirmed in one go: what a curator can read on one screen.
MAX_BATCH = 20
_AUDIT_ACTIONS = {
    ReviewState.CONFIRMED: "report_confirmed",
    ReviewState.RETURNED: "report_returned",
}


def _reviewer(user: User) -> None:
    if user.role not in (Role.CURATOR, Role.MUNICIPAL):
        raise AccessDenied()


def queue_query(user: User, school_id: int | None = None) -> Select[ActivityReport]:
    """Submitted reports of the reviewer's schools (of one of them, with `school_id`)."""
    _reviewer(user)
    schools = visible_schools_query(user).with_only_columns(School.id).scalar_subquery()
    stmt = select(ActivityReport).where(
        ActivityReport.school_id.in_(schools),
        ActivityReport.review_state == ReviewState.SUBMITTED,
    )
    if school_id is not None:
        stmt = stmt.where(ActivityReport.school_id == school_id)
    return stmt


async def review_queue(
    session: AsyncSession,
    user: User,
    *,
    offset: int = 0,
    limit: int = 1,
    school_id: int | None = None,
) -> tuple[Sequence[ActivityReport], int]:
    """Submitted reports of the reviewer's schools, oldest first."""
    stmt = queue_query(user, school_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(ActivityReport.submitted_at, ActivityReport.id)
        .offset(offset)
        .limit(limit)
        .options(selectinload(ActivityReport.evidence))
    )
    return rows.all(), total


async def pending_of_school(
    session: AsyncSession, user: User, school_id: int, *, limit: int = MAX_BATCH
) -> tuple[Sequence[ActivityReport], int]:
    """The oldest submitted reports of one of the reviewer's schools, and how many there are."""
    return await review_queue(session, user, offset=0, limit=limit, school_id=school_id)


async def report_for_review(session: AsyncSession, user: User, report_id: int) -> ActivityReport:
    """A report of one of the reviewer's schools; ids from buttons are re-checked here."""
    _reviewer(user)
    report = await session.scalar(
        select(ActivityReport)
        .where(ActivityReport.id == report_id)
        .options(selectinload(ActivityReport.evidence))
    )
    if report is None:
        raise NotFound()
    visible = await session.scalar(
        visible_schools_query(user)
        .where(School.id == report.school_id)
        .with_only_columns(School.id)
    )
    if visible is None:
        raise AccessDenied()
    return report


async def _decide(
    session: AsyncSession, user: User, report_id: int, verdict: ReviewState, comment: str | None
) -> ActivityReport:
    report = await report_for_review(session, user, report_id)
    if report.review_state != ReviewState.SUBMITTED:
        raise InvalidInput("review_not_pending", state=report.review_state.value)
    report.review_state = verdict
    report.reviewer_id, report.reviewed_at, report.review_comment = user.id, utcnow(), comment
    record(
        session,
        actor_id=user.id,
        action=_AUDIT_ACTIONS[verdict],
        object_type="report",
        object_id=report.id,
        school_id=report.school_id,
        **({} if comment is None else {"comment": comment}),
    )
    return report


async def confirm_report(session: AsyncSession, user: User, report_id: int) -> ActivityReport:
    return await _decide(session, user, report_id, ReviewState.CONFIRMED, None)


async def confirm_reports(
    session: AsyncSession, user: User, report_ids: Sequence[int]
) -> list[ActivityReport]:
    """Confirm several reports at once; each is re-checked, and one that is no longer waiting
    (edited, reviewed by someone else) is left as it is."""
    confirmed = []
    for report_id in report_ids[:MAX_BATCH]:
        try:
            confirmed.append(await confirm_report(session, user, report_id))
        except (InvalidInput, NotFound):
            continue
    return confirmed


async def return_report(
    session: AsyncSession, user: User, report_id: int, comment: str
) -> ActivityReport:
    text = (comment or "").strip()
    if not text:
        raise InvalidInput("review_comment_required")
    if len(text) > MAX_COMMENT:
        raise InvalidInput("text_too_long", max=MAX_COMMENT, length=len(text))
    return await _decide(session, user, report_id, ReviewState.RETURNED, text)


async def author_of(session: AsyncSession, report: ActivityReport) -> User | None:
    if report.author_id is None:
        return None
    author = await session.get(User, report.author_id)
    return author if author is not None and author.is_active else None
