"""A synthetic but realistic region for trying the bot and for the benchmarks in bench/.

``python main.py demo --schools N --reports M`` calls ``generate``. The shapes follow the domain:
municipalities of about ``SCHOOLS_PER_MUNICIPALITY`` schools, curators of about
``SCHOOLS_PER_CURATOR`` schools each, a school coordinator and teachers per school, about ten
roadmap items per school with free-text deadlines (parsed the way an import parses them),
reports of the last year with marks, review states and evidence links, and completed
self-diagnosis / risk-profile runs whose stored result is scored by the real questionnaires, so
the export and /status read exactly what the bot itself would have written.

Rows go in with Core ``INSERT`` executemany, ``CHUNK`` rows per transaction, through the engine
it is given (the bot's own, so SQLite and PostgreSQL alike). Ids are assigned here, which makes
the data reproducible: the same seed and ``today`` give the same rows.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from models import diagnostics
from models.base import Base
from models.diagnostic_runs import result_json, sync_builtin_questionnaires
from models.duedates import parse_due, school_year_of
from models.entities import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    Municipality,
    Questionnaire,
    RoadmapItem,
    School,
    User,
    curator_schools,
)
from models.enums import Direction, EvidenceKind, Mark, Project, ReviewState, Role, RunStatus

SCHOOLS_PER_MUNICIPALITY = 300
SCHOOLS_PER_CURATOR = 20
TEACHERS_PER_SCHOOL = 2
CHUNK = 10_000
# Demo users get Telegram ids far from real ones' usual range, derived from their row id.
TELEGRAM_ID_BASE = 9_000_000_000
HISTORY_DAYS = 365
# Scored result templates per questionnaire; runs pick one, so 40,000 runs cost 2 * 256 scores.
RESULT_POOL = 256

_CITIES = (
    "Дальнереченский",
    "Кузнецкий",
    "Артёмовский",
    "Уссурийский",
    "Находкинский",
    "Арсеньевский",
    "Спасский",
    "Лесозаводский",
    "Партизанский",
    "Надеждинский",
    "Хасанский",
    "Пожарский",
    "Кировский",
    "Ханкайский",
    "Черниговский",
    "Михайловский",
    "Октябрьский",
    "Пограничный",
    "Яковлевский",
    "Анучинский",
)
_SCHOOL_KINDS = (("СОШ", 70), ("Гимназия", 10), ("Лицей", 8), ("ООШ", 12))
_ACTIVITIES = (
    "Урок цифры в 5–9 классах",
    "Методический семинар «Формирующее оценивание»",
    "Классный час «Герои России»",
    "Родительское собрание по профориентации",
    "Диагностика учебной мотивации обучающихся 7-х классов",
    "Курсы повышения квалификации учителей математики",
    "Открытые уроки молодых педагогов",
    "Школьный этап всероссийской олимпиады школьников",
    "День здоровья: эстафеты для 1–4 классов",
    "Работа школьного театра: постановка спектакля",
    "Экскурсия на предприятие в рамках «Билета в будущее»",
    "Заседание школьного спортивного клуба",
    "Мониторинг адаптации пятиклассников",
    "Взаимопосещение уроков по плану ВШК",
    "Профилактическая беседа о буллинге с приглашением психолога",
    "Обновление оснащения кабинета физики",
    "Конкурс проектов «Моя малая родина»",
    "Совет профилактики по итогам четверти",
    "Наставничество: пары «педагог — молодой специалист»",
    "Встреча с представителями колледжей и вузов",
)
_DUE_PATTERNS = (
    ("до {d}", 45),
    ("{d}", 15),
    ("{d0} - {d}", 12),
    ("В течение учебного года", 10),
    ("Ежеквартально", 6),
    ("По отдельному графику", 6),
    ("Ежемесячно", 6),
)
_CATEGORIES = (
    "обучающихся 5-х классов",
    "обучающихся 1–4 классов",
    "педагогов",
    "родителей",
    "обучающихся 8–11 классов",
    "членов школьной команды",
)
_COMMENTS = (
    "Нет ссылки на фотоотчёт, добавьте, пожалуйста.",
    "Уточните количество участников.",
    "Мероприятие не соответствует пункту дорожной карты.",
)
_MARKS = ((Mark.DONE, 60), (Mark.PARTIAL, 25), (Mark.NOT_DONE, 15))


class DemoError(Exception):
    """The database is not in a state the generator may write to."""


@dataclass(frozen=True)
class DemoSummary:
    municipalities: int
    schools: int
    users: int
    items: int
    reports: int
    evidence: int
    runs: int


@dataclass
class _Layout:
    """Where each school's rows are, so reports can point at the school's own items and staff."""

    school_ids: list[int] = field(default_factory=list)
    short_names: list[str] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    curator_of: list[int] = field(default_factory=list)
    staff_first: list[int] = field(default_factory=list)
    items_first: list[int] = field(default_factory=list)
    items_count: list[int] = field(default_factory=list)
    item_direction: dict[int, str | None] = field(default_factory=dict)
    item_title: dict[int, str] = field(default_factory=dict)


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _chunks(rows: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randrange(6, 19), rng.randrange(60)), tzinfo=UTC)


class _Writer:
    """Chunked Core inserts, one transaction per chunk; counts rows per table."""

    def __init__(self, engine: AsyncEngine, progress: Callable[[str, int], None] | None) -> None:
        self.engine = engine
        self.progress = progress
        self.counts: dict[str, int] = {}

    async def insert(self, table: Table, rows: Iterable[dict[str, Any]]) -> int:
        total = 0
        for chunk in _chunks(rows):
            async with self.engine.begin() as conn:
                await conn.execute(table.insert(), chunk)
            total += len(chunk)
            if self.progress is not None:
                self.progress(table.name, self.counts.get(table.name, 0) + total)
        self.counts[table.name] = self.counts.get(table.name, 0) + total
        return total


def _table(model: type[Base]) -> Table:
    # Declarative mapping types __table__ as any FromClause; ours are all plain tables.
    return cast(Table, model.__table__)


async def _next_id(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


async def _questionnaires(engine: AsyncEngine) -> dict[str, tuple[int, diagnostics.Questionnaire]]:
    """The built-in questionnaires stored (as the bot stores them on first use), by kind."""
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session, session.begin():
        await sync_builtin_questionnaires(session)
        rows = (
            await session.scalars(select(Questionnaire).where(Questionnaire.is_active.is_(True)))
        ).all()
    builtin = diagnostics.builtin_questionnaires()
    found: dict[str, tuple[int, diagnostics.Questionnaire]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        definition = builtin.get(row.code)
        if definition is not None and definition.version == row.version:
            found.setdefault(row.kind, (row.id, definition))
    return found


def _random_answer(rng: random.Random, question: diagnostics.Question, good: float) -> Any:
    if question.allow_unknown and rng.random() < 0.03:
        return diagnostics.UNKNOWN
    if question.kind == "text":
        return "—"
    if question.kind == "number":
        edges = [b.min for b in question.bands if b.min is not None]
        edges += [b.max for b in question.bands if b.max is not None]
        low, high = (min(edges), max(edges)) if edges else (0.0, 100.0)
        return round(rng.uniform(low, high + (high - low) * 0.1), 1)
    # A school's overall strength skews every answer, so levels spread from «ниже базового» up.
    count = len(question.options)
    best = max(range(count), key=lambda i: question.options[i].points)
    return best if rng.random() < good else rng.randrange(count)


def _result_pool(
    rng: random.Random, questionnaire: diagnostics.Questionnaire
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(profile, result JSON) pairs scored by the real scoring code from random answers."""
    pool = []
    for _ in range(RESULT_POOL):
        levels = rng.choice([("НОО", "ООО", "СОО"), ("НОО", "ООО"), ("ООО", "СОО"), ("НОО",)])
        profile = diagnostics.Profile(frozenset(levels), ovz=rng.random() < 0.4)
        good = rng.uniform(0.2, 0.95)
        answers = {
            q.code: _random_answer(rng, q, good) for q in questionnaire.questions_for(profile)
        }
        result = diagnostics.score(questionnaire, profile, answers)
        pool.append((profile.to_dict(), result_json(questionnaire, result)))
    return pool


