"""Webhook mode: two real `python main.py webhook` processes over PostgreSQL and Redis.

One user's updates alternate between the processes through a whole report; the secret token
is enforced; /healthz answers; SIGTERM lets an update in progress finish. The processes talk
to tests/fake_bot_api.py. Skips when PostgreSQL or Redis doesn't answer (tests/services.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.config import ConfigError, load_settings
from bot.db.engine import create_engine, create_session_factory
from bot.ui.callbacks import ReportItem, ReportMark, ReportNav
from models import (
    ActivityReport,
    FsmRecord,
    Mark,
    Municipality,
    Project,
    RoadmapItem,
    Role,
    School,
    User,
)
from tests import pg
from tests.fake_bot_api import BOT_USER, FakeBotAPI
from tests.services import empty_pg_url, redis_prefix, scale_postgres, scale_redis  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "777001:WEBHOOK-test-token-abcdefghijklmnopqrstuv"
SECRET = "webhook-Secret_0123456789abcdefXYZ"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TEACHER = 2001
PUBLIC_URL = "https://bot.example.test"
# A readiness bound, not a timing assertion: on a loaded 2-core machine start-up (imports,
# migrations of an empty database) has taken over 30 s.
START_SECONDS = 90.0


# --- settings ---------------------------------------------------------------------------------


def test_webhook_settings_have_defaults_and_build_the_public_url() -> None:
    settings = load_settings(_env_file=None, webhook_url="https://bot.example.ru/")
    assert (settings.webhook_host, settings.webhook_port, settings.webhook_path) == (
        "0.0.0.0",
        8080,
        "/telegram",
    )
    assert settings.webhook_full_url == "https://bot.example.ru/telegram"
    assert settings.redis_url is None and settings.redis_key_prefix == "fsm"
    assert load_settings(_env_file=None).webhook_full_url is None


def test_secrets_for_the_log_filter() -> None:
    settings = load_settings(
        _env_file=None,
        bot_token=TOKEN,
        webhook_secret=SECRET,
        redis_url="redis://:redis-pass-123@127.0.0.1:6379/2",
    )
    assert settings.log_secrets() == (TOKEN, SECRET, "redis-pass-123")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(_env_file=None).require_webhook_secret()


def run_main(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "has spaces and !"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": "70000"}, "WEBHOOK_PORT"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_PATH": "telegram"}, "WEBHOOK_PATH"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_URL": "bot.example.ru"}, "WEBHOOK_URL"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_HOST": "two words"}, "WEBHOOK_HOST"),
        ({"WEBHOOK_SECRET": SECRET, "REDIS_URL": "http://u:topsecret@h"}, "REDIS_URL"),
        ({"WEBHOOK_SECRET": SECRET, "REDIS_KEY_PREFIX": "a b"}, "REDIS_KEY_PREFIX"),
    ],
)
def test_bad_webhook_configuration_is_one_clear_line(
    env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    result = run_main("webhook", env={"BOT_TOKEN": TOKEN} | env, cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr
    assert "topsecret" not in result.stderr and "has spaces" not in result.stderr


# --- two real processes ---------------------------------------------------------------------


class GatedBotAPI(FakeBotAPI):
    """The fake Bot API, able to hold sendMessage answers until the test lets them go."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()

    async def _method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"].lower() == "sendmessage" and not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        return await super()._method(request)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WebhookProcess:
    process: asyncio.subprocess.Process
    port: int
    output: bytes = b""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    stopped: bool = False

    async def stop(self, *, terminate: bool = True) -> int:
        """SIGTERM (unless it was sent already) and wait for the exit; the exit code."""
        if not self.stopped:
            if terminate and self.process.returncode is None:
                self.process.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(self.process.communicate(), 30)
            self.output += out
            self.stopped = True
        assert self.process.returncode is not None
        return self.process.returncode


