"""Users, schools and who may see which school."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import record
from models.entities import Municipality, School, User, curator_schools
from models.enums import Project, Role
from models.errors import AccessDenied, InvalidInput, NotFound


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    return await session.scalar(select(User).where(User.telegram_id == telegram_id))


async def ensure_admins(session: AsyncSession, telegram_ids: Iterable[int]) -> int:
    """ADMIN_IDS become region-wide municipal coordinators; returns how many were added."""
    added = 0
    for telegram_id in telegram_ids:
        user = await get_by_telegram_id(session, telegram_id)
        if user is None:
            session.add(User(telegram_id=telegram_id, role=Role.MUNICIPAL, full_name=""))
            added += 1
        elif user.role != Role.MUNICIPAL:
            previous = user.role
            user.role, user.school_id, user.municipality_id = Role.MUNICIPAL, None, None
            record(
                session,
                actor_id=None,
                action="role_changed_by_admin_ids",
                object_type="user",
                object_id=user.id,
                previous=previous.value,
            )
    return added


async def get_or_create_municipality(session: AsyncSession, name: str) -> Municipality:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("municipality_name_empty")
    existing = await session.scalar(select(Municipality).where(Municipality.name == name))
    if existing is not None:
        return existing
    municipality = Municipality(name=name)
    session.add(municipality)
    await session.flush()
    return municipality


async def add_school(
    session: AsyncSession,
    *,
    municipality_id: int,
    name: str,
    short_name: str | None = None,
    project: Project = Project.MSH,
    actor_id: int | None = None,
) -> School:
    name = " ".join(name.split())
    if not 3 <= len(name) <= 300:
        raise InvalidInput("school_name_length", min=3, max=300)
    short = " ".join((short_name or name).split())[:100]
    duplicate = await session.scalar(
        select(exists().where(School.municipality_id == municipality_id, School.name == name))
    )
    if duplicate:
        raise InvalidInput("school_exists", name=name)
    school = School(municipality_id=municipality_id, name=name, short_name=short, project=project)
    session.add(school)
    await session.flush()
    record(
        session,
        actor_id=actor_id,
        action="school_added",
        object_type="school",
        object_id=school.id,
        school_id=school.id,
    )
    return school


def visible_schools_query(user: User) -> Select[School]:
    """A select of the schools this user may see; the single source of that rule."""
    stmt = select(School).where(School.is_active.is_(True))
    if user.role == Role.MUNICIPAL:
        if user.municipality_id is not None:
            stmt = stmt.where(School.municipality_id == user.municipality_id)
        return stmt
    if user.role == Role.CURATOR:
        return stmt.join(curator_schools, curator_schools.c.school_id == School.id).where(
            curator_schools.c.user_id == user.id
        )
    return stmt.where(School.id == (user.school_id if user.school_id is not None else -1))


async def visible_schools(
    session: AsyncSession, user: User, *, offset: int = 0, limit: int | None = None
) -> Sequence[School]:
    stmt = visible_schools_query(user).order_by(School.short_name, School.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await session.scalars(stmt)).all()


async def find_visible_schools(
    session: AsyncSession, user: User, query: str, *, limit: int = 50
) -> list[School]:
    """Schools of this user whose name contains every word of `query`; folded in Python,
    because SQLite's lower() leaves Cyrillic as it is."""
    words = [w for w in query.casefold().split() if w]
    rows = await session.execute(
        visible_schools_query(user).with_only_columns(School.id, School.name, School.short_name)
    )
    ids = [
        school_id
        for school_id, name, short in rows
        if all(w in f"{name} {short}".casefold() for w in words)
    ]
    if not ids:
        return []
    schools = await session.scalars(
        select(School).where(School.id.in_(ids[:limit])).order_by(School.short_name, School.id)
    )
    return list(schools.all())


async def school_coordinators(session: AsyncSession, school_id: int) -> Sequence[User]:
    """The active coordinators of a school, by name."""
    rows = await session.scalars(
        select(User)
        .where(
            User.school_id == school_id,
            User.role == Role.COORDINATOR,
            User.is_active.is_(True),
        )
        .order_by(User.full_name, User.id)
    )
    return rows.all()


async def count_visible_schools(session: AsyncSession, user: User) -> int:
    subquery = visible_schools_query(user).subquery()
    return await session.scalar(select(func.count()).select_from(subquery)) or 0


async def school_for(session: AsyncSession, user: User, school_id: int) -> School:
    """The school if this user may act on it; ids from callbacks are never trusted."""
    school = await session.scalar(visible_schools_query(user).where(School.id == school_id))
    if school is None:
        exists_at_all = await session.get(School, school_id)
        raise AccessDenied() if exists_at_all else NotFound()
    return school


async def get_school(session: AsyncSession, school_id: int) -> School:
    school = await session.get(School, school_id)
    if school is None:
        raise NotFound()
    return school


async def list_municipalities(session: AsyncSession) -> Sequence[Municipality]:
    return (await session.scalars(select(Municipality).order_by(Municipality.name))).all()


async def set_locale(session: AsyncSession, user: User, locale: str) -> None:
    user.locale = locale
