"""``build_document``: reads the facts through the session it is given (the caller's read-only
one) and renders the file in a worker thread, so a municipality's year holds the event loop only
for its queries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from exports.documents import activities, municipal, note, school_report
from exports.documents.common import Request
from exports.documents.kinds import DocumentKind
from exports.documents.templates import fill, template
from exports.surveys import DEFAULT_MIN_RESPONSES
from models.stats import Schools


class _Module(Protocol):
    NAME: str

    async def collect(self, session: AsyncSession, request: Request) -> Any: ...

    def render_docx(self, data: Any) -> tuple[bytes, int]: ...


_MODULES: Final[dict[DocumentKind, Any]] = {
    DocumentKind.SCHOOL: school_report,
    DocumentKind.ACTIVITIES: activities,
    DocumentKind.MUNICIPAL: municipal,
    DocumentKind.NOTE: note,
}


@dataclass(frozen=True)
class Document:
    data: bytes
    filename: str
    title: str
    schools: int
    rows: int  # table rows (directions, activities, schools and actions); the note has none


def module_for(kind: DocumentKind) -> _Module:
    """The document's module: ``collect`` (the queries) and ``render_docx`` (the file)."""
    module: _Module = _MODULES[kind]
    return module


def document_title(kind: DocumentKind) -> str:
    """The document's Russian name, from its template."""
    return str(template(module_for(kind).NAME)["name"])


def document_filename(kind: DocumentKind, start: date, end: date) -> str:
    spec = template(module_for(kind).NAME)
    return fill(spec["file_name"], {"start": start.isoformat(), "end": end.isoformat()})


async def build_document(
    session: AsyncSession,
    kind: DocumentKind,
    *,
    schools: Schools,
    start: date,
    end: date,
    today: date,
    tz: ZoneInfo,
    now: datetime | None = None,
    survey_min_responses: int = DEFAULT_MIN_RESPONSES,
) -> Document:
    """Read the facts of ``schools`` for the period, then write the .docx in a thread.

    Survey figures are shown from ``survey_min_responses`` answers on: pass the bot's setting.
    """
    module = module_for(kind)
    request = Request(
        schools=schools,
        start=start,
        end=end,
        today=today,
        tz=tz,
        now=now or datetime.now(UTC),
        survey_min_responses=survey_min_responses,
    )
    data = await module.collect(session, request)
    content, rows = await asyncio.to_thread(module.render_docx, data)
    return Document(
        data=content,
        filename=document_filename(kind, start, end),
        title=document_title(kind),
        schools=len(data.schools),
        rows=rows,
    )