async def start_process(env: dict[str, str], cwd: Path) -> WebhookProcess:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "webhook",
        env=env | {"WEBHOOK_PORT": str(port)},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return WebhookProcess(process, port)


async def wait_healthy(http: aiohttp.ClientSession, worker: WebhookProcess) -> dict[str, Any]:
    """Poll /healthz until it answers 200 (readiness, not a timing assertion)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if worker.process.returncode is not None:
            out, _ = await worker.process.communicate()
            pytest.fail(f"the webhook process exited:\n{out.decode()[-3000:]}")
        try:
            async with http.get(f"{worker.base}/healthz") as response:
                if response.status == 200:
                    return dict(await response.json())
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    worker.process.kill()
    out, _ = await worker.process.communicate()
    pytest.fail(f"the webhook process did not become healthy:\n{out.decode()[-3000:]}")


@dataclass
class Updates:
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Мария", "language_code": "ru"}

    def message(self, user_id: int, text: str) -> dict[str, Any]:
        update_id = next(self.ids)
        return {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Мария"},
                "from": self._user(user_id),
                "text": text,
            },
        }

    def callback(self, user_id: int, data: str, message_id: int) -> dict[str, Any]:
        update_id = next(self.ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq-{update_id}",
                "from": self._user(user_id),
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": user_id, "type": "private"},
                    "from": BOT_USER,
                    "text": "…",
                },
            },
        }


async def post(
    http: aiohttp.ClientSession,
    worker: WebhookProcess,
    update: dict[str, Any],
    secret: str | None = SECRET,
) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with http.post(f"{worker.base}/telegram", json=update, headers=headers) as response:
        await response.read()
        return response.status


def replies(api: FakeBotAPI, chat_id: int) -> list[dict[str, Any]]:
    """What the bot sent or edited in the user's chat, oldest first."""
    return [
        call.params
        for call in api.calls
        if call.method.lower() in {"sendmessage", "editmessagetext"}
        and str(call.params.get("chat_id")) == str(chat_id)
    ]


