"""Benchmark: a school's parents answering an anonymous survey through one link at once.

The real ``python main.py run`` (SQLite, a fresh database) polls bench/telegram_stub.py, which
answers every Bot API call ``--latency-ms`` late like Telegram. ``--users`` respondents (strangers
to the bot: no user row) arrive spread over ``--arrive-s`` seconds; each opens the link, answers
every question with a button, reading the buttons the bot really sent, and waits for each answer
before the next press. Reported: respondents done, step latency p50 / p95, bot CPU per update,
and the database checked afterwards (responses = respondents, counters add up, no form state
left, no user rows).

    .venv/bin/python -m bench.surveys --users 1000 --arrive-s 60 --latency-ms 100
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.common import PYTHON, ROOT, clean_env, machine, percentile, save
from bench.e2e import spawn
from bench.telegram_stub import BenchAPI, buttons
from models import School
from models import surveys as sv

TOKEN = "777000:BENCH-token-abcdefghijklmnopqrstuvwxyz0123"


async def make_survey(url: str) -> tuple[str, int]:
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as session, session.begin():
        school = await session.get(School, 1)
        assert school is not None
        created = await sv.create_survey(
            session,
            school=school,
            form="risk500",
            audience="parents",
            grades=[],
            closes_on=date.today() + timedelta(days=7),
            today=date.today(),
            created_by=None,
        )
    await engine.dispose()
    return created.token, len(sv.questions("risk500", "parents"))


async def respondent(api: BenchAPI, chat: int, token: str, steps: int, lat: list[float]) -> bool:
    seen = 0
    started = time.monotonic()
    api.push_message(chat, f"/start {token}")
    seen += 1
    call = await api.answer(chat, seen)
    lat.append((time.monotonic() - started) * 1000)
    for _ in range(steps):
        options = [b for b in buttons(call) if b.startswith("sva:")]
        if not options:
            return False
        started = time.monotonic()
        api.push_callback(chat, random.choice(options))
        seen += 1
        call = await api.answer(chat, seen)
        lat.append((time.monotonic() - started) * 1000)
    return "sva:" not in str(call.params.get("reply_markup") or "")


async def main_async(users: int, arrive_s: float, latency_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-surveys-") as tmp:
        workdir = Path(tmp)
        db = workdir / "bot.sqlite3"
        url = f"sqlite+aiosqlite:///{db}"
        env = clean_env(BOT_TOKEN=TOKEN, DATABASE_URL=url)
        school = ["--municipality", "Б", "--name", "МБОУ «СОШ №2»", "--short-name", "СОШ №2"]
        await asyncio.to_thread(
            subprocess.run,
            [PYTHON, str(ROOT / "main.py"), "school", "add", *school],
            env=env,
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        token, steps = await make_survey(url)
        api = BenchAPI(TOKEN, latency_ms)
        await api.start()
        process = spawn(
            [PYTHON, str(ROOT / "main.py"), "run"],
            env | {"TELEGRAM_API_URL": api.url},
            workdir,
            workdir / "bot.log",
        )
        try:
            await asyncio.wait_for(api.polling.wait(), 60)
            await asyncio.sleep(1.0)
            latencies: list[float] = []
            cpu = process.cpu()
            started = time.monotonic()

            async def one(index: int) -> bool:
                await asyncio.sleep(random.uniform(0, arrive_s))
                try:
                    return await respondent(api, 9_000_000 + index, token, steps, latencies)
                except TimeoutError:
                    return False

            done = await asyncio.gather(*(one(i) for i in range(users)))
            seconds = time.monotonic() - started
            cpu = process.cpu() - cpu
        finally:
            process.stop()
            await api.stop()
        with sqlite3.connect(db) as connection:
            (responses,) = connection.execute("SELECT responses FROM surveys").fetchone()
            (counted,) = connection.execute("SELECT sum(count) FROM survey_counts").fetchone()
            (fsm,) = connection.execute("SELECT count(*) FROM fsm_records").fetchone()
            (people,) = connection.execute("SELECT count(*) FROM users").fetchone()
        updates = users * (steps + 1)
        return {
            "users": users,
            "arrive_s": arrive_s,
            "latency_ms": latency_ms,
            "questions": steps,
            "respondents_done": sum(done),
            "seconds": round(seconds, 1),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": round(max(latencies), 1),
            "cpu_ms_per_update": round(cpu / updates * 1000, 2),
            "responses_stored": responses,
            "counters_sum": counted,
            "counters_expected": responses * steps,
            "fsm_rows_left": fsm,
            "user_rows": people,
            "machine": machine(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--arrive-s", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    result = asyncio.run(main_async(args.users, args.arrive_s, args.latency_ms))
    save("surveys", result)
    print({k: v for k, v in result.items() if k != "machine"})


if __name__ == "__main__":
    main()
