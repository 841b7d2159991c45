"""aiogram FSM storage in the bot's own database: drafts survive restarts, with or without Redis.

Inside an update the storage works on the update's unit of work (bot/pipeline/unit_of_work.py): the
unit's first statement already read the record of the update's own key, reads are answered from
it, and writes only change it in memory. The unit writes every changed record with ONE upsert
(or delete, when nothing is left) right before it commits, in the same transaction as the
handler's rows: form state and the rows it describes commit together or not at all.

Outside an update (jobs, tests, the CLI) each call is a short transaction of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey
from sqlalchemy import Delete, Insert, Select, Table, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.pipeline.unit_of_work import current_unit
from models import FsmRecord
from models.base import utcnow

StateType = str | State | None
FSM = cast(Table, FsmRecord.__table__)


@dataclass
class FsmEntry:
    """What a unit of work knows of one FSM key: read once, written once at commit."""

    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False


def key_builder() -> KeyBuilder:
    return DefaultKeyBuilder(with_destiny=True)


def _upsert(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(FSM).values(
        key=bindparam("key"),
        state=bindparam("state"),
        data=bindparam("data", type_=FSM.c.data.type),
        updated_at=bindparam("now", type_=FSM.c.updated_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[FSM.c.key],
        set_={
            "state": stmt.excluded.state,
            "data": stmt.excluded.data,
            "updated_at": stmt.excluded.updated_at,
        },
    )


_UPSERT: dict[str, Insert] = {}
_DELETE: Delete = delete(FSM).where(FSM.c.key == bindparam("key"))
_SELECT: Select[Any] = select(FSM.c.state, FSM.c.data).where(FSM.c.key == bindparam("key"))


async def write_entries(session: AsyncSession, entries: Mapping[str, FsmEntry]) -> None:
    """One statement per changed key: an upsert, or a delete when nothing is left to keep."""
    for key, entry in entries.items():
        if not entry.dirty:
            continue
        if entry.state is None and not entry.data:
            # Nothing left to remember: no row, so the table doesn't grow with every user.
            await session.execute(_DELETE, {"key": key})
        else:
            dialect = session.get_bind().dialect.name
            upsert = _UPSERT.get(dialect)
            if upsert is None:
                upsert = _UPSERT[dialect] = _upsert(dialect)
            params = {"key": key, "state": entry.state, "data": entry.data, "now": utcnow()}
            await session.execute(upsert, params)
        entry.dirty = False


async def read_entry(session: AsyncSession, key: str) -> FsmEntry:
    row = (await session.execute(_SELECT, {"key": key})).first()
    return FsmEntry() if row is None else FsmEntry(row.state, dict(row.data or {}))


class DatabaseStorage(BaseStorage):
    """One row per FSM key, in the update's own transaction (see the module docstring)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        key_builder: KeyBuilder | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    def record_key(self, key: StorageKey) -> str:
        return self._key_builder.build(key)

    async def _entry(self, key: StorageKey) -> FsmEntry | None:
        """The unit's entry for this key (read once), or None outside an update."""
        unit = current_unit.get()
        if unit is None:
            return None
        record_key = self.record_key(key)
        entry = unit.fsm.get(record_key)
        if entry is None:
            entry = unit.fsm[record_key] = await read_entry(unit.session, record_key)
        return entry

    async def _read_alone(self, key: StorageKey) -> FsmEntry:
        async with self._session_factory() as session, session.begin():
            return await read_entry(session, self.record_key(key))

    async def _write_alone(self, key: StorageKey, **values: Any) -> None:
        async with self._session_factory() as session, session.begin():
            record_key = self.record_key(key)
            entry = await read_entry(session, record_key)
            for name, value in values.items():
                setattr(entry, name, value)
            entry.dirty = True
            await write_entries(session, {record_key: entry})

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        entry = await self._entry(key)
        if entry is None:
            await self._write_alone(key, state=value)
            return
        if entry.state != value:
            entry.state, entry.dirty = value, True

    async def get_state(self, key: StorageKey) -> str | None:
        entry = await self._entry(key) or await self._read_alone(key)
        return entry.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        entry = await self._entry(key)
        if entry is None:
            await self._write_alone(key, data=dict(data))
            return
        entry.data, entry.dirty = dict(data), True

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        entry = await self._entry(key) or await self._read_alone(key)
        return dict(entry.data)

    async def close(self) -> None:
        """The engine belongs to the application, which disposes of it."""
