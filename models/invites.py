"""Invites: deep-link tokens carrying a role and school(s); only a hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import record
from models.base import utcnow
from models.entities import Invite, School, User, curator_schools, invite_schools
from models.enums import Role
from models.errors import InvalidInput, InviteError

# Telegram deep-link payloads are at most 64 characters of [A-Za-z0-9_-].
TOKEN_BYTES = 18
DEFAULT_MAX_USES = {Role.TEACHER: 50, Role.COORDINATOR: 2, Role.CURATOR: 1, Role.MUNICIPAL: 1}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(payload: str) -> bool:
    return 16 <= len(payload) <= 64 and all(c.isalnum() or c in "-_" for c in payload)


@dataclass(frozen=True)
class CreatedInvite:
    invite: Invite
    token: str


async def create_invite(
    session: AsyncSession,
    *,
    role: Role,
    school_ids: Sequence[int] = (),
    municipality_id: int | None = None,
    created_by: User | None = None,
    ttl: timedelta = timedelta(days=7),
    max_uses: int | None = None,
) -> CreatedInvite:
    schools = (
        (await session.scalars(select(School).where(School.id.in_(school_ids)))).all()
        if school_ids
        else []
    )
    if len(schools) != len(set(school_ids)):
        raise InvalidInput("unknown_school")
    if role in (Role.TEACHER, Role.COORDINATOR) and len(schools) != 1:
        raise InvalidInput("invite_needs_one_school")
    if role == Role.CURATOR and not schools:
        raise InvalidInput("invite_needs_schools")
    if municipality_id is None and schools:
        municipality_id = schools[0].municipality_id
    uses = max_uses if max_uses is not None else DEFAULT_MAX_USES[role]
    if not 1 <= uses <= 1000:
        raise InvalidInput("invite_max_uses", min=1, max=1000)

    token = secrets.token_urlsafe(TOKEN_BYTES)
    invite = Invite(
        token_hash=hash_token(token),
        role=role,
        school_id=schools[0].id if role in (Role.TEACHER, Role.COORDINATOR) else None,
        municipality_id=municipality_id,
        created_by_id=created_by.id if created_by else None,
        expires_at=utcnow() + ttl,
        max_uses=uses,
    )
    invite.schools = list(schools)
    session.add(invite)
    await session.flush()
    record(
        session,
        actor_id=created_by.id if created_by else None,
        action="invite_created",
        object_type="invite",
        object_id=invite.id,
        school_id=invite.school_id,
        role=role.value,
        max_uses=uses,
        school_ids=[s.id for s in schools],
    )
    return CreatedInvite(invite=invite, token=token)


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


async def redeem_invite(
    session: AsyncSession,
    token: str,
    *,
    telegram_id: int,
    full_name: str,
    username: str | None,
    locale: str | None,
    now: datetime | None = None,
) -> User:
    """Register (or extend a curator) from an invite; raises InviteError with the reason."""
    now = now or utcnow()
    invite = await session.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    if invite is None:
        raise InviteError("invite_unknown")
    if invite.revoked_at is not None:
        raise InviteError("invite_revoked")
    if invite.expires_at <= now:
        raise InviteError("invite_expired")
    if invite.used_count >= invite.max_uses:
        raise InviteError("invite_used_up")

    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    adds_schools = user is not None and user.role == invite.role == Role.CURATOR
    if user is not None and not adds_schools:
        raise InviteError("invite_already_registered", role=user.role.value)

    # The conditional UPDATE is the use limit: two people racing for the last use can't both win.
    claimed = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_count < Invite.max_uses)
        .values(used_count=Invite.used_count + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteError("invite_used_up")

    school_ids = list(
        await session.scalars(
            select(invite_schools.c.school_id).where(invite_schools.c.invite_id == invite.id)
        )
    )
    if user is None:
        user = User(
            telegram_id=telegram_id,
            full_name=full_name[:200],
            username=username,
            role=invite.role,
            school_id=invite.school_id,
            municipality_id=invite.municipality_id,
            locale=locale,
        )
        session.add(user)
        await session.flush()
    if invite.role == Role.CURATOR:
        already = set(
            await session.scalars(
                select(curator_schools.c.school_id).where(curator_schools.c.user_id == user.id)
            )
        )
        new_ids = [sid for sid in school_ids if sid not in already]
        if new_ids:
            await session.execute(
                curator_schools.insert(), [{"user_id": user.id, "school_id": s} for s in new_ids]
            )
    record(
        session,
        actor_id=user.id,
        action="invite_redeemed",
        object_type="invite",
        object_id=invite.id,
        school_id=invite.school_id,
        role=invite.role.value,
    )
    return user
