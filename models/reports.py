"""Activity reports: input parsing, roadmap choices, create / edit / delete with audit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, case, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.audit import record
from models.base import utcnow
from models.entities import ActivityReport, Evidence, RoadmapItem, School, User
from models.enums import Direction, EvidenceKind, Mark, ReviewState, Role
from models.errors import AccessDenied, InvalidInput, NotFound
from models.evidence import BOT_API_DOWNLOAD_LIMIT

MAX_TITLE = 300
MAX_DESCRIPTION = 1500
MAX_SHORT_TEXT = 300
MAX_PARTICIPANTS = 100_000
MAX_LINKS = 30
MAX_FILES = 30
OLDEST_YEAR = 2015


# --- input parsing (pure) -----------------------------------------------------------------


def parse_held_on(text: str, *, today: date) -> date:
    """дд.мм.гггг (also д.м.гг, with / or -); not in the future, not before OLDEST_YEAR."""
    match = re.fullmatch(r"\s*(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})\s*(?:г\.?)?\s*", text)
    if not match:
        raise InvalidInput("date_format")
    day, month, year = (int(g) for g in match.groups())
    if year < 100:
        year += 2000
    try:
        held = date(year, month, day)
    except ValueError as exc:
        raise InvalidInput("date_format") from exc
    if held > today:
        raise InvalidInput("date_future")
    if held.year < OLDEST_YEAR:
        raise InvalidInput("date_too_old", year=OLDEST_YEAR)
    return held


def parse_participants(text: str) -> tuple[int | None, str | None]:
    """«78 обучающихся 3-х классов» -> (78, «обучающихся 3-х классов»); «-» / «нет» -> none."""
    cleaned = " ".join(text.split())
    if cleaned.lower() in {"", "-", "—", "нет", "no", "none", "0"}:
        return None, None
    if len(cleaned) > MAX_SHORT_TEXT:
        raise InvalidInput("text_too_long", max=MAX_SHORT_TEXT)
    match = re.match(r"^(\d{1,7})(?:\s*(?:чел\.?|человек)?)?[\s,:-]*(.*)$", cleaned)
    if match:
        count = int(match.group(1))
        if count > MAX_PARTICIPANTS:
            raise InvalidInput("participants_too_many", max=MAX_PARTICIPANTS)
        return count, match.group(2) or None
    return None, cleaned


def clean_text(text: str | None, *, limit: int) -> str:
    value = (text or "").strip()
    if not value:
        raise InvalidInput("text_empty")
    if len(value) > limit:
        raise InvalidInput("text_too_long", max=limit, length=len(value))
    return value


# --- drafts -------------------------------------------------------------------------------


@dataclass
class Draft:
    """A report being filled in; lives in the FSM data (JSON) until it is sent."""

    key: str
    school_id: int
    item_id: int | None = None
    title: str | None = None
    direction: str | None = None
    held_on: str | None = None  # ISO date; None means «today» when shown or sent
    mark: str | None = None
    description: str | None = None
    participants_count: int | None = None
    participants_category: str | None = None
    organizer: str | None = None
    links: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    report_id: int | None = None  # set when an existing report is being edited

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draft:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def form(self) -> str:
        """The short id its buttons carry, telling them from an earlier form's."""
        return self.key[:8]

    def held_date(self, today: date) -> date:
        return date.fromisoformat(self.held_on) if self.held_on else today

    def add_links(self, links: Sequence[str]) -> list[str]:
        """Adds new links; returns those that were new (duplicates in one report are ignored)."""
        added = [link for link in dict.fromkeys(links) if link not in self.links]
        room = MAX_LINKS - len(self.links)
        if len(added) > room:
            raise InvalidInput("too_many_links", max=MAX_LINKS)
        self.links.extend(added)
        return added

    def add_file(
        self,
        *,
        kind: str,
        file_id: str,
        unique_id: str,
        name: str | None,
        size: int | None,
        mime: str | None,
    ) -> bool:
        if any(f["unique_id"] == unique_id for f in self.files):
            return False
        if len(self.files) >= MAX_FILES:
            raise InvalidInput("too_many_files", max=MAX_FILES)
        self.files.append(
            {
                "kind": kind,
                "file_id": file_id,
                "unique_id": unique_id,
                "name": name,
                "size": size,
                "mime": mime,
                "too_big": bool(size and size > BOT_API_DOWNLOAD_LIMIT),
            }
        )
        return True

    @property
    def complete(self) -> bool:
        return bool(self.title and self.mark and self.description)


