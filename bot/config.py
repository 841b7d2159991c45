"""Settings from the environment and an optional .env file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from exports.schedule import parse_schedule

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'bot.sqlite3'}"
SUPPORTED_LOCALES = ("ru", "en")
_TOKEN_RE = re.compile(r"^\d+:[\w-]+$")
# Served by `python main.py webhook` for load balancers; the webhook path can't take it.
HEALTH_PATH = "/healthz"


def _is_redis_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises on a non-number
    except ValueError:
        return False
    if any(c.isspace() for c in url) or not port_ok:
        return False
    if parts.scheme == "unix":
        return bool(parts.path)
    return (
        parts.scheme in {"redis", "rediss"}
        and bool(parts.hostname)
        and re.fullmatch(r"/?|/\d+", parts.path) is not None
    )


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable, never its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # Bot API calls in flight at once; more wait for a free connection (aiogram's default: 100).
    telegram_connections: int = Field(default=400, ge=1, le=10_000)
    database_url: str = DEFAULT_DATABASE_URL
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    timezone: str = "Europe/Moscow"
    default_locale: str = "ru"
    bot_username: str | None = None
    invite_ttl_days: int = Field(default=7, ge=1, le=365)
    # Per-user flood control: sustained updates per second and burst; 0 turns it off.
    throttle_rate: float = Field(default=4.0, ge=0)
    throttle_burst: int = Field(default=12, ge=1)
    # Anonymous surveys: results of a group are shown only from this many responses on.
    survey_min_responses: int = Field(default=5, ge=2, le=1000)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            if not all(p.isdigit() for p in parts if p):
                raise ValueError("must be comma-separated numeric Telegram user ids")
            return tuple(int(p) for p in parts if p)
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("not a Telegram bot token (expected 123456:ABC…)")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _admins_are_users(self) -> Settings:
        if any(i <= 0 for i in self.admin_ids):
            raise ValueError("ADMIN_IDS: Telegram user ids are positive numbers")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_token(self) -> str:
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN: required to run the bot (see .env.example)")
        return self.bot_token.get_secret_value()

    # Deadline reminders: how many days ahead, and the local hour from which digests go out.
    reminder_days_before: int = Field(default=3, ge=0, le=30)
    reminder_hour: int = Field(default=9, ge=0, le=20)
    # Curators' digest of new reports: at most one message per this many minutes.
    digest_minutes: int = Field(default=60, ge=5, le=24 * 60)

    # The weekly XLSX export: the coordination group's chat (none: no weekly export) and when
    # the previous week is posted, as «mon 09:00» in TIMEZONE.
    export_chat_id: int | None = None
    export_schedule: str = "mon 09:00"

    @field_validator("export_chat_id", mode="before")
    @classmethod
    def _blank_chat_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("export_schedule")
    @classmethod
    def _check_export_schedule(cls, value: str) -> str:
        return str(parse_schedule(value))

    # Scale-out. REDIS_URL gives every process the same lock per user (form state stays in the
    # database either way); REDIS_POOL_SIZE bounds its connections, and a busy pool waits. The
    # webhook settings are for `python main.py webhook`: WEBHOOK_URL is the public base URL
    # Telegram calls (setWebhook only when it is set), WEBHOOK_PATH is appended to it and
    # served on WEBHOOK_HOST:PORT.
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "fsm"
    redis_pool_size: int = Field(default=50, ge=1, le=10_000)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/telegram"

    @field_validator("redis_url", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The URL may carry a password: the message never repeats it.
        if value is not None and not _is_redis_url(value.get_secret_value()):
            raise ValueError("must be redis://host[:port][/db], rediss://… or unix:///path")
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _check_redis_key_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.:-]{1,64}", value):
            raise ValueError("1–64 letters, digits, «_», «-», «.» or «:»")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be the public http(s) base URL, e.g. https://bot.example.ru")
        return value.rstrip("/") if value is not None else None

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token; the message never repeats the value.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("1–256 characters: letters A–Z, a–z, digits, «_» and «-»")
        return value

    @field_validator("webhook_host")
    @classmethod
    def _check_webhook_host(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.:-]+", value.strip("[]")):
            raise ValueError("must be an address to listen on, e.g. 0.0.0.0 or 127.0.0.1")
        return value.strip("[]")

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        if not re.fullmatch(r"/[\w./~-]*", value) or value.rstrip("/") == HEALTH_PATH:
            raise ValueError(f"must be a path such as /telegram (not {HEALTH_PATH})")
        return value

    def require_webhook_secret(self) -> str:
        if self.webhook_secret is None:
            raise ConfigError(
                "WEBHOOK_SECRET: required for webhook mode (1–256 of A–Z, a–z, 0–9, _ and -)"
            )
        return self.webhook_secret.get_secret_value()

    @property
    def webhook_full_url(self) -> str | None:
        """What setWebhook registers: WEBHOOK_URL followed by WEBHOOK_PATH."""
        return None if self.webhook_url is None else self.webhook_url + self.webhook_path

    def log_secrets(self) -> tuple[str, ...]:
        """What the log filter hides: the token, the webhook secret, the Redis password."""
        values = [self.bot_token, self.webhook_secret]
        secrets = tuple(v.get_secret_value() for v in values if v is not None)
        if self.redis_url is not None:
            password = urlsplit(self.redis_url.get_secret_value()).password
            secrets += (password,) if password else ()
        return secrets


def load_settings(**overrides: object) -> Settings:
    """Build settings once; turn pydantic's report into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        message = error["msg"].removeprefix("Value error, ")
        if name.upper() in message:
            raise ConfigError(message) from None
        raise ConfigError(f"{name}: {message}") from None
