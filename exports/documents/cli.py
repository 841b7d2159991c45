"""``python main.py document KIND --from DATE --to DATE [--school ID ...] --out FILE``.

The work behind the command, given a session factory (main.py makes a read-only engine, as for
``export``): the arguments checked before the database is touched, the schools looked up, the file
written beside its target and renamed when complete. Imported by main.py's parser: only argparse
and the document kinds at import time, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from exports.documents.kinds import DocumentKind

KIND_HELP = {
    DocumentKind.SCHOOL: "«Отчёт об участии школы в проекте»",
    DocumentKind.ACTIVITIES: "«Отчёт о проведённых мероприятиях»",
    DocumentKind.MUNICIPAL: "«Отчёт муниципалитета»",
    DocumentKind.NOTE: "«Аналитическая справка»",
}


def add_parser(commands: Any) -> None:
    """The ``document`` subcommand on main.py's subparsers."""
    kinds = "; ".join(f"{kind.value}: {title}" for kind, title in KIND_HELP.items())
    parser = commands.add_parser(
        "document",
        help="write a document (.docx) for a period: school report, activities report, "
        "municipal report or analytic note (no Telegram needed)",
        description=f"Documents: {kinds}.",
    )
    parser.add_argument("kind", choices=[kind.value for kind in DocumentKind])
    parser.add_argument(
        "--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD or DD.MM.YYYY"
    )
    parser.add_argument("--to", dest="end", metavar="DATE", help="last day")
    parser.add_argument(
        "--school", type=int, action="append", default=[], help="school id (repeat; default: all)"
    )
    parser.add_argument("--out", metavar="FILE", help="the .docx to write (default: a dated name)")


@dataclass(frozen=True)
class DocumentArgs:
    kind: DocumentKind
    start: date
    end: date
    schools: tuple[int, ...]
    out: Path
    today: date

    @classmethod
    def parse(cls, args: argparse.Namespace, today: date) -> DocumentArgs:
        """Checked arguments; ValueError with a one-line reason otherwise."""
        from exports.documents.build import document_filename
        from exports.schedule import PeriodError, check_period, parse_date

        if args.start is None or args.end is None:
            raise ValueError("give the period: --from DATE --to DATE")
        try:
            start, end = check_period(parse_date(args.start), parse_date(args.end), max_days=None)
        except PeriodError as error:
            if error.code == "order":
                raise ValueError(f"--from is after --to ({error.value})") from None
            raise ValueError(
                f"not a date: {error.value!r} (expected YYYY-MM-DD or DD.MM.YYYY)"
            ) from None
        kind = DocumentKind(args.kind)
        out = Path(args.out or document_filename(kind, start, end))
        return cls(kind, start, end, tuple(args.school), out, today)


async def write_document(
    session_factory: Any,
    request: DocumentArgs,
    *,
    tz: ZoneInfo,
    survey_min_responses: int,
) -> int:
    """Write the document; prints what was written (or why not) and returns the exit code.

    ``survey_min_responses``: the bot's setting, from which survey figures are shown."""
    from sqlalchemy import select

    from exports.documents.build import build_document
    from models import School
    from models.export_runs import region_schools_query

    # Written beside the target and renamed when complete: no half-written file remains.
    partial = request.out.with_name(f".{request.out.name}.{os.getpid()}.part")
    try:
        async with session_factory() as session:
            schools: Any = region_schools_query()
            if request.schools:
                found = set(
                    await session.scalars(select(School.id).where(School.id.in_(request.schools)))
                )
                missing = sorted(set(request.schools) - found)
                if missing:
                    listed = ", ".join(map(str, missing))
                    print(f"not written: no school with id {listed}", file=sys.stderr)
                    return 1
                schools = sorted(found)
            # Opened first, so an unwritable path fails before the work, not after.
            with partial.open("wb") as handle:
                document = await build_document(
                    session,
                    request.kind,
                    schools=schools,
                    start=request.start,
                    end=request.end,
                    today=request.today,
                    tz=tz,
                    survey_min_responses=survey_min_responses,
                )
                if not document.schools:
                    print("not written: no schools to report on", file=sys.stderr)
                    return 1
                handle.write(document.data)
        partial.replace(request.out)
    except OSError as error:
        print(f"not written: cannot write {request.out}: {error.strerror}", file=sys.stderr)
        return 1
    finally:
        partial.unlink(missing_ok=True)
    rows = f", {document.rows} table rows" if document.rows else ""
    print(f"{request.out}: {document.title}, {document.schools} schools{rows}")
    return 0
