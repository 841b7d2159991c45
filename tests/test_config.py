"""Configuration errors stop the program with one line naming the variable, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


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
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "1:abc", "TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"BOT_TOKEN": "1:abc", "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": "1:abc", "DEFAULT_LOCALE": "de"}, "DEFAULT_LOCALE"),
        ({"BOT_TOKEN": "1:abc", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"BOT_TOKEN": "1:abc", "TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL"),
    ],
)
def test_bad_configuration_is_one_clear_line(
    env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    result = run_main("run", env=env, cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_secret_value_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    secret = "12345:" + "s3cr3t" * 8 + "!"  # invalid because of the «!»
    result = run_main("run", env={"BOT_TOKEN": secret}, cwd=tmp_path)
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr + result.stdout


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ADMIN_IDS=7, 8\nTIMEZONE=Asia/Vladivostok\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.admin_ids == (7, 8)
    assert settings.timezone == "Asia/Vladivostok"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_token_is_not_in_settings_repr() -> None:
    settings = load_settings(bot_token="12345:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")
    assert "ABCDEFGHIJ" not in repr(settings) and "ABCDEFGHIJ" not in str(settings.model_dump())


def test_missing_token_only_matters_for_running() -> None:
    settings = load_settings(bot_token=None)
    with pytest.raises(ConfigError, match="BOT_TOKEN"):
        settings.require_token()


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_main("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "db", "school", "invite"):
        assert command in result.stdout


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "bot.sqlite3"
    result = run_main(
        "db", "upgrade", env={"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_cli_bootstraps_a_school_and_an_invite(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}",
        "BOT_USERNAME": "rep_bot",
    }
    assert run_main("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    added = run_main(
        "school",
        "add",
        "--municipality",
        "Дальнереченский ГО",
        "--name",
        "МБОУ «СОШ №2»",
        env=env,
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    school_id = added.stdout.split()[1].rstrip(":")
    invite = run_main(
        "invite", "--role", "coordinator", "--school", school_id, env=env, cwd=tmp_path
    )
    assert invite.returncode == 0, invite.stderr
    assert invite.stdout.startswith("https://t.me/rep_bot?start=")
    bad = run_main("invite", "--role", "teacher", "--school", "999", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "unknown_school" in bad.stderr
