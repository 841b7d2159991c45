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


async def test_real_process_answers_each_role_and_stops_on_sigterm(tmp_path: Path) -> None:
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
                output, _ = await process.communicate()
                pytest.fail(f"the bot did not answer; its output:\n{output.decode()[-3000:]}")

            stranger = _texts(api, STRANGER)
            assert len(stranger) == 1 and "приглашение" in stranger[0]
            teacher = _texts(api, TEACHER)
            assert "учитель" in teacher[0]  # registered through the invite
            assert "СОШ №2" in teacher[1]  # /whoami
            assert "недоступно" in teacher[2]  # /invite is not for teachers
            (admin_help,) = _texts(api, ADMIN)
            assert "/invite" in admin_help and "/addschool" in admin_help
            assert all(
                c.token == TOKEN for c in api.calls
            )  # every call went through TELEGRAM_API_URL
            assert api.calls_to("setMyCommands")

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 10)
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
