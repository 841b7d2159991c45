"""What the export's four sheets hold: their columns, our labels, the queries, the rows.

Every sheet but «Сводка» (one row per school) is read through a server-side cursor in batches
of ``YIELD_PER`` and handed to the sheet writer a row at a time: what is kept is one report or
roadmap item at a time.

* Schools are named by their short name on every sheet, so one autofilter value fits all four.
* «Ссылки на материалы» lists a report's links and files one per line (files as «файл: name»);
  the first http(s) link gets a cell of its own, made a hyperlink. Other schemes, over-long
  addresses and links past Excel's per-sheet limit stay plain text.
* Our own fixed labels (marks, review states, directions, levels) are ``LABELS``: the writer
  leaves them as they are; every other string is user text.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exports.xlsx_layout import Column
from exports.xlsx_writer import MAX_CELL_CHARS, Link, Sheet
from models.entities import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    Questionnaire,
    RoadmapItem,
    School,
    User,
)
from models.enums import DIRECTION_NAMES, EvidenceKind, Mark, ReviewState, RunStatus
from models.stats import SchoolFigures, Schools, report_direction, school_filter

# Excel's limit of characters in a link address (as XlsxWriter enforces it): a longer address
# stays plain text.
MAX_URL_CHARS: Final = 2_079
YIELD_PER: Final = 1_000

LEVEL_TITLES: Final[Mapping[str, str]] = {
    "below_basic": "ниже базового",
    "basic": "базовый",
    "medium": "средний",
    "high": "высокий",
    "low": "низкий",  # the lowest level of the 500+ risk profile
}
MARK_TITLES: Final[Mapping[Mark, str]] = {
    Mark.DONE: "+",
    Mark.PARTIAL: "Частично",
    Mark.NOT_DONE: "−",
}
REVIEW_TITLES: Final[Mapping[ReviewState, str]] = {
    ReviewState.SUBMITTED: "на проверке",
    ReviewState.CONFIRMED: "подтверждено",
    ReviewState.RETURNED: "на доработку",
}
YES: Final = "да"
NO: Final = "нет"
TOTAL: Final = "Итого"
ESTIMATE_SUFFIX: Final = "(оценка бота)"
FILE_PREFIX: Final = "файл: "
FILE_KIND_TITLES: Final[Mapping[EvidenceKind, str]] = {
    EvidenceKind.PHOTO: "фото",
    EvidenceKind.DOCUMENT: "документ",
    EvidenceKind.LINK: "ссылка",
}

# Our own vocabulary: none of it is user text and none of it can be a formula («+» alone is a
# plain string to openpyxl and Excel), so it is written without the neutralising quote.
LABELS: Final[frozenset[str]] = frozenset(
    [
        *DIRECTION_NAMES.values(),
        *LEVEL_TITLES.values(),
        *MARK_TITLES.values(),
        *REVIEW_TITLES.values(),
        YES,
        NO,
        TOTAL,
    ]
)
_CLICKABLE_URL: Final = re.compile(r"https?://[^\s\"<>]+", re.IGNORECASE)


SUMMARY_COLUMNS: Final = (
    Column("Школа", 20),
    Column("Отчётов за период", 11),
    Column("Всего отчётов", 10),
    Column("Выполнено", 11),
    Column("Частично", 10),
    Column("Не выполнено", 11),
    Column("Мероприятий в дорожной карте", 14),
    Column("С отчётом", 10),
    Column("Просрочено", 11),
    Column("Ожидают проверки", 11),
    Column("На доработке", 11),
    Column("Последняя активность", 13),
    Column("Уровень самодиагностики", 15),
)
REPORT_COLUMNS: Final = (
    Column("№", 7),
    Column("Школа", 14),
    Column("Направление", 13),
    Column("Дата", 11),
    Column("Форма и тема мероприятия", 32),
    Column("Организатор", 18),
    Column("Отметка о выполнении", 12),
    Column("Проведённые мероприятия", 48),
    Column("Количество и категория участников", 18),
    Column("Ссылка на материал", 36),
    Column("Другие материалы", 36),
    Column("Автор", 18),
    Column("Статус проверки", 12),
)
ROADMAP_COLUMNS: Final = (
    Column("Школа", 14),
    Column("№ п/п", 6),
    Column("Направление", 13),
    Column("Мероприятие", 40),
    Column("Сроки", 16),
    Column("Срок", 11),
    Column("Отметка о выполнении", 12),
    Column("Просрочено", 12),
    Column("Проведённые мероприятия", 30),
)
DIAGNOSTIC_COLUMNS: Final = (
    Column("Школа", 14),
    Column("Анкета", 24),
    Column("Дата", 11),
    Column("Направление", 26),
    Column("Баллы", 8),
    Column("Максимум", 10),
    Column("Уровень", 15),
    Column("Дефициты", 46),
)


def direction_title(code: str | None, fallback: str | None = None) -> str | None:
    if code is None:
        return fallback
    return DIRECTION_NAMES.get(code) or fallback or code


def level_title(code: str | None) -> str | None:
    return None if code is None else LEVEL_TITLES.get(code, code)


async def _groups(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], key: Callable[[Row[Any]], Any]
) -> AsyncGenerator[list[Row[Any]]]:
    """Consecutive streamed rows with the same key, so a one-to-many join is read flat."""
    result = await session.stream(stmt.execution_options(yield_per=YIELD_PER))
    try:
        group: list[Row[Any]] = []
        # A batch at a time: iterating row by row costs a greenlet switch per row (~a third of
        # the reading time).
        async for batch in result.partitions():
            for row in batch:
                if group and key(row) != key(group[0]):
                    yield group
                    group = []
                group.append(row)
        if group:
            yield group
    finally:
        await result.close()


def _participants(count: int | None, category: str | None) -> str | None:
    """As the teacher wrote it: «12 педагогов» is stored as (12, «педагогов»)."""
    if count is None:
        return category or None
    return f"{count} {category}" if category else f"{count} чел."


def _evidence_text(url: str | None, name: str | None, kind: EvidenceKind | None) -> str:
    if url:
        return url
    label = name or (FILE_KIND_TITLES.get(kind, "") if kind is not None else "")
    return FILE_PREFIX + label


def _clickable(url: str) -> bool:
    return len(url) <= MAX_URL_CHARS and _CLICKABLE_URL.fullmatch(url) is not None


@dataclass
class ReportCounts:
    reports: int = 0
    links: int = 0
    files: int = 0


def reports_query(schools: Schools, start: date, end: date) -> Select[*tuple[Any, ...]]:
    """Reports held in [start, end] joined to their evidence, one row per piece of evidence."""
    return (
        select(
            ActivityReport.id.label("report_id"),
            School.short_name,
            report_direction().label("direction"),
            ActivityReport.held_on,
            ActivityReport.title,
            ActivityReport.organizer,
            ActivityReport.mark,
            ActivityReport.description,
            ActivityReport.participants_count,
            ActivityReport.participants_category,
            User.full_name.label("author"),
            ActivityReport.review_state,
            Evidence.id.label("evidence_id"),
            Evidence.kind.label("evidence_kind"),
            Evidence.url,
            Evidence.file_name,
        )
        .join(School, School.id == ActivityReport.school_id)
        .outerjoin(RoadmapItem, RoadmapItem.id == ActivityReport.roadmap_item_id)
        .outerjoin(User, User.id == ActivityReport.author_id)
        .outerjoin(Evidence, Evidence.report_id == ActivityReport.id)
        .where(
            school_filter(ActivityReport.school_id, schools),
            ActivityReport.held_on.between(start, end),
        )
        .order_by(
            School.short_name,
            School.id,
            ActivityReport.held_on,
            ActivityReport.id,
            Evidence.id,
        )
    )


async def write_reports(
    session: AsyncSession, sheet: Sheet, schools: Schools, start: date, end: date
) -> ReportCounts:
    counts = ReportCounts()
    async with aclosing(
        _groups(session, reports_query(schools, start, end), lambda row: row.report_id)
    ) as groups:
        async for group in groups:
            report = group[0]
            evidence = [row for row in group if row.evidence_id is not None]
            texts = [_evidence_text(e.url, e.file_name, e.evidence_kind) for e in evidence]
            urls = [e.url for e in evidence if e.url]
            counts.reports += 1
            counts.links += len(urls)
            counts.files += len(evidence) - len(urls)
            # LibreOffice drops the line breaks of a hyperlink cell and glues its addresses
            # together: the first web address gets a cell (and link) of its own.
            first = next((i for i, e in enumerate(evidence) if e.url and _clickable(e.url)), None)
            link = None
            if first is not None:
                link = Link(texts.pop(first))
            sheet.append(
                [
                    report.report_id,  # the report's number in the bot
                    report.short_name,
                    direction_title(report.direction),
                    report.held_on,
                    report.title,
                    report.organizer,
                    MARK_TITLES[report.mark],
                    report.description,
                    _participants(report.participants_count, report.participants_category),
                    link,
                    "\n".join(texts) or None,
                    report.author or None,
                    REVIEW_TITLES[report.review_state],
                ]
            )
    return counts


def roadmap_query(schools: Schools) -> Select[*tuple[Any, ...]]:
    """Roadmap items joined to their reports, one row per report."""
    return (
        select(
            RoadmapItem.id.label("item_id"),
            School.short_name,
            RoadmapItem.number,
            RoadmapItem.direction,
            RoadmapItem.title,
            RoadmapItem.due_raw,
            RoadmapItem.due_date,
            ActivityReport.id.label("report_id"),
            ActivityReport.held_on,
            ActivityReport.title.label("report_title"),
            ActivityReport.mark,
        )
        .join(School, School.id == RoadmapItem.school_id)
        .outerjoin(ActivityReport, ActivityReport.roadmap_item_id == RoadmapItem.id)
        .where(school_filter(RoadmapItem.school_id, schools), RoadmapItem.is_archived.is_(False))
        .order_by(
            School.short_name,
            School.id,
            RoadmapItem.position,
            RoadmapItem.id,
            ActivityReport.held_on,
            ActivityReport.id,
        )
    )


async def write_roadmaps(
    session: AsyncSession, sheet: Sheet, schools: Schools, today: date
) -> int:
    items = 0
    async with aclosing(
        _groups(session, roadmap_query(schools), lambda row: row.item_id)
    ) as groups:
        async for group in groups:
            item = group[0]
            reports = [row for row in group if row.report_id is not None]
            marks = {row.mark for row in reports}
            done = Mark.DONE in marks
            mark = MARK_TITLES[
                Mark.DONE if done else Mark.PARTIAL if Mark.PARTIAL in marks else Mark.NOT_DONE
            ]
            overdue = item.due_date is not None and item.due_date < today and not done
            lines: list[str] = []
            length = 0
            for row in reports:
                if length > MAX_CELL_CHARS:  # safe_text cuts the rest; don't build it
                    break
                lines.append(f"{row.held_on:%d.%m.%Y} — {row.report_title}")
                length += len(lines[-1]) + 1
            items += 1
            sheet.append(
                [
                    item.short_name,
                    item.number,
                    direction_title(item.direction),
                    item.title,
                    item.due_raw,
                    item.due_date,
                    mark,
                    YES if overdue else NO,
                    "\n".join(lines) or None,
                ]
            )
    return items


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _deficits(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    return "\n".join(d for d in value if isinstance(d, str) and d) or None


def diagnostics_query(schools: Schools) -> Select[Any]:
    """The latest completed run of every school and questionnaire code."""
    ranked = (
        select(
            DiagnosticRun.id,
            func.row_number()
            .over(
                partition_by=(DiagnosticRun.school_id, Questionnaire.code),
                order_by=(DiagnosticRun.completed_at.desc().nulls_last(), DiagnosticRun.id.desc()),
            )
            .label("run_rank"),
        )
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(
            school_filter(DiagnosticRun.school_id, schools),
            DiagnosticRun.status == RunStatus.COMPLETED,
        )
        .subquery("ranked_runs")
    )
    return (
        select(
            DiagnosticRun.id,
            School.short_name,
            Questionnaire.title.label("questionnaire"),
            DiagnosticRun.completed_at,
            DiagnosticRun.total_points,
            DiagnosticRun.max_points,
            DiagnosticRun.level,
            DiagnosticRun.result,
        )
        .join(ranked, ranked.c.id == DiagnosticRun.id)
        .join(School, School.id == DiagnosticRun.school_id)
        .join(Questionnaire, Questionnaire.id == DiagnosticRun.questionnaire_id)
        .where(ranked.c.run_rank == 1)
        .order_by(School.short_name, School.id, Questionnaire.code)
    )


def _estimated_level(code: Any, estimate: bool) -> str | None:
    title = level_title(code if isinstance(code, str) else None)
    return f"{title} {ESTIMATE_SUFFIX}" if title and estimate else title


def _diagnostic_rows(run: Row[Any], tz: ZoneInfo) -> Iterator[list[Any]]:
    """Rows of one run: a row per direction in its stored result, then the overall one."""
    result = run.result if isinstance(run.result, dict) else {}
    held = run.completed_at.astimezone(tz).date() if run.completed_at else None
    head = [run.short_name, run.questionnaire, held]
    # The domain asks for levels the bot computed to be labelled as its own estimate.
    estimate = result.get("estimate") is True
    directions = result.get("directions")
    for entry in directions if isinstance(directions, list) else []:
        if not isinstance(entry, dict):
            continue
        code, title = entry.get("code"), entry.get("title")
        yield [
            *head,
            direction_title(
                code if isinstance(code, str) else None,
                title if isinstance(title, str) else None,
            ),
            _number(entry.get("points")),
            _number(entry.get("max_points")),
            _estimated_level(entry.get("level"), estimate),
            _deficits(entry.get("deficits")),
        ]
    overall = result.get("overall")
    overall = overall if isinstance(overall, dict) else {}
    yield [
        *head,
        TOTAL,
        _number(overall.get("points", run.total_points)),
        _number(overall.get("max_points", run.max_points)),
        _estimated_level(overall.get("level", run.level), estimate),
        None,
    ]


async def write_diagnostics(
    session: AsyncSession, sheet: Sheet, schools: Schools, tz: ZoneInfo
) -> int:
    rows = 0
    async with aclosing(
        _groups(session, diagnostics_query(schools), lambda row: row.id)
    ) as groups:
        async for (run,) in groups:
            for values in _diagnostic_rows(run, tz):
                sheet.append(values)
                rows += 1
    return rows


def write_summary(sheet: Sheet, figures: Sequence[SchoolFigures]) -> int:
    """One row per school."""
    for school in figures:
        sheet.append(
            [
                school.short_name,
                school.reports_week,
                school.reports_total,
                school.done,
                school.partial,
                school.not_done,
                school.items_total,
                school.items_covered,
                school.overdue,
                school.awaiting_review,
                school.returned,
                school.last_activity,
                level_title(school.latest_level),
            ]
        )
    return len(figures)
