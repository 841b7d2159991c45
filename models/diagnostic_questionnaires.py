"""Questionnaires in the database: the shipped ones, imported sheets, and who may answer which.

A row keeps the definition it was stored with (``models.diagnostics.questionnaire_to_dict``), so
a run is always scored against the exact version it was asked with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import diagnostics
from models.audit import record
from models.entities import Question, Questionnaire, School, User
from models.enums import Project, Role
from models.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
# Imported questionnaires have no owner column: the source says who may use them.
IMPORT_PREFIX = "xlsx:"
IMPORT_EVERYWHERE = "xlsx:all"


async def sync_builtin_questionnaires(session: AsyncSession) -> int:
    """Store the shipped questionnaires that are not in the database yet; returns how many.

    Keyed by code + version, so it is idempotent and an old run keeps pointing at the version
    it was asked with; a new built-in version retires the older built-in ones of its code.
    """
    present = set((await session.execute(select(Questionnaire.code, Questionnaire.version))).all())
    added = 0
    for questionnaire in diagnostics.builtin_questionnaires().values():
        if (questionnaire.code, questionnaire.version) in present:
            continue
        try:
            # Two first uses at once on PostgreSQL: the loser's insert fails, nothing else.
            async with session.begin_nested():
                await _insert_questionnaire(session, questionnaire, source=BUILTIN)
        except IntegrityError:
            logger.info("questionnaire %s stored concurrently", questionnaire.code)
            continue
        await session.execute(
            update(Questionnaire)
            .where(
                Questionnaire.code == questionnaire.code,
                Questionnaire.source == BUILTIN,
                Questionnaire.version != questionnaire.version,
            )
            .values(is_active=False)
        )
        added += 1
    return added


async def _insert_questionnaire(
    session: AsyncSession, questionnaire: diagnostics.Questionnaire, *, source: str
) -> Questionnaire:
    definition = diagnostics.questionnaire_to_dict(questionnaire)
    row = Questionnaire(
        code=questionnaire.code,
        version=questionnaire.version,
        title=questionnaire.title,
        kind=questionnaire.kind,
        source=source,
        definition=definition,
        is_active=True,
    )
    session.add(row)
    await session.flush()
    session.add_all(
        Question(
            questionnaire_id=row.id,
            code=item["code"],
            position=position,
            direction=item["direction"],
            kind=item["kind"],
            text=item["text"],
            options=item.get("options") or item.get("bands") or [],
            weight=item["weight"],
        )
        for position, item in enumerate(definition["questions"])
    )
    await session.flush()
    return row


def definition_of(row: Questionnaire) -> diagnostics.Questionnaire:
    """The parsed questionnaire a row stores."""
    return diagnostics.parse_questionnaire(row.definition)


def _usable_by(school: School):  # type: ignore[no-untyped-def]
    return or_(
        Questionnaire.source == BUILTIN,
        Questionnaire.source == IMPORT_EVERYWHERE,
        Questionnaire.source == f"{IMPORT_PREFIX}m{school.municipality_id}",
        Questionnaire.source == f"{IMPORT_PREFIX}s{school.id}",
    )


async def questionnaires_for(session: AsyncSession, school: School) -> Sequence[Questionnaire]:
    """Active questionnaires this school may answer: built-ins first, its project's first."""
    # A «500+» school fills the risk profile; a «Школа Минпросвещения» school the levels one.
    preferred = {Project.P500: "risk_profile", Project.MSH: "levels"}.get(school.project)
    order: list[Any] = [Questionnaire.source != BUILTIN]
    if preferred is not None:
        order.append(Questionnaire.kind != preferred)
    stmt = (
        select(Questionnaire)
        .where(Questionnaire.is_active.is_(True), _usable_by(school))
        .order_by(*order, Questionnaire.title, Questionnaire.id)
    )
    return (await session.scalars(stmt)).all()


async def questionnaire_for(
    session: AsyncSession, school: School, questionnaire_id: int
) -> Questionnaire:
    """An active questionnaire this school may answer; ids from callbacks are never trusted."""
    row = await session.scalar(
        select(Questionnaire).where(
            Questionnaire.id == questionnaire_id,
            Questionnaire.is_active.is_(True),
            _usable_by(school),
        )
    )
    if row is None:
        raise NotFound()
    return row


async def current_version(
    session: AsyncSession, school: School, row: Questionnaire
) -> Questionnaire:
    """The active version of ``row``'s questionnaire, or ``row`` itself if none is active."""
    latest = await session.scalar(
        select(Questionnaire)
        .where(
            Questionnaire.code == row.code,
            Questionnaire.is_active.is_(True),
            _usable_by(school),
        )
        .order_by(Questionnaire.id.desc())
        .limit(1)
    )
    return latest or row


def import_scope(user: User) -> str:
    """Whom a questionnaire imported by ``user`` is offered to."""
    if user.role == Role.MUNICIPAL:
        if user.municipality_id is None:
            return IMPORT_EVERYWHERE
        return f"{IMPORT_PREFIX}m{user.municipality_id}"
    if user.role == Role.COORDINATOR and user.school_id is not None:
        return f"{IMPORT_PREFIX}s{user.school_id}"
    raise InvalidInput("import_not_allowed")


async def import_questionnaire(
    session: AsyncSession, data: bytes, *, title: str, user: User
) -> Questionnaire:
    """Import a sheet (all or nothing); a new sheet with a known title is its next version.

    Raises ``diagnostics.QuestionnaireImportError`` listing every bad row.
    """
    scope = import_scope(user)
    title = " ".join(title.split())[:200]
    previous = await session.scalar(
        select(Questionnaire)
        .where(Questionnaire.source == scope, Questionnaire.title == title)
        .order_by(Questionnaire.id.desc())
        .limit(1)
    )
    if previous is not None:
        code = previous.code
        version = str(int(previous.version) + 1) if previous.version.isdigit() else "2"
    else:
        serial = await session.scalar(select(func.count()).select_from(Questionnaire)) or 0
        code, version = f"import_{serial + 1}_{user.id}", "1"
    questionnaire = diagnostics.questionnaire_from_xlsx(
        data, code=code, title=title, version=version
    )
    row = await _insert_questionnaire(session, questionnaire, source=scope)
    if previous is not None:
        await session.execute(
            update(Questionnaire)
            .where(Questionnaire.code == code, Questionnaire.id != row.id)
            .values(is_active=False)
        )
    record(
        session,
        actor_id=user.id,
        action="questionnaire_imported",
        object_type="questionnaire",
        object_id=row.id,
        code=code,
        version=version,
        questions=len(questionnaire.questions),
    )
    return row
