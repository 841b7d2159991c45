"""ExportRun bookkeeping for posts that must go out exactly once per (kind, chat, period).

The row with its unique key is the record. Every transition is one conditional UPDATE whose
WHERE names the state it starts from, so of two processes only one can make it (the other's
UPDATE matches no row: on PostgreSQL it waits for the first to commit and re-checks, on SQLite
the write lock serialises them):

    pending / failed and due / running with an expired lease --claim--> running (lease)
    running, ours --begin_send--> running with ``last_error = SENDING`` (written *before* the
        request: if nobody overwrites it, the sender stopped without learning the outcome)
    running, ours --record_attempt_error--> running (the marker replaced by the error)
    running, ours --record_failure--> failed, retried from ``next_attempt_at``
    any --record_sent--> done
    running with SENDING and an expired lease --settle_interrupted--> failed, never retried

Nothing here commits: the caller commits after each step, before waiting on the network.
Leases compare the callers' clocks; processes on different hosts need synchronised clocks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import ExportRun, School, User
from models.enums import JobStatus, Role
from models.users import visible_schools_query

WEEKLY: Final = "weekly"
MAX_ERROR_CHARS: Final = 500
SENDING: Final = "sending: no outcome recorded yet (if this stays, the sender stopped meanwhile)"
UNKNOWN_OUTCOME: Final = (
    "the sender stopped while sending: the document may or may not have been posted; "
    "not resent automatically, to avoid a second post (check the chat)"
)
RETRY_DELAY: Final = timedelta(minutes=5)
MAX_RETRY_DELAY: Final = timedelta(hours=1)


class RunKey(NamedTuple):
    kind: str
    chat_id: int
    start: date
    end: date


def region_schools_query() -> Select[School]:
    """The schools a region-wide municipal coordinator sees: what the coordination group gets."""
    return visible_schools_query(User(role=Role.MUNICIPAL, municipality_id=None))


def retry_delay(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed runs: 5 min, doubling, at most 1 h."""
    return min(MAX_RETRY_DELAY, RETRY_DELAY * (1 << max(0, attempts - 1)))


def _is(key: RunKey) -> ColumnElement[bool]:
    return and_(
        ExportRun.kind == key.kind,
        ExportRun.chat_id == key.chat_id,
        ExportRun.period_start == key.start,
        ExportRun.period_end == key.end,
    )


def _ours(run_id: int, owner: str) -> ColumnElement[bool]:
    return and_(
        ExportRun.id == run_id,
        ExportRun.status == JobStatus.RUNNING,
        ExportRun.lease_owner == owner,
    )


def _error_text(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


async def _update(session: AsyncSession, where: ColumnElement[bool], **values: Any) -> int:
    result = await session.execute(
        update(ExportRun)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get_run(session: AsyncSession, key: RunKey) -> ExportRun | None:
    return await session.scalar(
        select(ExportRun).where(_is(key)).execution_options(populate_existing=True)
    )


async def ensure_run(session: AsyncSession, key: RunKey) -> None:
    """The pending row of this period, unless it exists; concurrent callers insert one."""
    insert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(ExportRun)
        .values(
            kind=key.kind,
            chat_id=key.chat_id,
            period_start=key.start,
            period_end=key.end,
            status=JobStatus.PENDING,
            attempts=0,
        )
        .on_conflict_do_nothing(
            index_elements=[
                ExportRun.kind,
                ExportRun.chat_id,
                ExportRun.period_start,
                ExportRun.period_end,
            ]
        )
    )


async def settle_interrupted(session: AsyncSession, key: RunKey, *, now: datetime) -> bool:
    """A sender that stopped mid-send (lease expired, marker still there): failed for good.

    Whether Telegram posted the document is unknown; sending again could post it twice, which
    the contract forbids, so the run waits for a person (see UNKNOWN_OUTCOME).
    """
    settled = await _update(
        session,
        and_(
            _is(key),
            ExportRun.status == JobStatus.RUNNING,
            ExportRun.lease_until < now,
            ExportRun.last_error == SENDING,
        ),
        status=JobStatus.FAILED,
        last_error=UNKNOWN_OUTCOME,
        next_attempt_at=None,
        lease_until=None,
    )
    return settled == 1


async def claim_run(
    session: AsyncSession, key: RunKey, *, owner: str, now: datetime, lease: timedelta
) -> ExportRun | None:
    """Take the run if nobody holds it and it is due; None if it is done, held or not due."""
    claimable = or_(
        ExportRun.status == JobStatus.PENDING,
        and_(ExportRun.status == JobStatus.FAILED, ExportRun.next_attempt_at <= now),
        and_(
            ExportRun.status == JobStatus.RUNNING,
            ExportRun.lease_until < now,
            ExportRun.last_error.is_distinct_from(SENDING),
        ),
    )
    claimed = await _update(
        session,
        and_(_is(key), claimable),
        status=JobStatus.RUNNING,
        lease_owner=owner,
        lease_until=now + lease,
        attempts=ExportRun.attempts + 1,
        next_attempt_at=None,
    )
    return await get_run(session, key) if claimed == 1 else None


async def renew_lease(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Extend our lease; False if another process has taken the run over."""
    return await _update(session, _ours(run_id, owner), lease_until=now + lease) == 1


async def begin_send(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Right before the request: still ours? Then mark the send as started (see SENDING)."""
    return (
        await _update(session, _ours(run_id, owner), lease_until=now + lease, last_error=SENDING)
        == 1
    )


async def record_sent(
    session: AsyncSession, run_id: int, *, message_id: int, now: datetime
) -> None:
    """Done, whatever happened to the lease meanwhile: the document is in the chat.

    Unconditional on purpose. Only the holder of the lease at begin_send can have sent, and a
    run that was settled as interrupted meanwhile is better corrected than left failed.
    """
    await _update(
        session,
        ExportRun.id == run_id,
        status=JobStatus.DONE,
        message_id=message_id,
        finished_at=now,
        last_error=None,
        lease_until=None,
        next_attempt_at=None,
    )


async def record_attempt_error(
    session: AsyncSession,
    run_id: int,
    *,
    owner: str,
    error: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    """A send failed and will be tried again in this run: the known outcome replaces SENDING."""
    return (
        await _update(
            session, _ours(run_id, owner), last_error=_error_text(error), lease_until=now + lease
        )
        == 1
    )


async def record_failure(
    session: AsyncSession,
    run_id: int,
    *,
    owner: str,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """This run gave up; another run takes it from ``retry_at`` (None: only a person can)."""
    return (
        await _update(
            session,
            _ours(run_id, owner),
            status=JobStatus.FAILED,
            last_error=_error_text(error),
            next_attempt_at=retry_at,
            lease_until=None,
        )
        == 1
    )
