"""Benchmark 5: start-up time and idle memory of `python main.py run`.

Start-up: from spawning the process to its first getUpdates at a Bot-API-compatible server on
loopback (tests/fake_bot_api.py), i.e. ready to receive messages; on a database already at the
latest migration, and on an empty file (the first start, which creates the schema). Idle: RSS and
USS (psutil) after 6 s without updates, and the CPU used over the last 5 of them. aiogram's
examples/finite_state_machine.py, started the same way (bench/fsm_example.py), is measured in the
same run for scale.

    .venv/bin/python -m bench.footprint            # 5 starts of each
    .venv/bin/python -m bench.footprint --full     # 10 starts of each
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    ROOT,
    USERS,
    clean_env,
    copy_dataset,
    describe_machine,
    machine,
    median,
    save,
    sqlite_url,
    table,
)
from bench.e2e import EXAMPLE, TOKEN, example_path, spawn
from bench.telegram_stub import BenchAPI

IDLE_SECONDS = 5.0


async def one_start(kind: str, workdir: Path) -> dict[str, Any]:
    api = BenchAPI(TOKEN)
    await api.start()
    env = clean_env(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api.url)
    if kind == "example":
        command = [PYTHON, "-m", "bench.fsm_example", str(example_path())]
    else:
        db = workdir / "bot.sqlite3"
        if kind == "bot":
            copy_dataset(USERS, db)
        env |= {"DATABASE_URL": sqlite_url(db), "ADMIN_IDS": "1"}
        command = [PYTHON, str(ROOT / "main.py"), "run"]
    process = spawn(command, env, workdir, workdir / f"{kind}.log")
    try:
        await asyncio.wait_for(api.polling.wait(), 120)
        ready = time.monotonic() - process.started
        await asyncio.sleep(1.0)  # start-up work (commands menu, first scheduler run) settles
        cpu = process.cpu()
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = (process.cpu() - cpu) / IDLE_SECONDS
        memory = process.ps.memory_full_info()
        return {
            "kind": kind,
            "ready_s": round(ready, 3),
            "idle_cpu_percent": round(idle_cpu * 100, 2),
            "idle_rss_mb": round(memory.rss / 2**20, 1),
            "idle_uss_mb": round(memory.uss / 2**20, 1),
            "threads": process.ps.num_threads(),
        }
    finally:
        process.stop()
        await api.stop()
        _remove(workdir, "bot.sqlite3*")


def _remove(workdir: Path, pattern: str) -> None:
    for path in workdir.glob(pattern):
        path.unlink()


LABELS = {
    "bot": "bot, database up to date",
    "bot-first-start": "bot, first start (empty database: migrations)",
    "example": EXAMPLE.name,
}


async def run(starts: int) -> dict[str, Any]:
    example_path()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        for index in range(starts):
            for kind in ("bot", "bot-first-start", "example"):
                workdir = Path(tmp) / f"{index}-{kind}"
                workdir.mkdir()
                result = await one_start(kind, workdir)
                results.append(result)
                print(
                    f"{LABELS[kind]:48} ready in {result['ready_s']:.2f} s, idle RSS "
                    f"{result['idle_rss_mb']:.0f} MB, USS {result['idle_uss_mb']:.0f} MB",
                    flush=True,
                )
    summary = {
        kind: {
            "ready_s_median": round(
                median([r["ready_s"] for r in results if r["kind"] == kind]), 2
            ),
            "ready_s_max": round(max(r["ready_s"] for r in results if r["kind"] == kind), 2),
            "idle_rss_mb_median": round(
                median([r["idle_rss_mb"] for r in results if r["kind"] == kind]), 1
            ),
            "idle_uss_mb_median": round(
                median([r["idle_uss_mb"] for r in results if r["kind"] == kind]), 1
            ),
            "idle_cpu_percent_median": round(
                median([r["idle_cpu_percent"] for r in results if r["kind"] == kind]), 2
            ),
        }
        for kind in LABELS
    }
    return {"starts": starts, "idle_seconds": IDLE_SECONDS, "runs": results, "summary": summary}


def report(payload: dict[str, Any]) -> str:
    return table(
        [
            "process",
            "ready (first getUpdates), s: median / max",
            "idle RSS, MB",
            "idle USS, MB",
            "idle CPU, % of a core",
        ],
        [
            [
                LABELS[kind],
                f"{s['ready_s_median']:.2f} / {s['ready_s_max']:.2f}",
                f"{s['idle_rss_mb_median']:.0f}",
                f"{s['idle_uss_mb_median']:.0f}",
                f"{s['idle_cpu_percent_median']:.1f}",
            ]
            for kind, s in payload["summary"].items()
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="10 starts of each (default 5)")
    args = parser.parse_args(argv)
    info = machine()
    print(describe_machine(info), flush=True)
    payload = asyncio.run(run(10 if args.full else 5))
    path = save("footprint" + ("_full" if args.full else ""), payload)
    print(report(payload))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
