"""Command line: run the bot, migrate the database, bootstrap schools and invites."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bot.config import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    from exports.documents.cli import add_parser as add_document_parser

    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Field-reporting bot for schools, curators and municipal coordinators.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="apply pending migrations, then start long polling")
    commands.add_parser(
        "webhook",
        help="apply pending migrations, then serve updates over HTTP (WEBHOOK_* settings); "
        "run several behind a load balancer",
    )

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply all pending migrations")

    school = commands.add_parser("school", help="register and list schools")
    school_commands = school.add_subparsers(dest="school_command", required=True, metavar="ACTION")
    add = school_commands.add_parser("add", help="register a school")
    add.add_argument("--municipality", required=True, help="municipality name (created if new)")
    add.add_argument("--name", required=True, help="full name of the school")
    add.add_argument("--short-name", help="short name shown in lists")
    add.add_argument("--project", choices=["msh", "500plus", "both"], default="msh")
    school_commands.add_parser("list", help="list registered schools")

    invite = commands.add_parser("invite", help="create an invite link and print it")
    invite.add_argument(
        "--role", required=True, choices=["teacher", "coordinator", "curator", "municipal"]
    )
    invite.add_argument(
        "--school", type=int, action="append", default=[], help="school id (repeat for curators)"
    )
    invite.add_argument("--municipality", help="municipality name, for a municipal coordinator")
    invite.add_argument("--uses", type=int, help="how many people may use the link")
    invite.add_argument("--days", type=int, help="days until the link expires")
    invite.add_argument(
        "--bot-username",
        help="bot username for the link (default: BOT_USERNAME "
        "or asked from Telegram with BOT_TOKEN)",
    )

    backup = commands.add_parser(
        "backup", help="consistent copy of the SQLite database, also while the bot runs"
    )
    backup.add_argument("file", help="where to write the copy")

    roadmap = commands.add_parser("roadmap", help="school roadmaps")
    roadmap_commands = roadmap.add_subparsers(
        dest="roadmap_command", required=True, metavar="ACTION"
    )
    roadmap_import = roadmap_commands.add_parser(
        "import",
        help="import a roadmap (XLSX, XLS, ODS, DOCX or CSV) into a school (again: update it)",
    )
    roadmap_import.add_argument("--school", type=int, required=True, help="school id")
    roadmap_import.add_argument(
        "--dry-run", action="store_true", help="show what would change and change nothing"
    )
    roadmap_import.add_argument("file", help="the roadmap file (.xlsx, .xls, .ods, .docx or .csv)")

    export = commands.add_parser(
        "export", help="write the XLSX export of a period to a file (no Telegram needed)"
    )
    export.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first day, YYYY-MM-DD or DD.MM.YYYY (default: Monday of the last full week)",
    )
    export.add_argument(
        "--to", dest="end", metavar="DATE", help="last day (default: Sunday of that week)"
    )
    export.add_argument("--out", metavar="FILE", help="the .xlsx to write (default: a dated name)")
    export.add_argument(
        "--school", type=int, action="append", default=[], help="school id (repeat; default: all)"
    )

    add_document_parser(commands)

    demo = commands.add_parser(
        "demo", help="fill the database with a synthetic region to try the bot (and for bench/)"
    )
    demo.add_argument("--schools", type=int, default=300, help="how many schools (default 300)")
    demo.add_argument("--reports", type=int, default=9_000, help="activity reports (default 9000)")
    demo.add_argument(
        "--runs", type=int, help="completed self-diagnosis runs (default: one per school)"
    )
    demo.add_argument("--seed", type=int, default=1, help="the same seed gives the same data")
    demo.add_argument(
        "--force", action="store_true", help="add to a database that already has schools"
    )

    i18n = commands.add_parser("i18n", help="translations")
    i18n_commands = i18n.add_subparsers(dest="i18n_command", required=True, metavar="ACTION")
    i18n_commands.add_parser("compile", help="compile locales/*/LC_MESSAGES/messages.po")
    return parser


def _fail(message: str) -> int:
    print(f"configuration error: {message}", file=sys.stderr)
    return 2


class DatabaseUnavailable(Exception):
    """The database could not even be opened; the message says why in one line."""


def _database_errors() -> tuple[type[BaseException], ...]:
    # Imported late, like everything else here, so `--help` and config errors stay fast.
    import sqlite3

    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, sqlite3.Error, CommandError, DatabaseUnavailable)


def _database_failed(error: BaseException, database_url: str) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    # The driver's own words ("file is not a database"), not SQLAlchemy's statement dump.
    reason = str(error.orig if isinstance(error, DBAPIError) else error)
    reason = " ".join(reason.split("\n", 1)[0].split()) or type(error).__name__
    where = make_url(database_url).render_as_string(hide_password=True)
    print(f"database error: {reason} ({where})", file=sys.stderr)
    return 1


def migrate(settings: Settings) -> None:
    """Pending migrations first, as `run` does: every command works on a fresh database."""
    from bot.db.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except OSError as error:  # no directory for the SQLite file, or no server to connect to
        reason = error.strerror or str(error)
        if error.filename:
            reason = f"{reason}: {error.filename}"
        raise DatabaseUnavailable(reason) from error


def cmd_run(settings: Settings) -> int:
    from bot.app import run_polling
    from bot.logging_setup import setup_logging

    settings.require_token()
    setup_logging(secrets=settings.log_secrets())
    # Until polling installs its own handlers, SIGTERM should stop us as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    migrate(settings)
    try:
        asyncio.run(run_polling(settings))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_webhook(settings: Settings) -> int:
    from bot.logging_setup import setup_logging
    from bot.webhook import run_webhook

    settings.require_token()
    settings.require_webhook_secret()
    setup_logging(secrets=settings.log_secrets())
    # Until the server installs its own handlers, SIGTERM should stop us as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    migrate(settings)
    try:
        asyncio.run(run_webhook(settings))
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_db_upgrade(settings: Settings) -> int:
    from bot.logging_setup import setup_logging

    setup_logging()
    migrate(settings)
    print("database is up to date")
    return 0


def cmd_school(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings)
    if args.school_command == "add":
        return asyncio.run(_school_add(settings, args))
    return asyncio.run(_school_list(settings))


async def _school_add(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db.engine import create_engine, create_session_factory
    from models import Project
    from models.errors import InvalidInput
    from models.users import add_school, get_or_create_municipality

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            municipality = await get_or_create_municipality(session, args.municipality)
            try:
                school = await add_school(
                    session,
                    municipality_id=municipality.id,
                    name=args.name,
                    short_name=args.short_name,
                    project=Project(args.project),
                )
            except InvalidInput as error:
                print(f"not added: {error.code} {error.params}", file=sys.stderr)
                return 1
            print(f"school {school.id}: {school.name} ({municipality.name})")
            return 0
    finally:
        await engine.dispose()


async def _school_list(settings: Settings) -> int:
    from sqlalchemy import select

    from bot.db.engine import create_engine, create_session_factory
    from models import Municipality, School

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.execute(
                select(School.id, School.short_name, School.name, Municipality.name)
                .join(Municipality)
                .order_by(Municipality.name, School.id)
            )
            for school_id, short, name, municipality in rows:
                print(f"{school_id}\t{short}\t{name}\t{municipality}")
        return 0
    finally:
        await engine.dispose()


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    if not (args.bot_username or settings.bot_username) and settings.bot_token is None:
        return _fail("BOT_USERNAME: needed for the link (or pass --bot-username, or BOT_TOKEN)")
    migrate(settings)
    return asyncio.run(_invite(settings, args))


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db.engine import create_engine, create_session_factory
    from models import Role
    from models.errors import InvalidInput
    from models.invites import create_invite, invite_link
    from models.users import get_or_create_municipality

    username = args.bot_username or settings.bot_username
    if not username:
        from bot.dispatcher import create_bot

        bot = create_bot(settings)
        try:
            username = (await bot.me()).username
        finally:
            await bot.session.close()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            municipality_id = None
            if args.municipality:
                municipality_id = (await get_or_create_municipality(session, args.municipality)).id
            try:
                created = await create_invite(
                    session,
                    role=Role(args.role),
                    school_ids=args.school,
                    municipality_id=municipality_id,
                    ttl=timedelta(days=args.days or settings.invite_ttl_days),
                    max_uses=args.uses,
                )
            except InvalidInput as error:
                print(f"not created: {error.code} {error.params}", file=sys.stderr)
                return 1
            expires = created.invite.expires_at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
            print(invite_link(username or "", created.token))
            print(
                f"role {args.role}, uses {created.invite.max_uses}, expires {expires}",
                file=sys.stderr,
            )
            return 0
    finally:
        await engine.dispose()


def cmd_backup(settings: Settings, file: str) -> int:
    from pathlib import Path

    from bot.db.backup import BackupError, backup_sqlite

    try:
        pages = backup_sqlite(settings.database_url, Path(file))
    except BackupError as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    print(f"backup written to {file} ({pages} pages)")
    return 0


def cmd_roadmap_import(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from handlers.roadmap import MAX_FILE_BYTES, MAX_ROWS
    from models.roadmap_import import RoadmapImportError, parse_roadmap

    path = Path(args.file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            print(f"not imported: too_large (at most {MAX_FILE_BYTES} bytes)", file=sys.stderr)
            return 1
        data = path.read_bytes()
    except OSError as error:
        print(f"not imported: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 1
    try:
        parsed = parse_roadmap(data, path.name, max_bytes=MAX_FILE_BYTES, max_rows=MAX_ROWS)
    except RoadmapImportError as error:
        print(f"not imported: {error.code} {error.params}", file=sys.stderr)
        return 1
    print(
        f"{path.name}: {len(parsed.items)} activities in {len(parsed.sections)} sections; "
        f"deadline not recognised: {parsed.unparsed_due_count}"
    )
    migrate(settings)
    return asyncio.run(_roadmap_import(settings, args, parsed.items, path.name))


async def _roadmap_import(
    settings: Settings, args: argparse.Namespace, items: Sequence[Any], name: str
) -> int:
    from bot.db.engine import create_engine, create_session_factory
    from models.errors import NotFound
    from models.roadmaps import apply_import, plan_import
    from models.users import get_school

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            try:
                school = await get_school(session, args.school)
            except NotFound:
                print(f"not imported: no school with id {args.school}", file=sys.stderr)
                return 1
            if args.dry_run:
                plan = await plan_import(session, school.id, items)
                verb = "would import"
            else:
                plan = await apply_import(
                    session, school.id, items, actor_id=None, source=f"cli:{name}"
                )
                verb = "imported"
            print(
                f"school {school.id} ({school.short_name}): {verb}: created {plan.created}, "
                f"updated {plan.updated + plan.restored}, unchanged {plan.unchanged}, "
                f"archived {plan.archived}"
            )
            return 0
    finally:
        await engine.dispose()


# The CLI reports progress every this many rows (the export calls back every thousand).
EXPORT_PROGRESS_ROWS = 5_000


def cmd_export(settings: Settings, args: argparse.Namespace, today: date | None = None) -> int:
    from pathlib import Path

    from exports.schedule import PeriodError, check_period, format_period, parse_date
    from exports.xlsx import export_filename, last_full_week

    today = today or datetime.now(settings.tz).date()
    if (args.start is None) != (args.end is None):
        print(
            "export: give both --from and --to, or neither for the last full week", file=sys.stderr
        )
        return 2
    try:
        if args.start is None:
            start, end = last_full_week(today)
        else:
            start, end = check_period(parse_date(args.start), parse_date(args.end), max_days=None)
    except PeriodError as error:
        problem = (
            f"--from is after --to ({error.value})"
            if error.code == "order"
            else f"not a date: {error.value!r} (expected YYYY-MM-DD or DD.MM.YYYY)"
        )
        print(f"export: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out or export_filename(start, end))
    migrate(settings)
    print(f"exporting {format_period(start, end)} to {out}", file=sys.stderr)
    return asyncio.run(_export(settings, args.school, start, end, out, today))


def _export_progress(rows: int) -> None:
    if rows and rows % EXPORT_PROGRESS_ROWS == 0:
        print(f"… {rows} rows", file=sys.stderr)


async def _export(
    settings: Settings, school_ids: list[int], start: date, end: date, out: Any, today: date
) -> int:
    import os

    from sqlalchemy import select

    from bot.db.engine import create_engine, create_session_factory
    from exports.xlsx import build_export
    from models import School
    from models.export_runs import region_schools_query

    # A read-only engine: on SQLite a minutes-long export never blocks the running bot.
    engine = create_engine(settings.database_url, read_only=True)
    # Written beside the target and renamed when complete: no half-written workbook remains.
    partial = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        async with create_session_factory(engine)() as session:
            schools: Any = region_schools_query()
            if school_ids:
                found = set(
                    await session.scalars(select(School.id).where(School.id.in_(school_ids)))
                )
                missing = sorted(set(school_ids) - found)
                if missing:
                    listed = ", ".join(map(str, missing))
                    print(f"not exported: no school with id {listed}", file=sys.stderr)
                    return 1
                schools = sorted(found)
            # Opened first, so an unwritable path fails before minutes of work, not after.
            with partial.open("wb") as handle:
                summary = await build_export(
                    session,
                    schools=schools,
                    start=start,
                    end=end,
                    tz=settings.tz,
                    out=handle,
                    progress=_export_progress,
                    today=today,
                    min_responses=settings.survey_min_responses,
                )
        partial.replace(out)
    except OSError as error:
        print(f"not exported: cannot write {out}: {error.strerror}", file=sys.stderr)
        return 1
    finally:
        partial.unlink(missing_ok=True)
        await engine.dispose()
    print(f"{out}: {summary.schools} schools, {summary.reports} reports")
    return 0


def cmd_document(settings: Settings, args: argparse.Namespace, today: date | None = None) -> int:
    """A document of issue 20 to a file; exports/documents/cli.py does the work."""
    from bot.db.engine import create_engine, create_session_factory
    from exports.documents.cli import DocumentArgs, write_document

    try:
        request = DocumentArgs.parse(args, today or datetime.now(settings.tz).date())
    except ValueError as error:
        print(f"document: {error}", file=sys.stderr)
        return 2
    migrate(settings)

    async def write() -> int:
        # A read-only engine, as for `export`: a long document never blocks the running bot.
        engine = create_engine(settings.database_url, read_only=True)
        try:
            return await write_document(
                create_session_factory(engine),
                request,
                tz=settings.tz,
                survey_min_responses=settings.survey_min_responses,
            )
        finally:
            await engine.dispose()

    return asyncio.run(write())


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings)
    return asyncio.run(_demo(settings, args))


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db.demo import DemoError, generate
    from bot.db.engine import create_engine

    reported: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        if rows - reported.get(table, 0) >= 100_000:
            reported[table] = rows
            print(f"… {table}: {rows} rows", file=sys.stderr)

    engine = create_engine(settings.database_url)
    try:
        summary = await generate(
            engine,
            schools=args.schools,
            reports=args.reports,
            runs=args.runs,
            seed=args.seed,
            force=args.force,
            progress=progress,
        )
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(
        f"demo data: {summary.municipalities} municipalities, {summary.schools} schools, "
        f"{summary.users} users, {summary.items} roadmap items, {summary.reports} reports, "
        f"{summary.evidence} pieces of evidence, {summary.runs} self-diagnosis runs"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "i18n":
        from bot.i18n import compile_catalogs

        for path in compile_catalogs():
            print(f"compiled {path}")
        return 0
    try:
        settings = load_settings()
        if args.command == "run":
            return cmd_run(settings)
        if args.command == "webhook":
            return cmd_webhook(settings)
        if args.command == "db":
            return cmd_db_upgrade(settings)
        logging.basicConfig(level=logging.WARNING)
        if args.command == "school":
            return cmd_school(settings, args)
        if args.command == "invite":
            return cmd_invite(settings, args)
        if args.command == "roadmap":
            return cmd_roadmap_import(settings, args)
        if args.command == "export":
            return cmd_export(settings, args)
        if args.command == "document":
            return cmd_document(settings, args)
        if args.command == "backup":
            return cmd_backup(settings, args.file)
        if args.command == "demo":
            return cmd_demo(settings, args)
    except ConfigError as error:
        return _fail(str(error))
    except _database_errors() as error:
        return _database_failed(error, settings.database_url)
    return 1


if __name__ == "__main__":
    sys.exit(main())
