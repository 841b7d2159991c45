"""aiogram FSM storage in the bot's own database: drafts survive restarts with no Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import begin_read_only
from models import FsmRecord
from models.base import utcnow

StateType = str | State | None

# The update's own session, set by DbSessionMiddleware. Form state written during a handler goes
# into the handler's transaction: it commits (or rolls back) together with the handler's rows,
# and SQLite never sees two writers inside one update.
current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)

# Records this transaction has read or written, by key (None: no row), in ``session.info``. A
# form step reads its state and data half a dozen times and writes them two or three times;
# within one transaction the answer can only change through this storage, so one SELECT is
# enough and later writes are plain attribute updates flushed together (bench/form_steps.py).
_SEEN = "fsm_records_seen"
_UNSEEN: Any = object()


def _seen(session: AsyncSession, key: str) -> FsmRecord | None:
    entry = session.info.get(_SEEN)
    if entry is None or entry[0] is not session.get_transaction():
        return _UNSEEN
    return entry[1].get(key, _UNSEEN)


def _remember(session: AsyncSession, key: str, record: FsmRecord | None) -> None:
    transaction = session.get_transaction()
    entry = session.info.get(_SEEN)
    if entry is None or entry[0] is not transaction:
        entry = session.info[_SEEN] = (transaction, {})
    entry[1][key] = record


class DatabaseStorage(BaseStorage):
    """One row per FSM key; each call is its own short transaction, independent of handlers."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        key_builder: KeyBuilder | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._key_builder.build(key)

    @asynccontextmanager
    async def _session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        session = current_session.get()
        # A read before the handler has begun its transaction needs no lock of the update's:
        # it runs in a short transaction of its own. Once the handler's transaction is open
        # (it wrote, or read its own rows), reads go through it and see its own writes.
        if session is not None and (write or session.in_transaction()):
            yield session
            return
        if not write:
            # A read-only snapshot: it neither takes nor waits for SQLite's write lock.
            async with self._session_factory() as reader:
                await begin_read_only(reader)
                yield reader
            return
        async with self._session_factory() as own, own.begin():
            yield own

    async def _write(self, key: StorageKey, **values: Any) -> None:
        record_key = self._key(key)
        async with self._session() as session:
            record = _seen(session, record_key)
            if record is not _UNSEEN and record is not None:
                for name, value in values.items():
                    setattr(record, name, value)
                record.updated_at = utcnow()
            else:
                # An upsert, not an INSERT: another process may create the row meanwhile.
                insert: Any = (
                    pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
                )
                stmt = insert(FsmRecord).values(
                    key=record_key, updated_at=utcnow(), **({"state": None, "data": {}} | values)
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[FsmRecord.key], set_={**values, "updated_at": utcnow()}
                    )
                )
                record = await session.get(FsmRecord, record_key, populate_existing=True)
            # Nothing left to remember: drop the row so the table doesn't grow with every user.
            if record is not None and record.state is None and not record.data:
                session.expunge(record)
                await session.execute(delete(FsmRecord).where(FsmRecord.key == record_key))
                record = None
            _remember(session, record_key, record)

    async def _get(self, key: StorageKey) -> FsmRecord | None:
        record_key = self._key(key)
        async with self._session(write=False) as session:
            record = _seen(session, record_key)
            if record is _UNSEEN:
                record = await session.scalar(
                    select(FsmRecord)
                    .where(FsmRecord.key == record_key)
                    .execution_options(populate_existing=True)
                )
                _remember(session, record_key, record)
            return record

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._get(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._get(key)
        return dict(record.data) if record else {}

    async def updated_at(self, key: StorageKey) -> Any:
        record = await self._get(key)
        return record.updated_at if record else None

    async def close(self) -> None:
        """The engine belongs to the application, which disposes of it."""
