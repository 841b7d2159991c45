"""Municipal coordinators register schools and create invites in the chat."""

from __future__ import annotations

import re
from typing import Any

from aiogram.methods import EditMessageText, SendMessage
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.ui.callbacks import InviteDone, InviteRole, InviteSchool, MunicipalityPick, ProjectChoice
from models import Invite, Municipality, Project, Role, School, User, invite_schools
from tests.conftest import ADMIN_ID, Harness, World

LINK = re.compile(r"https://t\.me/school_reports_bot\?start=([\w-]+)")


def texts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


async def test_municipal_coordinator_registers_a_school(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/addschool")
    await harness.send(admin, "  МБОУ   «Лицей №1»  ")
    await harness.send(admin, "Лицей №1")
    (text,) = texts(await harness.click(admin, ProjectChoice(value=Project.P500).pack()))

    async with session_factory() as session:
        school = await session.scalar(select(School).where(School.short_name == "Лицей №1"))
    assert school is not None
    assert school.name == "МБОУ «Лицей №1»" and school.project == Project.P500
    assert school.municipality_id == world.municipality.id
    assert str(school.id) in text


async def test_duplicate_school_is_refused(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/addschool")
    await harness.send(admin, world.school_a.name)
    await harness.send(admin, "-")
    (text,) = texts(await harness.click(admin, ProjectChoice(value="msh").pack()))
    assert text == _("A school with this name is already registered in this municipality.")


async def test_bad_school_name_gets_a_hint_and_keeps_the_form(
    harness: Harness, world: World, tg, i18n_ru
):
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/addschool")
    (hint,) = texts(await harness.send(admin, "ab"))
    assert hint == _("The name must be {min} to {max} characters long. Try again.").format(
        min=3, max=300
    )
    (hint,) = texts(await harness.send(admin, sticker=None, text=None))
    assert hint == _("Please answer with text, or use the buttons above. /cancel leaves the form.")
    (ok,) = texts(await harness.send(admin, "МБОУ «СОШ №9»"))
    assert "«-»" in ok


async def test_region_admin_picks_municipality_and_invites_a_curator(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        session.add(User(telegram_id=ADMIN_ID, role=Role.MUNICIPAL))
    admin = tg.user(ADMIN_ID)

    await harness.send(admin, "/addschool")
    await harness.click(admin, MunicipalityPick(municipality_id=world.municipality.id).pack())
    await harness.send(admin, "МБОУ «СОШ №7»")
    await harness.send(admin, "СОШ №7")
    await harness.click(admin, ProjectChoice(value="msh").pack())

    await harness.send(admin, "/invite")
    await harness.click(admin, InviteRole(role=Role.CURATOR).pack())
    await harness.click(admin, InviteSchool(school_id=world.school_a.id).pack())
    await harness.click(admin, InviteSchool(school_id=world.school_b.id).pack())
    await harness.click(admin, InviteSchool(school_id=world.school_a.id).pack())  # unticked
    (text,) = texts(await harness.click(admin, InviteDone().pack()))

    found = LINK.search(text)
    assert found is not None, text
    token = found.group(1)
    async with session_factory() as session:
        invite = await session.scalar(select(Invite))
        school_ids = set(await session.scalars(select(invite_schools.c.school_id)))
    assert invite.role == Role.CURATOR and school_ids == {world.school_b.id}

    curator = tg.user(8001)
    await harness.send(curator, f"/start {token}")
    async with session_factory() as session:
        user = await session.scalar(select(User).where(User.telegram_id == 8001))
    assert user.role == Role.CURATOR


async def test_invite_for_a_teacher_from_a_foreign_municipality_is_refused(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        other = Municipality(name="Другой округ")
        session.add(other)
        await session.flush()
        foreign = School(municipality_id=other.id, name="Чужая школа", short_name="Чужая")
        session.add(foreign)
        await session.flush()
        foreign_id = foreign.id
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/invite")
    await harness.click(admin, InviteRole(role=Role.TEACHER).pack())
    sent = await harness.click(admin, InviteSchool(school_id=foreign_id).pack())

    assert not any(LINK.search(t) for t in texts(sent))
    async with session_factory() as session:
        assert (await session.scalars(select(Invite))).all() == []


async def test_curator_lists_only_assigned_schools(harness: Harness, world: World, tg, i18n_ru):
    (text,) = texts(await harness.send(tg.user(world.curator.telegram_id), "/schools"))
    assert "СОШ №2" in text and "СОШ №5" not in text
    (text,) = texts(await harness.send(tg.user(world.municipal.telegram_id), "/schools"))
    assert "СОШ №2" in text and "СОШ №5" in text
