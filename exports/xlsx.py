"""The municipal XLSX export: five sheets streamed from the database into a write-only workbook.

Memory stays flat whatever the number of rows: the big sheets are read through server-side
cursors (exports/xlsx_sheets.py: columns, labels, queries, rows) and handed straight to
openpyxl's write-only sheets, which spill to temporary files (exports/xlsx_writer.py: the lean
streaming writer; exports/xlsx_layout.py: fonts, widths, heights, print setup); the surveys'
sheet is small (exports/xlsx_surveys.py). Here: the workbook's order of sheets, its titles,
and what the caller is told was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Final
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from exports.schedule import format_period
from exports.surveys import DEFAULT_MIN_RESPONSES
from exports.xlsx_layout import Column
from exports.xlsx_sheets import (
    DIAGNOSTIC_COLUMNS,
    LABELS,
    REPORT_COLUMNS,
    ROADMAP_COLUMNS,
    SUMMARY_COLUMNS,
    write_diagnostics,
    write_reports,
    write_roadmaps,
    write_summary,
)
from exports.xlsx_surveys import SURVEY_COLUMNS, write_surveys
from exports.xlsx_writer import Progress, Sheet, new_workbook, safe_text
from models.stats import Schools, school_figures

_TITLE_SCHOOLS: Final = 5  # schools named in a sheet's title; the rest are counted


def scope_title(names: Sequence[str]) -> str:
    """Which schools an export covers, for its titles: a few names, the rest counted."""
    shown = ", ".join(safe_text(name) for name in names[:_TITLE_SCHOOLS])
    more = len(names) - _TITLE_SCHOOLS
    tail = f" и ещё {more}" if more > 0 else ""
    return f"Школы ({len(names)}): {shown}{tail}" if names else "Школы: нет"


@dataclass(frozen=True)
class ExportSummary:
    """What was written: data rows per sheet, and the links of «Мероприятия»."""

    schools: int
    reports: int
    items: int
    diagnostics: int
    links: int
    hyperlinks: int
    files: int


def last_full_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one containing ``today``."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def export_filename(start: date, end: date) -> str:
    return f"отчёт_{start.isoformat()}_{end.isoformat()}.xlsx"


async def build_export(
    session: AsyncSession,
    *,
    schools: Schools,
    start: date,
    end: date,
    tz: ZoneInfo,
    out: BinaryIO | Path,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
    min_responses: int = DEFAULT_MIN_RESPONSES,
) -> ExportSummary:
    """Write the workbook for reports held in [start, end] by ``schools`` to ``out``.

    ``today`` (default: now in ``tz``) decides what is overdue. ``progress`` gets the number of
    data rows written so far, every ``PROGRESS_EVERY`` rows and once at the end. A survey's
    figures are shown once it is closed, from ``min_responses`` answers on (the bot's
    ``survey_min_responses``).
    """
    if end < start:
        raise ValueError("the period ends before it starts")
    today = today if today is not None else datetime.now(tz).date()
    counter = Progress(progress)
    workbook, quoted = new_workbook()
    period = format_period(start, end)

    # The figures (one row per school) are dropped before the big sheets are written.
    figures = await school_figures(session, schools, today=today, week_start=start, week_end=end)
    scope = scope_title([school.short_name for school in figures])
    school_count = len(figures)
    school_names = [(school.school_id, school.short_name) for school in figures]

    def sheet(title: str, columns: Sequence[Column], heading: str, keys: int) -> Sheet:
        return Sheet(
            workbook,
            quoted,
            title,
            columns,
            counter,
            heading=f"{heading} · {scope}",
            period=period,
            title_columns=keys,
            labels=LABELS,
        )

    summary = sheet("Сводка", SUMMARY_COLUMNS, f"Сводка за {period} (на {today:%d.%m.%Y})", 1)
    write_summary(summary, figures)
    summary.close()
    del figures

    reports = sheet("Мероприятия", REPORT_COLUMNS, f"Мероприятия за {period}", 2)
    report_counts = await write_reports(session, reports, schools, start, end)
    reports.close()

    roadmaps = sheet("Дорожные карты", ROADMAP_COLUMNS, f"Дорожные карты (на {today:%d.%m.%Y})", 2)
    items = await write_roadmaps(session, roadmaps, schools, today)
    roadmaps.close()

    diagnostics = sheet("Самодиагностика", DIAGNOSTIC_COLUMNS, "Самодиагностика", 1)
    diagnostic_rows = await write_diagnostics(session, diagnostics, schools, tz)
    diagnostics.close()

    surveys = sheet("Опросы", SURVEY_COLUMNS, f"Опросы (на {today:%d.%m.%Y})", 1)
    await write_surveys(session, surveys, school_names, today=today, min_responses=min_responses)
    surveys.close()

    # Zipping the spilled sheets is CPU-bound: keep the event loop (and the bot) responsive.
    await asyncio.to_thread(workbook.save, out)
    counter.finish()
    return ExportSummary(
        schools=school_count,
        reports=report_counts.reports,
        items=items,
        diagnostics=diagnostic_rows,
        links=report_counts.links,
        hyperlinks=reports.hyperlinks,
        files=report_counts.files,
    )
