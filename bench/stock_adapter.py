"""Run another benchmark with SQLAlchemy's stock aiosqlite adapter instead of our driver
(bot/db/sqlite_driver.py).

    .venv/bin/python -m bench.stock_adapter bench.form_steps --rounds 2

For A/B runs of the driver change in the same hour (BENCHMARKS.md, sections 1 and 2). Only
benchmarks that run the bot in this process (form_steps, status) are affected; export and e2e
start child processes, which use the bot's own driver.
"""

from __future__ import annotations

import runpy
import sqlite3
import sys

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

import bot.db.sqlite_driver


def main() -> None:
    bot.db.sqlite_driver.dbapi = lambda **_: AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)  # type: ignore[assignment]
    module, *argv = sys.argv[1:]
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__")


if __name__ == "__main__":
    main()
