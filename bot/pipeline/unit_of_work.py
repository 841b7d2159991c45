"""One update, one short transaction, committed before the bot says anything to Telegram.

How an update is handled (the middlewares are wired in bot/dispatcher.py, in this order):

1. ``UserLockMiddleware`` takes the user's lock: one update per user at a time (in this process,
   or across processes with Redis, bot/pipeline/locks.py).
2. ``UnitOfWorkMiddleware`` opens the update's session and, in ONE statement, reads the user,
   the form state of the update's FSM key and whether this ``update_id`` was handled already.
   A redelivered update (a replay after a crash, a webhook retry, polling's inbox) that was
   handled is dropped here: exactly once in effect.
3. The handler runs. Its queries and writes, and every change of form state (kept in memory by
   bot/db/storage.py), belong to the unit's transaction.
4. ``UnitOfWork.commit`` is the one place that commits. It runs right before the first Bot API
   call of the update (``CommitBeforeRequest``, a request middleware of the bot's session) and
   once more after the handler: form state is written, the update is marked handled, commit.
   So no transaction — on SQLite, no write lock — is ever open while the bot waits for
   Telegram; what the bot tells the user was saved is committed before it is told.

Writes a handler makes after its first reply go into a second short transaction that the unit
commits at the end: today only the id of a form message sent after a typed answer (known once
Telegram returns it; the next step takes that message's buttons away). The handled mark goes
with the first commit that wrote anything, so everything written before the first reply happens
exactly once; writes after it happen at most once (a crash in between loses them, never repeats
them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TgUser
from sqlalchemy import Insert, Table, bindparam, event, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from models import FsmRecord, TelegramUpdate, User
from models.base import utcnow

if TYPE_CHECKING:
    from aiogram.fsm.middleware import FSMContextMiddleware

    from bot.db.storage import DatabaseStorage, FsmEntry

logger = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Set by the per-user lock while it is held; a lock lost meanwhile stops the commit.
current_guard: ContextVar[LockGuard | None] = ContextVar("current_guard", default=None)
current_unit: ContextVar[UnitOfWork | None] = ContextVar("current_unit", default=None)

_WROTE = "unit_of_work_wrote"
# Set in the update's middleware data when the update was handled before (a redelivery).
REDELIVERED = "redelivered_update"
UPDATES = cast(Table, TelegramUpdate.__table__)
FSM = cast(Table, FsmRecord.__table__)


class LockLost(RuntimeError):
    """The user's lock expired while the update was handled: another process may own it now."""


class DuplicateUpdate(RuntimeError):
    """Another process marked this update handled first."""


@dataclass
class LockGuard:
    """Whether the lock an update runs under is still held (renewals can fail)."""

    lost: bool = False


