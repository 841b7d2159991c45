"""Role-specific menus, /help, /whoami, /cancel from any step, /lang stored per user."""

from __future__ import annotations

from typing import Any

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SetMyCommands
from aiogram.types import BotCommandScopeChat
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.ui.callbacks import Cancel, LangChoice
from bot.ui.commands import commands_for
from models import FsmRecord, Role, User
from tests.conftest import Harness, World


def sent_texts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


def commands_in_help(text: str) -> set[str]:
    return {line.split(" ")[0][1:] for line in text.splitlines() if line.startswith("/")}


async def test_help_lists_what_each_role_can_do(harness: Harness, world: World, tg, i18n_ru):
    everyone = {"roadmap", "status", "whoami", "help", "lang", "cancel"}
    reminders = {"mute", "unmute"}
    expected = {
        world.teacher: everyone | {"report", "my", "evidence"},
        world.coordinator: everyone
        | reminders
        | {"report", "my", "evidence", "diagnostics", "documents", "survey"},
        world.curator: everyone
        | reminders
        | {"diagnostics", "documents", "review", "export", "schools"},
        world.municipal: everyone
        | reminders
        | {"addschool", "invite", "diagnostics", "documents", "survey", "review", "export"}
        | {"schools"},
    }
    for user, commands in expected.items():
        (text,) = sent_texts(await harness.send(tg.user(user.telegram_id), "/help"))
        assert commands_in_help(text) == commands, user.role
    (text,) = sent_texts(await harness.send(tg.user(7001), "/help"))
    assert commands_in_help(text) == {"start", "help", "cancel"}


async def test_menu_commands_are_registered_handlers(harness: Harness, i18n_ru):
    """Every command offered in a menu has a handler; a renamed command can't leave a dead item."""
    registered = set()
    for router in harness.dp.chain_tail:
        for handler in router.message.handlers:
            for flt in handler.filters or []:
                commands = getattr(flt.callback, "commands", None)
                if commands:
                    registered |= {getattr(c, "command", c) for c in commands}
    registered.add("start")
    for role in (None, *Role):
        assert {c.command for c in commands_for(role)} <= registered, role


async def test_start_sets_the_role_menu_in_the_users_chat(
    harness: Harness, world: World, tg, i18n_ru
):
    sent = await harness.send(tg.user(world.curator.telegram_id), "/start")
    (menu,) = [r for r in sent if isinstance(r, SetMyCommands)]
    assert isinstance(menu.scope, BotCommandScopeChat)
    assert menu.scope.chat_id == world.curator.telegram_id
    assert {c.command for c in menu.commands} == {c.command for c in commands_for(Role.CURATOR)}


async def test_whoami_shows_role_and_school(harness: Harness, world: World, tg, i18n_ru):
    (text,) = sent_texts(await harness.send(tg.user(world.teacher.telegram_id), "/whoami"))
    assert _("teacher") in text and "СОШ №2" in text and str(world.teacher.telegram_id) in text


async def test_cancel_leaves_a_form_from_any_step(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/addschool")
    await harness.send(admin, "МБОУ «Лицей №1»")  # now at the short-name step

    (text,) = sent_texts(await harness.send(admin, "/cancel"))

    assert text == _("Adding the school is cancelled; nothing was saved.")
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []
    (text,) = sent_texts(await harness.send(admin, "/cancel"))
    assert text == _("There is nothing to cancel.")


async def test_cancel_button_clears_the_form(harness: Harness, world: World, tg, session_factory):
    admin = tg.user(world.municipal.telegram_id)
    await harness.send(admin, "/invite")
    sent = await harness.click(admin, Cancel().pack())
    assert any(isinstance(r, EditMessageText) for r in sent)
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []


async def test_lang_switches_and_is_stored(
    harness: Harness, world: World, tg, session_factory, i18n
):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/lang")
    sent = await harness.click(teacher, LangChoice(code="en").pack())
    assert "Language set: English." in sent_texts(sent)
    assert any(isinstance(r, SetMyCommands) for r in sent)
    async with session_factory() as session:
        assert (await session.get(User, world.teacher.id)).locale == "en"

    # Telegram still says «ru», but the stored choice wins.
    (text,) = sent_texts(await harness.send(teacher, "/cancel"))
    assert text == "There is nothing to cancel."

    await harness.click(teacher, LangChoice(code="ru").pack())
    with i18n.context(), i18n.use_locale("ru"):
        expected = _("There is nothing to cancel.")
    (text,) = sent_texts(await harness.send(teacher, "/cancel"))
    assert text == expected and text != "There is nothing to cancel."


async def test_forged_language_is_refused(harness: Harness, world: World, tg, session_factory):
    # A forged button: no such language. The callback filter refuses it (a closed set).
    sent = await harness.click(tg.user(world.teacher.telegram_id), "lang:xx")
    assert any(isinstance(r, AnswerCallbackQuery) and r.show_alert for r in sent)
    async with session_factory() as session:
        assert (await session.get(User, world.teacher.id)).locale is None


async def test_teacher_cannot_use_coordinator_commands(
    harness: Harness, world: World, tg, i18n_ru
):
    for command in ("/addschool", "/invite", "/schools"):
        (text,) = sent_texts(await harness.send(tg.user(world.teacher.telegram_id), command))
        assert text == _("This is not available for your role. /help lists what you can do.")


async def test_stale_button_gets_an_answer(harness: Harness, world: World, tg, i18n_ru):
    sent = await harness.click(tg.user(world.teacher.telegram_id), "garbage:1:2:3")
    (answer,) = [r for r in sent if isinstance(r, AnswerCallbackQuery)]
    assert answer.text == _("This button is no longer active.")