def _due(rng: random.Random, today: date, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pattern = _weighted(rng, _DUE_PATTERNS)
    end = today + timedelta(days=rng.randrange(-300, 200))
    start = end - timedelta(days=rng.randrange(7, 40))
    raw = pattern.format(d=f"{end:%d.%m.%Y}", d0=f"{start:%d.%m.%Y}")
    key = f"{raw}|{school_year_of(today)}"
    if key not in cache:
        due = parse_due(raw, school_year=school_year_of(today))
        cache[key] = {
            "due_raw": raw,
            "due_kind": due.kind.value,
            "due_start": due.start,
            "due_date": due.end,
            "recurrence": due.recurrence,
        }
    return cache[key]


async def database_has_schools(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(select(func.count()).select_from(School)))


async def generate(
    engine: AsyncEngine,
    *,
    schools: int,
    reports: int,
    runs: int | None = None,
    seed: int = 1,
    today: date | None = None,
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> DemoSummary:
    """Fill a migrated database; ``runs`` defaults to one completed diagnostic run per school.

    Refuses (DemoError) a database that already has schools unless ``force``; then the demo
    rows are added after the existing ones.
    """
    if schools < 1 or reports < 0 or (runs is not None and runs < 0):
        raise DemoError("schools must be at least 1; reports and runs not negative")
    if not force and await database_has_schools(engine):
        raise DemoError("the database already has schools (--force adds the demo anyway)")
    today = today or datetime.now(UTC).date()
    runs = schools if runs is None else runs
    rng = random.Random(seed)
    now = datetime.combine(today, time(12), tzinfo=UTC)
    writer = _Writer(engine, progress)
    questionnaires = await _questionnaires(engine)
    layout = _Layout()

    # --- municipalities and schools ---------------------------------------------------------
    municipality_count = -(-schools // SCHOOLS_PER_MUNICIPALITY)
    first_municipality = await _next_id(engine, _table(Municipality))
    municipality_ids = list(range(first_municipality, first_municipality + municipality_count))

    def municipality_rows() -> Iterator[dict[str, Any]]:
        for mid in municipality_ids:
            city = _CITIES[mid % len(_CITIES)]
            lap = mid // len(_CITIES)
            name = f"{city} муниципальный округ" + (f" {lap + 1}" if lap else "")
            yield {"id": mid, "name": name, "created_at": now, "updated_at": now}

    await writer.insert(_table(Municipality), municipality_rows())

    first_school = await _next_id(engine, _table(School))
    school_municipality: list[int] = []
    for index in range(schools):
        layout.school_ids.append(first_school + index)
        school_municipality.append(municipality_ids[index // SCHOOLS_PER_MUNICIPALITY])

    def school_rows() -> Iterator[dict[str, Any]]:
        for index, school_id in enumerate(layout.school_ids):
            kind = _weighted(rng, _SCHOOL_KINDS)
            number = index % SCHOOLS_PER_MUNICIPALITY + 1
            short = f"{kind} №{number}"
            project = _weighted(rng, ((Project.MSH, 70), (Project.P500, 20), (Project.BOTH, 10)))
            layout.short_names.append(short)
            layout.projects.append(project)
            yield {
                "id": school_id,
                "municipality_id": school_municipality[index],
                "name": f"МБОУ «{short}»",
                "short_name": short,
                "project": project,
                "levels": rng.choice(["НОО,ООО,СОО", "НОО,ООО", "ООО,СОО", None]),
                "has_ovz": rng.choice([True, False, None]),
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }

    await writer.insert(_table(School), school_rows())

    # --- people: per school a coordinator and teachers; curators; municipal coordinators ----
    first_user = await _next_id(engine, _table(User))
    per_school = 1 + TEACHERS_PER_SCHOOL
    curator_count = -(-schools // SCHOOLS_PER_CURATOR)
    curator_first = first_user + schools * per_school
    municipal_first = curator_first + curator_count

    def user_rows() -> Iterator[dict[str, Any]]:
        user_id = first_user
        for index, school_id in enumerate(layout.school_ids):
            layout.staff_first.append(user_id)
            for position in range(per_school):
                role = Role.COORDINATOR if position == 0 else Role.TEACHER
                yield _user(user_id, role, f"Педагог {index + 1}-{position + 1}", school_id)
                user_id += 1
        for index in range(curator_count):
            municipality = school_municipality[min(index * SCHOOLS_PER_CURATOR, schools - 1)]
            yield _user(
                curator_first + index, Role.CURATOR, f"Куратор {index + 1}", None, municipality
            )
        for index, municipality in enumerate(municipality_ids):
            yield _user(
                municipal_first + index, Role.MUNICIPAL, f"МК {index + 1}", None, municipality
            )

    def _user(
        user_id: int, role: Role, name: str, school_id: int | None, municipality: int | None = None
    ) -> dict[str, Any]:
        return {
            "id": user_id,
            "telegram_id": TELEGRAM_ID_BASE + user_id,
            "full_name": name,
            "username": None,
            "role": role,
            "locale": None,
            "school_id": school_id,
            "municipality_id": municipality,
            "is_active": True,
            "reminders_muted": False,
            "created_at": now,
            "updated_at": now,
        }

    await writer.insert(_table(User), user_rows())
    layout.curator_of = [curator_first + i // SCHOOLS_PER_CURATOR for i in range(schools)]
    await writer.insert(
        curator_schools,
        (
            {"user_id": layout.curator_of[i], "school_id": school_id}
            for i, school_id in enumerate(layout.school_ids)
        ),
    )

    # --- roadmaps ---------------------------------------------------------------------------
    first_item = await _next_id(engine, _table(RoadmapItem))
    due_cache: dict[str, dict[str, Any]] = {}

    def item_rows() -> Iterator[dict[str, Any]]:
        item_id = first_item
        for school_id in layout.school_ids:
            count = rng.randint(6, 14)
            layout.items_first.append(item_id)
            layout.items_count.append(count)
            for position in range(1, count + 1):
                title = rng.choice(_ACTIVITIES)
                direction = rng.choice([*Direction, None]) if rng.random() < 0.9 else None
                direction = direction.value if direction is not None else None
                layout.item_direction[item_id] = direction
                layout.item_title[item_id] = title
                yield {
                    "id": item_id,
                    "school_id": school_id,
                    "position": position,
                    "section": None,
                    "number": str(position),
                    "title": title,
                    "direction": direction,
                    "expected_result": "Проведено, размещено на сайте школы",
                    "responsible": "Заместитель директора по УВР",
                    "external_help": None,
                    **_due(rng, today, due_cache),
                    "source_row": position + 1,
                    "is_archived": False,
                    "created_at": now,
                    "updated_at": now,
                }
                item_id += 1

    await writer.insert(_table(RoadmapItem), item_rows())

    # --- reports and their evidence ---------------------------------------------------------
    # Activity differs a lot between schools, and some schools have been silent for weeks.
    weights = [0.0 if rng.random() < 0.03 else rng.lognormvariate(0, 0.8) for _ in range(schools)]
    cumulative = list(itertools.accumulate(weights))
    first_report = await _next_id(engine, _table(ActivityReport))
    first_evidence = await _next_id(engine, _table(Evidence))
    evidence_rows: list[dict[str, Any]] = []
    evidence_id = first_evidence
    evidence_total = 0

    def report_row(report_id: int) -> dict[str, Any]:
        nonlocal evidence_id
        index = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), schools - 1)
        school_id = layout.school_ids[index]
        age = int(rng.triangular(0, HISTORY_DAYS, 0))
        held_on = today - timedelta(days=age)
        if rng.random() < 0.8:
            item_id: int | None = layout.items_first[index] + rng.randrange(
                layout.items_count[index]
            )
            title = layout.item_title[item_id]  # type: ignore[index]
            direction = layout.item_direction[item_id]  # type: ignore[index]
        else:
            item_id, title = None, rng.choice(_ACTIVITIES)
            direction = rng.choice(list(Direction)).value
        # Older reports have mostly been reviewed; the last weeks' mostly wait for the curator.
        reviewed = rng.random() < min(0.95, 0.2 + age / 60)
        state = (
            (ReviewState.RETURNED if rng.random() < 0.1 else ReviewState.CONFIRMED)
            if reviewed
            else ReviewState.SUBMITTED
        )
        submitted = min(_at(held_on, rng) + timedelta(hours=rng.randrange(1, 72)), now)
        count = rng.choice([None, rng.randrange(5, 300)])
        row = {
            "id": report_id,
            "school_id": school_id,
            "author_id": layout.staff_first[index] + rng.randrange(1 + TEACHERS_PER_SCHOOL),
            "roadmap_item_id": item_id,
            "direction": direction,
            "title": title,
            "held_on": held_on,
            "mark": _weighted(rng, _MARKS),
            "description": f"Провели: {title.lower()}. Подробности на сайте школы.",
            "participants_count": count,
            "participants_category": rng.choice(_CATEGORIES) if count else None,
            "organizer": layout.short_names[index],
            "review_state": state,
            "reviewer_id": layout.curator_of[index] if reviewed else None,
            "review_comment": rng.choice(_COMMENTS) if state == ReviewState.RETURNED else None,
            "reviewed_at": (
                min(submitted + timedelta(days=rng.randrange(1, 10)), now) if reviewed else None
            ),
            "submitted_at": submitted,
            # Unique like the bot's uuid4 hex, also when --force adds a second demo.
            "draft_key": f"{report_id:012d}{rng.getrandbits(80):020x}",
            "created_at": submitted,
            "updated_at": submitted,
        }
        links = rng.choices((0, 1, 2), weights=(15, 70, 15))[0]
        for number in range(links):
            url = (
                f"https://school{school_id}.edu.ru/news/{report_id}-{number}"
                if number == 0
                else f"https://vk.com/wall-{school_id}_{report_id}"
            )
            evidence_rows.append(_evidence(evidence_id, report_id, url, None, submitted))
            evidence_id += 1
        if rng.random() < 0.1:
            evidence_rows.append(
                _evidence(evidence_id, report_id, None, "протокол.pdf", submitted)
            )
            evidence_id += 1
        return row

    def _evidence(
        eid: int, report_id: int, url: str | None, name: str | None, at: datetime
    ) -> dict[str, Any]:
        return {
            "id": eid,
            "report_id": report_id,
            "kind": EvidenceKind.LINK if url else EvidenceKind.DOCUMENT,
            "url": url,
            "file_id": None if url else f"demo-file-{eid}",
            "file_unique_id": None if url else f"demo-u-{eid}",
            "file_name": name,
            "file_size": None if url else 150_000,
            "mime_type": None if url else "application/pdf",
            "too_big": False,
            "created_at": at,
        }

    report_ids = range(first_report, first_report + reports)
    for start in range(0, reports, CHUNK):
        chunk = [report_row(rid) for rid in report_ids[start : start + CHUNK]]
        await writer.insert(_table(ActivityReport), chunk)
        evidence_total += await writer.insert(_table(Evidence), evidence_rows)
        evidence_rows.clear()

    # --- self-diagnosis and risk profiles ---------------------------------------------------
    pools = {kind: (qid, _result_pool(rng, q)) for kind, (qid, q) in questionnaires.items()}
    first_run = await _next_id(engine, _table(DiagnosticRun))

    def run_rows() -> Iterator[dict[str, Any]]:
        for number in range(runs):
            index = number % schools if number < schools else rng.randrange(schools)
            kind = "risk_profile" if layout.projects[index] == Project.P500 else "levels"
            if kind not in pools:
                kind = next(iter(pools))
            questionnaire_id, pool = pools[kind]
            profile, result = rng.choice(pool)
            completed = min(_at(today - timedelta(days=rng.randrange(HISTORY_DAYS)), rng), now)
            yield {
                "id": first_run + number,
                "school_id": layout.school_ids[index],
                "questionnaire_id": questionnaire_id,
                "started_by_id": layout.staff_first[index],
                "status": RunStatus.COMPLETED,
                "profile": profile,
                "position": 0,
                "completed_at": completed,
                "total_points": result["overall"]["points"],
                "max_points": result["overall"]["max_points"],
                "level": result["overall"]["level"],
                "result": result,
                "created_at": completed - timedelta(hours=1),
                "updated_at": completed,
            }

    if pools:
        await writer.insert(_table(DiagnosticRun), run_rows())
    await _after_explicit_ids(engine)
    counts = writer.counts
    return DemoSummary(
        municipalities=counts.get("municipalities", 0),
        schools=counts.get("schools", 0),
        users=counts.get("users", 0),
        items=counts.get("roadmap_items", 0),
        reports=counts.get("activity_reports", 0),
        evidence=evidence_total,
        runs=counts.get("diagnostic_runs", 0),
    )


async def _after_explicit_ids(engine: AsyncEngine) -> None:
    """PostgreSQL sequences don't see explicit ids: move them past the rows just written."""
    if engine.dialect.name != "postgresql":
        return
    tables = (Municipality, School, User, RoadmapItem, ActivityReport, Evidence, DiagnosticRun)
    async with engine.begin() as conn:
        for model in tables:
            name = model.__tablename__
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"
                )
            )
