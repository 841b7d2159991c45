"""The audit log: who did what to which object."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import AuditEvent


def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None = None,
    school_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        school_id=school_id,
        details=details,
    )
    session.add(event)
    return event
