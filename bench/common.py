"""Shared pieces of the benchmarks: data sets, statistics, the machine, results on disk."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
SEED = 1


@dataclass(frozen=True)
class DataSet:
    """A demo database made once by `python main.py demo` and reused by every benchmark."""

    name: str
    schools: int
    reports: int

    @property
    def path(self) -> Path:
        return DATA / f"{self.name}-{self.schools}s-{self.reports}r-seed{SEED}.sqlite3"

    @property
    def url(self) -> str:
        return sqlite_url(self.path)


SMALL = DataSet("small", 2_000, 60_000)
# The national scale: 40,000 schools, 1.2 million reports, one diagnostic run per school.
FULL = DataSet("full", 40_000, 1_200_000)
# Enough registered staff (a coordinator and two teachers per school) for 200 simulated users.
USERS = DataSet("users", 100, 3_000)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def ensure_dataset(data: DataSet) -> Path:
    """Generate the database with the project's own command unless it is already there."""
    if data.path.exists():
        return data.path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = data.path.with_name(data.path.name + ".part")
    for leftover in DATA.glob(partial.name + "*"):
        leftover.unlink()
    print(
        f"generating {data.path.name} ({data.schools} schools, {data.reports} reports)…",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [
            PYTHON,
            str(ROOT / "main.py"),
            "demo",
            "--schools",
            str(data.schools),
            "--reports",
            str(data.reports),
            "--seed",
            str(SEED),
        ],
        env=clean_env(DATABASE_URL=sqlite_url(partial)),
        cwd=ROOT,
        check=True,
    )
    # Fold the WAL into the file so a copy of the one file is the whole database.
    with sqlite3.connect(partial) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    partial.replace(data.path)
    for leftover in DATA.glob(partial.name + "*"):
        leftover.unlink()
    print(f"… done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return data.path


def copy_dataset(data: DataSet, target: Path) -> Path:
    """A private copy to write into, so every run starts from the same rows."""
    shutil.copyfile(ensure_dataset(data), target)
    return target


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no developer .env values leak into a benchmark."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env | extra


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of the measured values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    versions = {}
    for package in ("aiogram", "SQLAlchemy", "aiosqlite", "openpyxl", "pandas", "aiohttp"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # a missing optional package is simply not listed
            continue
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory']}, Linux {info['kernel']}, "
        f"Python {info['python']}, SQLite {info['sqlite']}, load {info['load_average']}"
    )


def save(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json with the machine attached; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"machine": machine(), **payload}, ensure_ascii=False, indent=2, default=str)
    )
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, as pasted into BENCHMARKS.md."""
    cells = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
