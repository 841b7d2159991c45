"""`python main.py run` as a real process against a Bot-API-compatible server on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiogram.utils.i18n import gettext as _

from bot.ui.texts import role_name
from models.enums import Role
from tests.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "777000:PROCESS-test-token-abcdefghijklmnopqrstuv"
ADMIN = 3001
TEACHER = 2001
STRANGER = 1001


def _env(api: FakeBotAPI, db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    return keep | {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "ADMIN_IDS": str(ADMIN),
        "PYTHONUNBUFFERED": "1",
    }


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def _texts(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [str(c.params.get("text", "")) for c in api.calls_to("sendMessage", chat_id)]


async def test_real_process_answers_each_role_and_stops_on_sigterm(
    tmp_path: Path, i18n_ru
) -> None:
    """The expected texts come from the catalogs the process uses (DEFAULT_LOCALE ru)."""
    api = FakeBotAPI(TOKEN)
    await api.start()
    db = tmp_path / "data" / "bot.sqlite3"
    env = _env(api, db)
    try:
        # Bootstrap from the CLI before anyone uses the bot, as the README says.
        await _cli(env, tmp_path, "db", "upgrade")
        added = await _cli(
            env,
            tmp_path,
            "school",
            "add",
            "--municipality",
            "Тестовый МО",
            "--name",
            "МБОУ «СОШ №2»",
            "--short-name",
            "СОШ №2",
        )
        school_id = added.split()[1].rstrip(":")
        link = (
            await _cli(env, tmp_path, "invite", "--role", "teacher", "--school", school_id)
        ).strip()
        assert link.startswith("https://t.me/school_reports_bot?start=")
        token = link.rsplit("=", 1)[1]

        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "run",
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            api.push_message(STRANGER, "/start")
            api.push_message(TEACHER, f"/start {token}")
            api.push_message(TEACHER, "/whoami")
            api.push_message(ADMIN, "/help")
            api.push_message(TEACHER, "/invite")

            try:
                await api.wait_for(
                    lambda _c: (
                        len(_texts(api, TEACHER)) >= 3
                        and _texts(api, ADMIN)
                        and _texts(api, STRANGER)
                    ),
                    timeout=30,
                )
            except TimeoutError:
                process.kill()
                output, _stderr = await process.communicate()
                pytest.fail(f"the bot did not answer; its output:\n{output.decode()[-3000:]}")

            assert _texts(api, STRANGER) == [
                _(
                    "This bot is for schools, their curators and municipal coordinators. "
                    "To get access, ask your municipal coordinator or curator for an invite link "
                    "and open it."
                )
            ]
            teacher = _texts(api, TEACHER)
            # Registered through the invite.
            assert teacher[0].startswith(
                _("Hello, {name}! You are registered as: {role}.").format(
                    name="U", role=role_name(Role.TEACHER)
                )
            )
            assert teacher[1] == _(  # /whoami
                "Telegram id: <code>{tg_id}</code>\nRole: {role}\nSchools: {schools}"
            ).format(tg_id=TEACHER, role=role_name(Role.TEACHER), schools="СОШ №2")
            # /invite is not for teachers.
            assert teacher[2] == _(
                "This is not available for your role. /help lists what you can do."
            )
            (admin_help,) = _texts(api, ADMIN)
            help_lines = admin_help.splitlines()
            assert help_lines[:2] == [
                _("<b>What you can do here</b>"),
                _("You are registered as: {role}.").format(role=role_name(Role.MUNICIPAL)),
            ]
            assert f"/invite — {_('Create an invite link')}" in help_lines
            assert f"/addschool — {_('Register a school')}" in help_lines
            assert all(
                c.token == TOKEN for c in api.calls
            )  # every call went through TELEGRAM_API_URL
            assert api.calls_to("setMyCommands")

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _stderr = await asyncio.wait_for(process.communicate(), 10)
            assert time.monotonic() - started < 5
            assert process.returncode == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        log = output.decode()
        assert "starting long polling" in log
        assert TOKEN not in log and TOKEN.split(":")[1] not in log
    finally:
        await api.stop()