# --- roadmap choices ----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"\W+", text.casefold()) if len(w) >= 2]


def _choice_statements() -> tuple[tuple[Any, Any], tuple[Any, Any], Any]:
    """A form step's queries, built once with parameters: building them per call was ~10 % of
    a report step's CPU (py-spy, issue 15); SQLAlchemy compiles each once either way."""
    open_items = (
        RoadmapItem.school_id == bindparam("school_id"),
        RoadmapItem.is_archived.is_(False),
    )
    matching = RoadmapItem.id.in_(bindparam("ids", expanding=True))
    done = exists().where(
        ActivityReport.roadmap_item_id == RoadmapItem.id, ActivityReport.mark == Mark.DONE
    )
    order = (
        case((done, 1), else_=0),
        case((RoadmapItem.due_date.is_(None), 1), else_=0),
        RoadmapItem.due_date,
        RoadmapItem.position,
        RoadmapItem.id,
    )
    items = select(RoadmapItem).where(*open_items).order_by(*order)
    page = items.offset(bindparam("offset")).limit(bindparam("limit"))
    count = select(func.count(RoadmapItem.id)).where(*open_items)
    titles = select(RoadmapItem.id, RoadmapItem.title, RoadmapItem.number).where(*open_items)
    return (page, count), (page.where(matching), count.where(matching)), titles


_ALL_ITEMS, _FOUND_ITEMS, _TITLES = _choice_statements()


async def roadmap_choices(
    session: AsyncSession,
    school_id: int,
    *,
    today: date,
    search: str | None = None,
    offset: int = 0,
    limit: int = 6,
) -> tuple[Sequence[RoadmapItem], int]:
    """The school's items for a report: open ones first, overdue and due-soon before the rest."""
    params: dict[str, Any] = {"school_id": school_id, "offset": offset, "limit": limit}
    page, count = _ALL_ITEMS
    if search:
        # SQLite's LOWER/LIKE fold only ASCII; one school's titles are few, so fold in Python.
        words = _words(search)
        rows = await session.execute(_TITLES, params)
        params["ids"] = [
            item_id
            for item_id, title, number in rows
            if all(w in f"{number or ''} {title}".casefold() for w in words)
        ]
        page, count = _FOUND_ITEMS
    total = await session.scalar(count, params) or 0
    items = await session.scalars(page, params)
    return items.all(), total


# Only the columns the form needs: an ORM get of the whole row cost ~3x the statement.
_ITEM = select(
    RoadmapItem.id,
    RoadmapItem.title,
    RoadmapItem.direction,
    RoadmapItem.school_id,
    RoadmapItem.is_archived,
).where(RoadmapItem.id == bindparam("id"))


async def roadmap_item_for(
    session: AsyncSession, school_id: int, item_id: int
) -> Row[int, str, str | None, int, bool]:
    """A live roadmap item of this school: its id, title and direction (from a button's id)."""
    item = (await session.execute(_ITEM, {"id": item_id})).first()
    if item is None or item.is_archived:
        raise NotFound()
    if item.school_id != school_id:
        raise AccessDenied()
    return item


# --- reports ------------------------------------------------------------------------------


def staff_school_id(user: User) -> int:
    if user.role not in (Role.TEACHER, Role.COORDINATOR) or user.school_id is None:
        raise AccessDenied("no_school")
    return user.school_id


_LINKED = (
    select(Evidence.url, ActivityReport.id, ActivityReport.title, ActivityReport.held_on)
    .join(ActivityReport, Evidence.report_id == ActivityReport.id)
    .where(
        ActivityReport.school_id == bindparam("school_id"),
        Evidence.url.in_(bindparam("links", expanding=True)),
    )
    .order_by(ActivityReport.id)
)
_LINKED_ELSEWHERE = _LINKED.where(ActivityReport.id != bindparam("exclude"))


async def linked_elsewhere(
    session: AsyncSession, school_id: int, links: Sequence[str], *, exclude_report: int | None
) -> dict[str, tuple[int, str, date]]:
    """Links already attached to another report of the school: url -> (report id, title, date)."""
    if not links:
        return {}
    params: dict[str, Any] = {"school_id": school_id, "links": list(links)}
    stmt = _LINKED
    if exclude_report is not None:
        params["exclude"] = exclude_report
        stmt = _LINKED_ELSEWHERE
    found: dict[str, tuple[int, str, date]] = {}
    for url, report_id, title, held_on in await session.execute(stmt, params):
        if url is not None:  # always: in_() never matches NULL
            found.setdefault(url, (report_id, title, held_on))
    return found


