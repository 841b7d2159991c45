"""Invites and /start: valid, expired, used up, unknown; strangers get only an explanation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiogram.methods import SendMessage, SetMyCommands
from aiogram.types import BotCommandScopeChat
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select

from models import AuditEvent, Invite, Role, User, curator_schools
from models.base import utcnow
from models.invites import create_invite, hash_token
from tests.conftest import Harness, World

STRANGER_TEXT = (
    "This bot is for schools, their curators and municipal coordinators. "
    "To get access, ask your municipal coordinator or curator for an invite link "
    "and open it."
)


def texts(requests: list[Any]) -> list[str]:
    return [r.text for r in requests if isinstance(r, SendMessage)]


async def make_invite(session_factory, world: World, role: Role = Role.TEACHER, **kwargs) -> str:
    schools = kwargs.pop("school_ids", [world.school_a.id])
    async with session_factory() as session, session.begin():
        created = await create_invite(session, role=role, school_ids=schools, **kwargs)
    return created.token


async def test_teacher_registers_with_valid_invite(
    harness: Harness, world: World, session_factory, tg, i18n_ru
):
    token = await make_invite(session_factory, world)
    person = tg.user(5001, first_name="Ольга")

    sent = await harness.send(person, f"/start {token}")

    assert any(_("teacher") in t for t in texts(sent))
    assert any(
        isinstance(r, SetMyCommands)
        and isinstance(r.scope, BotCommandScopeChat)
        and r.scope.chat_id == 5001
        for r in sent
    )
    async with session_factory() as session:
        user = await session.scalar(select(User).where(User.telegram_id == 5001))
        assert (
            user is not None and user.role == Role.TEACHER and user.school_id == world.school_a.id
        )
        invite = await session.scalar(select(Invite))
        assert invite.used_count == 1
        assert invite.token_hash == hash_token(token) and token not in invite.token_hash
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "invite_redeemed")
            )
            == 1
        )


async def test_expired_invite_is_refused_with_reason(
    harness: Harness, world: World, session_factory, tg, i18n_ru
):
    token = await make_invite(session_factory, world, ttl=timedelta(days=1))
    async with session_factory() as session, session.begin():
        invite = await session.scalar(select(Invite))
        invite.expires_at = utcnow() - timedelta(minutes=1)

    sent = await harness.send(tg.user(5002), f"/start {token}")

    assert texts(sent) == [_("This invite link has expired. Ask for a new one.")]
    async with session_factory() as session:
        assert await session.scalar(select(User).where(User.telegram_id == 5002)) is None


async def test_used_up_invite_is_refused(
    harness: Harness, world: World, session_factory, tg, i18n_ru
):
    token = await make_invite(session_factory, world, role=Role.COORDINATOR, max_uses=1)
    await harness.send(tg.user(5003), f"/start {token}")

    sent = await harness.send(tg.user(5004), f"/start {token}")

    assert texts(sent) == [
        _("This invite link has already been used the allowed number of times.")
    ]
    async with session_factory() as session:
        assert await session.scalar(select(User).where(User.telegram_id == 5004)) is None
        assert (await session.scalar(select(Invite))).used_count == 1


async def test_unknown_and_malformed_tokens(
    harness: Harness, world: World, session_factory, tg, i18n_ru
):
    expected = _(
        "This invite link is not valid. Check that you opened the whole link, "
        "or ask for a new one."
    )
    for payload in ("A" * 24, "short", "../../etc", "x" * 64):
        sent = await harness.send(tg.user(5005), f"/start {payload}")
        assert texts(sent) == [expected], payload
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 5  # world only


async def test_replayed_invite_by_registered_user_changes_nothing(
    harness: Harness, world: World, session_factory, tg, i18n_ru
):
    token = await make_invite(
        session_factory, world, role=Role.COORDINATOR, school_ids=[world.school_b.id]
    )
    sent = await harness.send(tg.user(world.teacher.telegram_id), f"/start {token}")

    assert texts(sent) == [
        _(
            "You are already registered in the bot. An invite for another role must be "
            "arranged by your municipal coordinator."
        )
    ]
    async with session_factory() as session:
        teacher = await session.get(User, world.teacher.id)
        assert teacher.role == Role.TEACHER and teacher.school_id == world.school_a.id
        assert (await session.scalar(select(Invite))).used_count == 0


async def test_curator_invite_adds_schools_to_existing_curator(
    harness: Harness, world: World, session_factory, tg
):
    token = await make_invite(
        session_factory, world, role=Role.CURATOR, school_ids=[world.school_b.id]
    )
    await harness.send(tg.user(world.curator.telegram_id), f"/start {token}")
    async with session_factory() as session:
        schools = set(
            await session.scalars(
                select(curator_schools.c.school_id).where(
                    curator_schools.c.user_id == world.curator.id
                )
            )
        )
    assert schools == {world.school_a.id, world.school_b.id}


async def test_stranger_gets_only_the_explanation(harness: Harness, world: World, tg, i18n_ru):
    stranger = tg.user(6001)
    for text in ("/start", "привет", "/whoami", "/addschool", "/invite", "/schools", "/lang"):
        sent = await harness.send(stranger, text)
        assert texts(sent) == [_(STRANGER_TEXT)], text


async def test_stranger_in_english_gets_english(harness: Harness, world: World, tg, i18n):
    sent = await harness.send(tg.user(6002, language="en"), "/start")
    assert texts(sent) == [STRANGER_TEXT]


async def test_group_messages_are_ignored(harness: Harness, world: World, tg):
    from aiogram.types import Chat

    group = Chat(id=-100123, type="supergroup", title="Координационная группа")
    sent = await harness.send(tg.user(world.teacher.telegram_id), "/whoami", chat=group)
    assert sent == []
    sent = await harness.send(tg.user(6003), "/start", chat=group)
    assert sent == []