def buttons(reply: dict[str, Any]) -> list[str]:
    """The callback data of the reply's inline buttons, as the fake server recorded them."""
    markup = reply.get("reply_markup") or {}
    return [
        str(key["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for key in row
        if key.get("callback_data")
    ]


@dataclass
class Seeded:
    school_id: int
    item_id: int
    item_title: str


async def seed(database_url: str) -> Seeded:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            municipality = Municipality(name="Тестовый МО")
            session.add(municipality)
            await session.flush()
            school = School(
                municipality_id=municipality.id,
                name="МБОУ «СОШ №2»",
                short_name="СОШ №2",
                project=Project.MSH,
            )
            session.add(school)
            await session.flush()
            session.add(
                User(
                    telegram_id=TEACHER,
                    full_name="Учитель",
                    role=Role.TEACHER,
                    school_id=school.id,
                )
            )
            item = RoadmapItem(
                school_id=school.id, number="1", title="Урок цифры в 5-х классах", position=1
            )
            session.add(item)
            await session.flush()
            return Seeded(school.id, item.id, item.title)
    finally:
        await engine.dispose()


async def stored_reports(database_url: str) -> tuple[list[ActivityReport], int]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            reports = list(
                await session.scalars(
                    select(ActivityReport).options(selectinload(ActivityReport.evidence))
                )
            )
            fsm_rows = len(list(await session.scalars(select(FsmRecord))))
            return reports, fsm_rows
    finally:
        await engine.dispose()


async def redis_keys(redis_url: str, prefix: str) -> list[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        return sorted([key async for key in client.scan_iter(match=f"{prefix}:*")])
    finally:
        await client.aclose()


@pytest.fixture
async def api() -> AsyncIterator[GatedBotAPI]:
    server = GatedBotAPI(TOKEN)
    await server.start()
    yield server
    server.gate.set()
    await server.stop()


async def test_two_webhook_processes_serve_one_users_report_alternately(
    api: GatedBotAPI,
    empty_pg_url: str,  # noqa: F811
    scale_redis: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
    tmp_path: Path,
    i18n: I18n,
) -> None:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env = keep | {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.url,
        "DATABASE_URL": empty_pg_url,
        "REDIS_URL": scale_redis,
        "REDIS_KEY_PREFIX": redis_prefix,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PATH": "/telegram",
        "PYTHONUNBUFFERED": "1",
    }
    # Both start at once on an empty database: each applies the migrations, one at a time.
    # Only the first registers the webhook (WEBHOOK_URL); the second is left to the operator.
    workers = await asyncio.gather(
        start_process(env | {"WEBHOOK_URL": PUBLIC_URL}, tmp_path),
        start_process(env, tmp_path),
    )
    try:
        async with aiohttp.ClientSession() as http:
            for worker in workers:
                health = await wait_healthy(http, worker)
                assert health == {"status": "ok", "database": "ok", "redis": "ok"}
            seeded = await seed(empty_pg_url)
            updates = Updates()
            turn = itertools.cycle(workers)

            async def send(update: dict[str, Any]) -> list[dict[str, Any]]:
                before = len(replies(api, TEACHER))
                assert await post(http, next(turn), update) == 200
                return replies(api, TEACHER)[before:]

            async def tap(data: str, message_id: int = 500) -> list[dict[str, Any]]:
                return await send(updates.callback(TEACHER, data, message_id))

            # /report → a roadmap item → «выполнено» → text with a link → «Отправить»,
            # each step on the other process than the one before.
            (choose,) = await send(updates.message(TEACHER, "/report"))
            items = [b for b in buttons(choose) if b.startswith(f"{ReportItem.__prefix__}:")]
            (item,) = [b for b in items if ReportItem.unpack(b).item_id == seeded.item_id]
            # The form lives in the database both processes share; Redis held only the
            # user's lock, released once the update was handled.
            assert (await stored_reports(empty_pg_url))[1] == 1
            assert await redis_keys(scale_redis, redis_prefix) == []

            (mark,) = await tap(item)
            # Buttons carry the form's id after what a bare pack() gives.
            (done,) = [b for b in buttons(mark) if b.startswith(ReportMark(mark="done").pack())]
            assert len(await tap(done)) == 1  # «what was done?»
            (card,) = await send(
                updates.message(TEACHER, "Провели урок для 5А и 5Б: https://vk.com/wall-1_2")
            )
            (submit,) = [
                b for b in buttons(card) if b.startswith(ReportNav(action="submit").pack())
            ]
            sent = await tap(submit)

            reports, fsm_rows = await stored_reports(empty_pg_url)
            (report,) = reports
            assert (report.roadmap_item_id, report.title, report.mark) == (
                seeded.item_id,
                seeded.item_title,
                Mark.DONE,
            )
            assert report.school_id == seeded.school_id
            assert [e.url for e in report.evidence] == ["https://vk.com/wall-1_2"]
            assert fsm_rows == 0  # the form is over
            assert await redis_keys(scale_redis, redis_prefix) == []  # no lock left behind
            with i18n.context(), i18n.use_locale("ru"):
                confirmation = _("✅ Report №{id} is sent. The curator will review it.").format(
                    id=report.id
                )
            assert any(confirmation in str(r.get("text")) for r in sent)
            assert seeded.item_title in str(card.get("text"))

            # A wrong or missing secret: 401, nothing handled, nothing sent.
            calls = len(api.calls)
            for worker in workers:
                for secret in ("wrong-secret", None):
                    status = await post(http, worker, updates.message(TEACHER, "/report"), secret)
                    assert status == 401
            assert len(api.calls) == calls
            assert len((await stored_reports(empty_pg_url))[0]) == 1

            # The webhook was registered once, by the process with WEBHOOK_URL.
            (registered,) = api.calls_to("setWebhook")
            assert registered.params["url"] == f"{PUBLIC_URL}/telegram"
            assert registered.params["secret_token"] == SECRET
            assert "callback_query" in registered.params["allowed_updates"]

            # SIGTERM while an update is in progress: no new ones are taken, that one finishes.
            first = workers[0]
            api.gate.clear()
            in_progress = asyncio.create_task(
                post(http, first, updates.message(TEACHER, "/whoami"))
            )
            await api.held.wait()
            first.process.send_signal(signal.SIGTERM)
            await until_not_healthy(first)
            late = updates.message(TEACHER, "/help")
            assert await post_or_refused(first, late) in {503, None}
            api.gate.set()
            assert await in_progress == 200
            assert await first.stop(terminate=False) == 0
            texts = [str(r.get("text")) for r in replies(api, TEACHER)]
            assert any("СОШ №2" in text for text in texts[-1:])  # /whoami was answered
    finally:
        api.gate.set()
        codes = [await worker.stop() for worker in workers]
    assert codes == [0, 0]
    for worker in workers:
        log = worker.output.decode()
        assert "serving webhook updates" in log
        assert TOKEN not in log and TOKEN.split(":")[1] not in log
        assert SECRET not in log
    assert "finishing 1 update(s) in progress" in workers[0].output.decode()


async def health_status(worker: WebhookProcess) -> int | None:
    """/healthz's status on a fresh connection; None when the port no longer accepts."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{worker.base}/healthz") as answer:
            return answer.status
    except aiohttp.ClientConnectionError:
        return None


async def until_not_healthy(worker: WebhookProcess) -> None:
    """Poll /healthz until the process has taken in the signal (readiness, not timing)."""
    for _attempt in range(int(START_SECONDS / 0.05)):
        if await health_status(worker) in {503, None}:
            return
        await asyncio.sleep(0.05)
    pytest.fail("/healthz still answers 200 after SIGTERM")


async def post_or_refused(worker: WebhookProcess, update: dict[str, Any]) -> int | None:
    try:
        async with aiohttp.ClientSession() as http:
            return await post(http, worker, update)
    except aiohttp.ClientConnectionError:
        return None


async def test_healthz_is_503_when_the_database_is_gone(
    api: GatedBotAPI,
    empty_pg_url: str,  # noqa: F811
    scale_postgres: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Database storage (no REDIS_URL), no WEBHOOK_URL: the minimal webhook process."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env = keep | {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.url,
        "DATABASE_URL": empty_pg_url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    worker = await start_process(env, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            assert await wait_healthy(http, worker) == {"status": "ok", "database": "ok"}
            # Drop the bot's database under it (FORCE ends its connections).
            name = empty_pg_url.rsplit("/", 1)[1]
            await asyncio.to_thread(pg.drop, scale_postgres, name)
            async with http.get(f"{worker.base}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["database"] == "unavailable"
        assert api.calls_to("setWebhook") == []
    finally:
        assert await worker.stop() == 0


def test_the_webhook_command_hides_the_token_and_the_secret_in_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.db.migrate
    import bot.logging_setup
    import bot.webhook
    import main

    installed: list[tuple[str, ...]] = []
    served: list[str] = []

    async def serve(settings: Any) -> None:
        served.append(settings.database_url)

    monkeypatch.setattr(
        bot.logging_setup, "setup_logging", lambda secrets: installed.append(secrets)
    )
    monkeypatch.setattr(bot.db.migrate, "upgrade", lambda url: None)
    monkeypatch.setattr(bot.webhook, "run_webhook", serve)
    monkeypatch.setattr("main.signal.signal", lambda *args: None)
    settings = load_settings(
        _env_file=None,
        bot_token=TOKEN,
        webhook_secret=SECRET,
        redis_url="redis://:redis-pass-123@127.0.0.1:6379/0",
    )

    assert main.cmd_webhook(settings) == 0
    assert served == [settings.database_url]
    (secrets,) = installed
    assert {TOKEN, SECRET, "redis-pass-123"} <= set(secrets)
