"""Fixtures: a fresh migrated SQLite file per test, the real Dispatcher, a recording bot."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from bot.dispatcher import create_bot, create_dispatcher
from bot.i18n import create_i18n
from models import Municipality, Project, Role, School, User, curator_schools
from tests import pg
from tests.fake_bot_api import FakeBotAPI
from tests.telegram import SESSIONS, TOKEN, RecordingSession, UpdateFactory

ADMIN_ID = 900_001
_databases = itertools.count()


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# With TEST_DATABASE_URL=postgresql+asyncpg://… the suite runs against PostgreSQL instead.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alembic `upgrade head` on a real file once; each test gets its own copy of the result."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(_sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; each test gets `CREATE DATABASE … TEMPLATE` of it."""
    name = f"reports_tpl_{os.getpid()}"
    pg.recreate(TEST_DATABASE_URL, name)
    upgrade(pg.with_database(TEST_DATABASE_URL, name))
    yield name
    pg.drop(TEST_DATABASE_URL, name)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if ON_POSTGRES:
        template = request.getfixturevalue("postgres_template")
        name = f"reports_t_{os.getpid()}_{next(_databases)}"
        pg.recreate(TEST_DATABASE_URL, name, template=template)
        yield pg.with_database(TEST_DATABASE_URL, name)
        pg.drop(TEST_DATABASE_URL, name)
        return
    path = tmp_path / "bot.sqlite3"
    shutil.copyfile(request.getfixturevalue("migrated_template"), path)
    yield _sqlite_url(path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=database_url,
        admin_ids=(ADMIN_ID,),
        timezone="Europe/Moscow",
        default_locale="ru",
        bot_username="school_reports_bot",
        # The suite feeds updates faster than a person; the throttle has tests of its own.
        throttle_rate=0,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def i18n() -> I18n:
    return create_i18n("ru")


@pytest.fixture
def i18n_ru(i18n: I18n) -> Iterator[I18n]:
    """Render expected texts through the same catalogs the bot uses."""
    with i18n.context(), i18n.use_locale("ru"):
        yield i18n


@dataclass
class Harness:
    """Drives the real dispatcher: feed an update, get the Telegram calls it made."""

    dp: Dispatcher
    bot: Bot
    recorder: RecordingSession
    updates: UpdateFactory

    async def feed(self, update: Update) -> list[TelegramMethod[Any]]:
        self.recorder.drain()
        await self.dp.feed_update(self.bot, update)
        return self.recorder.drain()

    async def send(
        self, user: TgUser, text: str | None = None, **extra: Any
    ) -> list[TelegramMethod[Any]]:
        return await self.feed(self.updates.message(user, text, **extra))

    async def click(self, user: TgUser, data: str, **extra: Any) -> list[TelegramMethod[Any]]:
        return await self.feed(self.updates.callback(user, data, **extra))


@pytest.fixture(autouse=True)
def no_transaction_across_telegram() -> Iterator[None]:
    """Fails any test in which a Bot API call went out while the calling task still had a
    database transaction open (on SQLite: a write lock held across a Telegram round trip), or
    a button press was answered twice (CallbackAnswerPolicy answers what handlers didn't), or
    a text went out that Telegram would refuse (HTML it can't parse, or too long)."""
    SESSIONS.clear()
    yield
    violations = [call for session in SESSIONS for call in session.violations]
    doubles = [query for session in SESSIONS for query in session.double_answers]
    html = [problem for session in SESSIONS for problem in session.html_problems]
    SESSIONS.clear()
    assert not violations, f"Bot API calls made inside a database transaction: {violations}"
    assert not doubles, f"button presses answered twice: {doubles}"
    assert not html, f"texts Telegram would refuse: {html}"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The Bot API stand-in over real HTTP (tests that run aiogram's own client)."""
    server = FakeBotAPI(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def recorder() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(settings: Settings, recorder: RecordingSession) -> Bot:
    return create_bot(settings, session=recorder)


@pytest.fixture
def dispatcher(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], i18n: I18n
) -> Dispatcher:
    return create_dispatcher(settings, session_factory, i18n)


@pytest.fixture
def harness(dispatcher: Dispatcher, bot: Bot, recorder: RecordingSession) -> Harness:
    return Harness(dp=dispatcher, bot=bot, recorder=recorder, updates=UpdateFactory())


@dataclass
class World:
    """A small municipality: two schools and one user of every role."""

    municipality: Municipality
    school_a: School
    school_b: School
    teacher: User
    coordinator: User
    curator: User
    municipal: User
    teacher_b: User


TG_IDS = {
    "teacher": 1001,
    "coordinator": 1002,
    "curator": 1003,
    "municipal": 1004,
    "teacher_b": 1005,
}


@pytest.fixture
async def world(session_factory: async_sessionmaker[AsyncSession]) -> World:
    async with session_factory() as session, session.begin():
        municipality = Municipality(name="Дальнереченский городской округ")
        session.add(municipality)
        await session.flush()
        school_a = School(
            municipality_id=municipality.id,
            name="МБОУ «СОШ №2»",
            short_name="СОШ №2",
            project=Project.MSH,
        )
        school_b = School(
            municipality_id=municipality.id,
            name="МБОУ «СОШ №5»",
            short_name="СОШ №5",
            project=Project.P500,
        )
        session.add_all([school_a, school_b])
        await session.flush()
        users = {
            "teacher": User(
                telegram_id=TG_IDS["teacher"],
                full_name="Учитель А",
                role=Role.TEACHER,
                school_id=school_a.id,
            ),
            "coordinator": User(
                telegram_id=TG_IDS["coordinator"],
                full_name="Координатор А",
                role=Role.COORDINATOR,
                school_id=school_a.id,
            ),
            "curator": User(
                telegram_id=TG_IDS["curator"],
                full_name="Куратор",
                role=Role.CURATOR,
                municipality_id=municipality.id,
            ),
            "municipal": User(
                telegram_id=TG_IDS["municipal"],
                full_name="МК",
                role=Role.MUNICIPAL,
                municipality_id=municipality.id,
            ),
            "teacher_b": User(
                telegram_id=TG_IDS["teacher_b"],
                full_name="Учитель Б",
                role=Role.TEACHER,
                school_id=school_b.id,
            ),
        }
        session.add_all(users.values())
        await session.flush()
        await session.execute(
            curator_schools.insert().values(user_id=users["curator"].id, school_id=school_a.id)
        )
    return World(municipality=municipality, school_a=school_a, school_b=school_b, **users)


@pytest.fixture
def tg() -> type[UpdateFactory]:
    return UpdateFactory


def pytest_configure(config: pytest.Config) -> None:
    # A developer's own .env or environment must not leak into the suite.
    for name in ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS", "TELEGRAM_API_URL", "REDIS_URL"):
        os.environ.pop(name, None)
