"""Benchmark: a school's parents answering an anonymous survey through one link, beside a peer.

The real ``python main.py run`` (SQLite, a fresh database) polls bench/telegram_stub.py, which
answers every Bot API call ``--latency-ms`` late like Telegram. ``--users`` respondents (strangers
to the bot: no user row) arrive at random over ``--arrive-s`` seconds; each opens the link and
answers every question with a button, reading the buttons the bot really sent, and waits for
each answer before the next press (no pauses: the bot's side only).

In the same run, against the same stand-in at the same latency, aiogram's own
examples/finite_state_machine.py (bench/fsm_example.py, as in bench/e2e.py) gets the same number
of users arriving the same way, each going through its form (/start → a name → «Yes» →
«Python»). Rounds alternate which bot goes first. Reported per bot: users done, step latency
p50 / p95 / max, CPU per update (user + system, psutil, over the busy window) and ours ÷ the
example; for ours the database checked afterwards (responses = respondents, counters add up,
no form state left, no user rows).

    .venv/bin/python -m bench.surveys --users 1000 --arrive-s 300 --latency-ms 100 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.common import (
    PYTHON,
    ROOT,
    clean_env,
    describe_machine,
    machine,
    median,
    percentile,
    save,
    table,
)
from bench.e2e import EXAMPLE, Process, spawn, start_process
from bench.e2e_users import Chat, StepFailed, Tally, example_form, run_user
from bench.telegram_stub import BenchAPI, buttons, text_of
from models import School
from models import surveys as sv

TOKEN = "777000:BENCH-token-abcdefghijklmnopqrstuvwxyz0123"
OURS = "bot (python main.py run), survey link"
PEER = "aiogram examples/finite_state_machine.py"
ANSWER = "sva:"  # SurveyAnswer's prefix (bot/ui/callbacks.py)


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


async def survey_form(token: str, steps: int, c: Chat, form: int) -> None:
    """/start <token>, then a button per question; the last answer must be the thanks."""
    api, chat = c.api, c.chat
    answer = await c.step(lambda: api.push_message(chat, f"/start {token}"))
    for _ in range(steps):
        options = [b for b in buttons(answer) if b.startswith(ANSWER)]
        if not options:
            c.tally.errors += 1
            c.tally.note(f"no answer button in: {text_of(answer)[:100]!r}")
            raise StepFailed
        choice = random.choice(options)
        answer = await c.step(functools.partial(api.push_callback, chat, choice))
    if any(b.startswith(ANSWER) for b in buttons(answer)):
        c.tally.errors += 1
        c.tally.note(f"a question after the last one: {text_of(answer)[:100]!r}")
        raise StepFailed


async def prepare_ours(workdir: Path) -> tuple[dict[str, str], str, int, Path]:
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
    return env, token, steps, db


def check_database(db: Path, steps: int) -> dict[str, Any]:
    with sqlite3.connect(db) as connection:
        (responses,) = connection.execute("SELECT responses FROM surveys").fetchone()
        (counted,) = connection.execute("SELECT sum(count) FROM survey_counts").fetchone()
        (fsm,) = connection.execute("SELECT count(*) FROM fsm_records").fetchone()
        (people,) = connection.execute("SELECT count(*) FROM users").fetchone()
    return {
        "responses_stored": responses,
        "counters_sum": counted,
        "counters_expected": responses * steps,
        "fsm_rows_left": fsm,
        "user_rows": people,
    }


async def session(
    ours: bool, users: int, arrive_s: float, latency_ms: float, workdir: Path, seed: int
) -> dict[str, Any]:
    """One bot process and its users; latency, CPU per update and (ours) the database."""
    api = BenchAPI(TOKEN, latency_ms)
    await api.start()
    steps = 4
    db: Path | None = None
    form: Callable[[Chat, int], Awaitable[None]] = example_form
    process: Process
    if ours:
        env, token, steps, db = await prepare_ours(workdir)
        form = functools.partial(survey_form, token, steps)
        process = spawn(
            [PYTHON, str(ROOT / "main.py"), "run"],
            env | {"TELEGRAM_API_URL": api.url},
            workdir,
            workdir / "bot.log",
        )
    else:
        process = start_process(EXAMPLE, api, None, workdir, workdir / "example.log")
    try:
        await asyncio.wait_for(api.polling.wait(), 60)
        await asyncio.sleep(1.0)  # start-up work (commands menu, scheduler) settles
        rng = random.Random(seed)
        arrivals = [rng.uniform(0, arrive_s) for _ in range(users)]
        random.seed(seed)
        tallies = [Tally() for _ in range(users)]

        async def nothing() -> None:
            return None

        async def user(index: int) -> None:
            await asyncio.sleep(arrivals[index])
            await run_user(api, 9_000_000 + index, form, 1, tallies[index], nothing, 60.0)

        cpu = process.cpu()
        started = time.monotonic()
        await asyncio.gather(*(user(i) for i in range(users)))
        seconds = time.monotonic() - started
        cpu = process.cpu() - cpu
        exited = process.popen.poll()
    finally:
        process.stop()
        await api.stop()
    latencies = [ms for t in tallies for ms in t.latencies] or [float("nan")]
    updates = sum(t.pushed for t in tallies)
    result: dict[str, Any] = {
        "bot": OURS if ours else PEER,
        "users": users,
        "arrive_s": arrive_s,
        "latency_ms": latency_ms,
        "updates_per_user": steps + 1 if ours else 4,
        "done": sum(t.forms_done for t in tallies),
        "updates": updates,
        "seconds": round(seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_update": round(cpu / max(updates, 1) * 1000, 2),
        "errors": sum(t.errors for t in tallies),
        "unanswered": sum(t.unanswered for t in tallies),
        "samples": [s for t in tallies for s in t.samples][:10],
        "exited": exited,
        "load_average_after": machine()["load_average"],
    }
    if db is not None:
        result |= check_database(db, steps)
    return result


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['bot']:42} {r['done']}/{r['users']} done, {r['updates']} updates in "
        f"{r['seconds']} s, step p50 {r['p50_ms']} / p95 {r['p95_ms']} / max {r['max_ms']} ms, "
        f"CPU {r['cpu_ms_per_update']} ms/update, {r['errors']} errors, "
        f"{r['unanswered']} unanswered, load after {r['load_average_after']}"
        + (
            f"; stored {r['responses_stored']} responses, {r['counters_sum']}/"
            f"{r['counters_expected']} counts, {r['fsm_rows_left']} form rows, "
            f"{r['user_rows']} user rows"
            if "responses_stored" in r
            else ""
        )
    )


async def main_async(
    users: int, arrive_s: float, latency_ms: float, rounds: int
) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-surveys-") as tmp:
        for round_ in range(rounds):
            for ours in (False, True) if round_ % 2 else (True, False):
                workdir = Path(tmp) / f"{round_}-{'bot' if ours else 'example'}"
                workdir.mkdir()
                result = await session(ours, users, arrive_s, latency_ms, workdir, 7 + round_)
                result["round"] = round_
                runs.append(result)
                print(_line(result), flush=True)
    summary = {}
    for bot in (OURS, PEER):
        mine = [r for r in runs if r["bot"] == bot]
        summary[bot] = {
            key: median([r[key] for r in mine])
            for key in ("p50_ms", "p95_ms", "max_ms", "cpu_ms_per_update")
        }
    ratio = summary[OURS]["cpu_ms_per_update"] / summary[PEER]["cpu_ms_per_update"]
    return {
        "users": users,
        "arrive_s": arrive_s,
        "latency_ms": latency_ms,
        "rounds": rounds,
        "runs": runs,
        "summary": summary,
        "cpu_ratio": round(ratio, 2),
    }


def report(payload: dict[str, Any]) -> str:
    rows = [
        [
            r["round"],
            "bot" if r["bot"] == OURS else "example",
            f"{r['done']}/{r['users']}",
            r["updates"],
            f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['max_ms']:.0f}",
            f"{r['cpu_ms_per_update']:.2f}",
            f"{r['errors']} / {r['unanswered']}",
            ", ".join(f"{v:g}" for v in r["load_average_after"]),
        ]
        for r in payload["runs"]
    ]
    headers = [
        "round",
        "bot",
        "done",
        "updates",
        "step p50 / p95 / max, ms",
        "CPU ms/update",
        "errors / unanswered",
        "load after",
    ]
    return "\n".join(
        [
            table(headers, rows),
            "",
            f"CPU per update, bot ÷ example (medians of {payload['rounds']} rounds): "
            f"{payload['cpu_ratio']:.2f}×",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--arrive-s", type=float, default=300.0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=2, help="each bot once per round")
    args = parser.parse_args()
    print(describe_machine(machine()), flush=True)
    payload = asyncio.run(main_async(args.users, args.arrive_s, args.latency_ms, args.rounds))
    path = save("surveys", payload)
    print(report(payload))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