def _mark_handled_statement(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(UPDATES).values(
        update_id=bindparam("update_id"),
        received_at=bindparam("now", type_=UPDATES.c.received_at.type),
        handled_at=bindparam("now", type_=UPDATES.c.handled_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[UPDATES.c.update_id],
        set_={"handled_at": stmt.excluded.handled_at, "payload": None},
        where=UPDATES.c.handled_at.is_(None),
    )


_MARK: dict[str, Insert] = {}


def _first_statement() -> Any:
    """The user, the form state of one key and the update's handled mark, in one round trip."""
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(User, FSM.c.key, FSM.c.state, FSM.c.data, UPDATES.c.handled_at)
        .select_from(one)
        .outerjoin(User, User.telegram_id == bindparam("telegram_id"))
        .outerjoin(FSM, FSM.c.key == bindparam("fsm_key"))
        .outerjoin(UPDATES, UPDATES.c.update_id == bindparam("update_id"))
    )


_FIRST = _first_statement()


@event.listens_for(Session, "do_orm_execute")
def _note_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@dataclass
class UnitOfWork:
    """The database side of one update: its session, form state and handled mark."""

    session: AsyncSession
    update_id: int | None
    storage: DatabaseStorage | None = None
    guard: LockGuard | None = None
    fsm: dict[str, FsmEntry] = field(default_factory=dict)
    marked: bool = False

    task: asyncio.Task[Any] | None = field(default_factory=asyncio.current_task)

    @property
    def wrote(self) -> bool:
        session = self.session
        return (
            bool(session.info.get(_WROTE))
            or any(e.dirty for e in self.fsm.values())
            or bool(session.new or session.deleted or session.dirty)
        )

    async def load(self, telegram_id: int | None, fsm_key: str | None) -> tuple[User | None, bool]:
        """Read the user and the key's form state; True when the update was handled before."""
        from bot.db.storage import FsmEntry

        row = (
            await self.session.execute(
                _FIRST,
                {
                    "telegram_id": telegram_id if telegram_id is not None else -1,
                    "fsm_key": fsm_key or "",
                    "update_id": self.update_id if self.update_id is not None else -1,
                },
            )
        ).one()
        if fsm_key is not None:
            self.fsm[fsm_key] = (
                FsmEntry(row.state, dict(row.data or {})) if row.key is not None else FsmEntry()
            )
        return row.User, row.handled_at is not None

    async def commit(self) -> None:
        """Write the form state and the handled mark, then commit; nothing open, nothing done."""
        session = self.session
        if not self.wrote:
            if session.in_transaction():
                # Only reads: end the snapshot (and on SQLite, the lock) before waiting on I/O.
                await session.commit()
            return
        if self.guard is not None and self.guard.lost:
            raise LockLost("the user's lock expired before the update could commit")
        if self.fsm:
            from bot.db.storage import write_entries

            await write_entries(session, self.fsm)
        if not self.marked and self.update_id is not None:
            dialect = session.get_bind().dialect.name
            mark = _MARK.get(dialect)
            if mark is None:
                mark = _MARK[dialect] = _mark_handled_statement(dialect)
            result = await session.execute(mark, {"update_id": self.update_id, "now": utcnow()})
            if getattr(result, "rowcount", 1) == 0:
                raise DuplicateUpdate(f"update {self.update_id} was handled elsewhere")
        await session.commit()
        session.info.pop(_WROTE, None)
        self.marked = True


async def commit_current_unit() -> None:
    """Commit the running update's work now: before a slow download, rendering or send."""
    unit = current_unit.get()
    if unit is not None:
        await unit.commit()


class CommitBeforeRequest(BaseRequestMiddleware):
    """Every Bot API call of an update first commits what the update did so far."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        unit = current_unit.get()
        # Only from the update's own task: a background task it started (a chat action
        # every few seconds) must not touch its session concurrently.
        if (
            unit is not None
            and unit.task is asyncio.current_task()
            and not isinstance(method, GetUpdates)
        ):
            await unit.commit()
        return await make_request(bot, method)


class UnitOfWorkMiddleware(BaseMiddleware):
    """Outer update middleware: the unit of work around the rest of the update's handling."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        fsm: FSMContextMiddleware,
        storage: DatabaseStorage | None,
    ) -> None:
        self.session_factory = session_factory
        self.fsm = fsm
        self.storage = storage

    def _fsm_key(self, data: dict[str, Any]) -> str | None:
        if self.storage is None:
            return None
        context = self.fsm.resolve_event_context(data["bot"], data)
        return None if context is None else self.storage.record_key(context.key)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = event.update_id if isinstance(event, Update) else None
        tg_user: TgUser | None = data.get("event_from_user")
        telegram_id = tg_user.id if tg_user is not None and not tg_user.is_bot else None
        async with self.session_factory() as session:
            unit = UnitOfWork(session, update_id, self.storage, current_guard.get())
            token = current_unit.set(unit)
            try:
                user, handled = await unit.load(telegram_id, self._fsm_key(data))
                if handled:
                    logger.info("update %s was handled before: skipped", update_id)
                    await session.rollback()
                    data[REDELIVERED] = True  # nothing to say, not even a press's answer
                    return None
                data["session"] = session
                data["unit"] = unit
                data["user"] = user if user is not None and user.is_active else None
                try:
                    result = await handler(event, data)
                except TelegramAPIError:
                    # Only a reply failed: what the user gave is kept (and was committed before
                    # the call). The error router then tells the user the answer didn't arrive.
                    await unit.commit()
                    raise
                await unit.commit()
                return result
            except DuplicateUpdate:
                logger.info("update %s was handled elsewhere: rolled back", update_id)
                await session.rollback()
                data[REDELIVERED] = True
                return None
            except BaseException:
                await session.rollback()
                raise
            finally:
                current_unit.reset(token)