def _evidence_rows(draft: Draft) -> list[Evidence]:
    rows = [Evidence(kind=EvidenceKind.LINK, url=link) for link in draft.links]
    for item in draft.files:
        rows.append(
            Evidence(
                kind=EvidenceKind(item["kind"]),
                file_id=item["file_id"],
                file_unique_id=item["unique_id"],
                file_name=item.get("name"),
                file_size=item.get("size"),
                mime_type=item.get("mime"),
                too_big=bool(item.get("too_big")),
            )
        )
    return rows


def _mark(draft: Draft) -> Mark:
    if draft.mark is None:  # a complete draft has one
        raise InvalidInput("draft_incomplete")
    return Mark(draft.mark)


_BY_DRAFT_KEY = select(ActivityReport).where(ActivityReport.draft_key == bindparam("key"))


async def submit_draft(
    session: AsyncSession, user: User, draft: Draft, *, today: date, default_organizer: str
) -> tuple[ActivityReport, bool]:
    """Store a new report from a draft; returns (report, created). Idempotent per draft key."""
    school_id = staff_school_id(user)
    if draft.school_id != school_id:
        raise AccessDenied()
    existing = await session.scalar(_BY_DRAFT_KEY, {"key": draft.key})
    if existing is not None:
        return existing, False
    if not draft.complete:
        raise InvalidInput("draft_incomplete")
    if draft.item_id is not None:
        await roadmap_item_for(session, school_id, draft.item_id)
    report = ActivityReport(
        school_id=school_id,
        author_id=user.id,
        roadmap_item_id=draft.item_id,
        direction=draft.direction,
        title=draft.title or "",
        held_on=draft.held_date(today),
        mark=_mark(draft),
        description=draft.description,
        participants_count=draft.participants_count,
        participants_category=draft.participants_category,
        organizer=draft.organizer or default_organizer,
        review_state=ReviewState.SUBMITTED,
        submitted_at=utcnow(),
        draft_key=draft.key,
    )
    report.evidence = _evidence_rows(draft)
    session.add(report)
    await session.flush()
    record(
        session,
        actor_id=user.id,
        action="report_submitted",
        object_type="report",
        object_id=report.id,
        school_id=school_id,
        links=len(draft.links),
        files=len(draft.files),
    )
    return report, True


async def report_for_change(session: AsyncSession, user: User, report_id: int) -> ActivityReport:
    """A report this user may edit or delete: their school's, a teacher's own, not confirmed."""
    school_id = staff_school_id(user)
    report = await session.scalar(
        select(ActivityReport)
        .where(ActivityReport.id == report_id)
        .options(selectinload(ActivityReport.evidence))
    )
    if report is None:
        raise NotFound()
    if report.school_id != school_id:
        raise AccessDenied()
    if user.role == Role.TEACHER and report.author_id != user.id:
        raise AccessDenied()
    if report.review_state == ReviewState.CONFIRMED:
        raise InvalidInput("report_locked")
    return report


def draft_from_report(report: ActivityReport, key: str) -> Draft:
    links = [e.url for e in report.evidence if e.kind == EvidenceKind.LINK and e.url]
    files = [
        {
            "kind": e.kind.value,
            "file_id": e.file_id,
            "unique_id": e.file_unique_id or e.file_id,
            "name": e.file_name,
            "size": e.file_size,
            "mime": e.mime_type,
            "too_big": e.too_big,
        }
        for e in report.evidence
        if e.kind != EvidenceKind.LINK
    ]
    return Draft(
        key=key,
        school_id=report.school_id,
        item_id=report.roadmap_item_id,
        title=report.title,
        direction=report.direction,
        held_on=report.held_on.isoformat(),
        mark=report.mark.value,
        description=report.description,
        participants_count=report.participants_count,
        participants_category=report.participants_category,
        organizer=report.organizer,
        links=links,
        files=files,
        report_id=report.id,
    )


async def save_edited(
    session: AsyncSession, user: User, draft: Draft, *, today: date, default_organizer: str
) -> ActivityReport:
    if draft.report_id is None:
        raise InvalidInput("not_an_edit")
    report = await report_for_change(session, user, draft.report_id)
    if draft.item_id is not None:
        await roadmap_item_for(session, report.school_id, draft.item_id)
    if not draft.complete:
        raise InvalidInput("draft_incomplete")
    before = {"title": report.title, "mark": report.mark.value, "state": report.review_state.value}
    report.roadmap_item_id = draft.item_id
    report.direction = draft.direction
    report.title = draft.title or report.title
    report.held_on = draft.held_date(today)
    report.mark = _mark(draft)
    report.description = draft.description
    report.participants_count = draft.participants_count
    report.participants_category = draft.participants_category
    report.organizer = draft.organizer or default_organizer
    report.evidence = _evidence_rows(draft)
    if report.review_state == ReviewState.RETURNED:
        # Edited after «на доработку»: it goes back into the curator's queue.
        report.review_state = ReviewState.SUBMITTED
        report.submitted_at = utcnow()
    await session.flush()
    record(
        session,
        actor_id=user.id,
        action="report_edited",
        object_type="report",
        object_id=report.id,
        school_id=report.school_id,
        before=before,
    )
    return report


async def delete_report(session: AsyncSession, user: User, report_id: int) -> None:
    report = await report_for_change(session, user, report_id)
    record(
        session,
        actor_id=user.id,
        action="report_deleted",
        object_type="report",
        object_id=report.id,
        school_id=report.school_id,
        title=report.title,
        held_on=report.held_on.isoformat(),
        author_id=report.author_id,
    )
    await session.execute(delete(ActivityReport).where(ActivityReport.id == report.id))


async def add_evidence(
    session: AsyncSession,
    user: User,
    report_id: int,
    *,
    links: Sequence[str] = (),
    files: Sequence[dict[str, Any]] = (),
) -> tuple[list[str], int]:
    """Attach more evidence to an existing report; returns (links added, files added)."""
    report = await report_for_change(session, user, report_id)
    known_links = {e.url for e in report.evidence if e.url}
    known_files = {e.file_unique_id for e in report.evidence if e.file_unique_id}
    new_links = [link for link in dict.fromkeys(links) if link not in known_links]
    if len(known_links) + len(new_links) > MAX_LINKS:
        raise InvalidInput("too_many_links", max=MAX_LINKS)
    draft = Draft(key="", school_id=report.school_id, links=new_links)
    for item in files:
        if item["unique_id"] not in known_files:
            draft.files.append(item)
    for row in _evidence_rows(draft):
        row.report_id = report.id
        session.add(row)
    if new_links or draft.files:
        record(
            session,
            actor_id=user.id,
            action="evidence_added",
            object_type="report",
            object_id=report.id,
            school_id=report.school_id,
            links=len(new_links),
            files=len(draft.files),
        )
    return new_links, len(draft.files)


def recent_reports_query(user: User):  # type: ignore[no-untyped-def]
    """A teacher's own reports; a coordinator's whole school."""
    school_id = staff_school_id(user)
    stmt = select(ActivityReport).where(ActivityReport.school_id == school_id)
    if user.role == Role.TEACHER:
        stmt = stmt.where(ActivityReport.author_id == user.id)
    return stmt


async def recent_reports(
    session: AsyncSession,
    user: User,
    *,
    offset: int = 0,
    limit: int = 5,
    editable_only: bool = False,
) -> tuple[Sequence[ActivityReport], int]:
    stmt = recent_reports_query(user)
    if editable_only:
        stmt = stmt.where(ActivityReport.review_state != ReviewState.CONFIRMED)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(ActivityReport.created_at.desc(), ActivityReport.id.desc())
        .offset(offset)
        .limit(limit)
        .options(selectinload(ActivityReport.evidence))
    )
    return rows.all(), total


_SHORT_NAME = select(School.short_name).where(School.id == bindparam("id"))


async def school_name(session: AsyncSession, school_id: int) -> str:
    name = await session.scalar(_SHORT_NAME, {"id": school_id})
    if name is None:
        raise NotFound()
    return name


def valid_direction(code: str) -> str:
    try:
        return Direction(code).value
    except ValueError as exc:
        raise InvalidInput("direction_unknown") from exc


def stale(touched: str | None, *, now: datetime, after: timedelta) -> bool:
    return touched is not None and now - datetime.fromisoformat(touched) > after
