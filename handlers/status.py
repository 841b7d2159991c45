"""/status: a school's progress, a curator's schools as a compact table, a chart to go with it.

Every figure comes from aggregate SQL (models/stats.py); handlers only format and page.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from html import escape

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.pipeline.unit_of_work import commit_current_unit
from bot.ui import formatting as fmt
from bot.ui import replies as edits
from bot.ui.access import EVERY_ROLE, allow
from bot.ui.callbacks import StatusPage, StatusSchool
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager, clamp
from bot.ui.texts import direction_name, level_name, mark_name, review_state_name
from exports.charts import Bar, ChartLabels, progress_chart
from handlers.surveys.texts import status_line as survey_status_line
from models import EvidenceKind, Role, School, User
from models.stats import (
    SchoolFigures,
    direction_progress,
    latest_reports,
    overdue_items,
    school_figures,
)
from models.users import find_visible_schools, school_for, visible_schools_query

logger = logging.getLogger(__name__)
PAGE = 15
SILENT_AFTER = timedelta(days=14)
CHART_LIMIT = 40


def _week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())


def _silent(figures: SchoolFigures, today: date) -> bool:
    return figures.last_activity is None or today - figures.last_activity >= SILENT_AFTER


def needs_attention(figures: SchoolFigures, today: date) -> bool:
    """Something for the curator to do: reports to review or returned, overdue activities, or
    no activity for two weeks."""
    return bool(
        figures.awaiting_review or figures.returned or figures.overdue or _silent(figures, today)
    )


def attention_order(rows: list[SchoolFigures], today: date) -> list[SchoolFigures]:
    """«Needs attention» first: most reports to review, then returned, then overdue."""
    return sorted(
        rows,
        key=lambda f: (
            not needs_attention(f, today),
            -f.awaiting_review,
            -f.returned,
            -f.overdue,
            f.short_name,
        ),
    )


def _actions(figures: SchoolFigures, today: date) -> list[str]:
    """What needs the curator's action, in words, the curator's own action first."""
    found = []
    if figures.awaiting_review:
        found.append(_("to review: {count}").format(count=figures.awaiting_review))
    if figures.returned:
        found.append(_("returned for revision: {count}").format(count=figures.returned))
    if figures.overdue:
        found.append(_("overdue activities: {count}").format(count=figures.overdue))
    if _silent(figures, today):
        found.append(_("no activity for two weeks"))
    return found


def _line(figures: SchoolFigures, today: date) -> str:
    """Two lines: the school and what needs action, then the figures."""
    actions = _actions(figures, today)
    name = escape(fmt.one_line(figures.short_name, 40))
    head = (
        f"❗ <b>{name}</b>: {', '.join(actions)}"
        if actions
        else _("<b>{name}</b>: nothing to act on").format(name=name)
    )
    facts = _(
        "reports: {week} this week, {total} in all · roadmap: {covered} of {items} with a "
        "report · last activity: {last} · level: {level}"
    ).format(
        week=figures.reports_week,
        total=figures.reports_total,
        covered=figures.items_covered,
        items=figures.items_total,
        last=fmt.day_month(figures.last_activity),
        level=level_name(figures.latest_level),
    )
    return f"{head}\n    {facts}"


def _legend() -> str:
    return _("❗ — needs your attention. Tap a school for its details and chart.")


def _list_keyboard(
    page_rows: list[SchoolFigures], *, page: int, total: int
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for figures in page_rows:
        builder.button(
            text=fmt.one_line(figures.short_name, 40),
            callback_data=StatusSchool(school_id=figures.school_id),
        )
    sizes = [2] * (len(page_rows) // 2) + ([1] if len(page_rows) % 2 else [])
    nav = add_pager(
        builder, page=page, total=total, per_page=PAGE, button=lambda n: StatusPage(page=n)
    )
    if nav:
        sizes.append(nav)
    builder.adjust(*sizes)
    return builder.as_markup()


async def _school_detail(
    session: AsyncSession, school: School, settings: Settings
) -> tuple[str, list[Bar]]:
    today = fmt.today(settings)
    (figures,) = await school_figures(
        session, [school.id], today=today, week_start=_week_start(today)
    )
    progress = await direction_progress(session, school.id, today=today)
    overdue = await overdue_items(session, school.id, today=today, limit=10)
    reports = await latest_reports(session, school.id, limit=5)
    lines = [
        f"<b>{escape(school.name)}</b>",
        _line(figures, today),
        *[line for line in [await survey_status_line(session, school.id, settings)] if line],
        "",
        _("<b>Progress by direction</b> (done / activities · reports):"),
    ]
    bars = []
    for row in progress:
        name = direction_name(row.direction) if row.direction else _("no direction")
        lines.append(f"• {name}: {row.items_done}/{row.items_total} · {row.reports}")
        if row.items_total:
            bars.append(Bar(name, row.items_done, row.items_total, row.items_covered))
    if not progress:
        lines.append(_("no activities or reports yet"))
    if overdue:
        lines += ["", _("<b>Overdue</b>:")]
        for item in overdue:
            due = fmt.day(item.due_date)
            number = f"{item.number}. " if item.number else ""
            lines.append(f"• {escape(number + fmt.one_line(item.title, 90))} — {due}")
        if figures.overdue > len(overdue):
            lines.append(_("… and {count} more.").format(count=figures.overdue - len(overdue)))
    if reports:
        lines += ["", _("<b>Latest reports</b>:")]
        for report in reports:
            title = escape(fmt.one_line(report.title, 80))
            lines.append(
                f"• №{report.id} {fmt.day(report.held_on)} {title} — "
                f"{mark_name(report.mark.value)}, {review_state_name(report.review_state.value)}"
            )
            for evidence in report.evidence[:3]:
                if evidence.kind == EvidenceKind.LINK and evidence.url:
                    url = evidence.url
                    shown = escape(fmt.one_line(url, 60))
                    lines.append(f'   <a href="{escape(url, quote=True)}">{shown}</a>')
    # Cut between lines, never inside a tag: a long link must not break the message.
    return fmt.fit(lines), bars


def _chart_labels() -> ChartLabels:
    return ChartLabels(
        done=_("done"),
        reported=_("reported, not done"),
        open=_("no report yet"),
        no_roadmap=_("no roadmap"),
    )


def coverage_bars(rows: list[SchoolFigures]) -> list[Bar]:
    """One bar a school, schools without a roadmap included: green is «done» (a report marked
    done), as the figure at the bar says; amber the activities with only other reports."""
    return [Bar(f.short_name, f.items_done, f.items_total, f.items_covered) for f in rows]


async def _send_chart(message: Message, bars: list[Bar], title: str) -> None:
    if not bars:
        return
    try:
        # CPU-bound rendering off the event loop, so other users aren't kept waiting; and
        # nothing of this update's is left open (on SQLite, the write lock) meanwhile.
        await commit_current_unit()
        png = await asyncio.to_thread(progress_chart, bars, title=title, labels=_chart_labels())
        await message.answer_photo(BufferedInputFile(png, filename="status.png"))
    except TelegramAPIError as exc:
        logger.warning("status chart not sent: %s", type(exc).__name__)


async def status_command(
    message: Message,
    command: CommandObject,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    query = " ".join((command.args or "").split())
    if user.role in (Role.TEACHER, Role.COORDINATOR):
        if user.school_id is None:
            await message.answer(_("You are not attached to a school. Ask your coordinator."))
            return
        school = await school_for(session, user, user.school_id)
        text, bars = await _school_detail(session, school, settings)
        await message.answer(text)
        await _send_chart(message, bars, school.short_name)
        return
    if query:
        matches = await find_visible_schools(session, user, query)
        if not matches:
            await message.answer(
                _("No school of yours matches «{query}».").format(query=escape(query))
            )
            return
        if len(matches) == 1:
            text, bars = await _school_detail(session, matches[0], settings)
            await message.answer(text)
            await _send_chart(message, bars, matches[0].short_name)
            return
        builder = Keyboard()
        for school in matches[:20]:
            builder.button(
                text=fmt.one_line(school.short_name, 40),
                callback_data=StatusSchool(school_id=school.id),
            )
        builder.adjust(1)
        await message.answer(
            _("Schools matching «{query}»:").format(query=escape(query)),
            reply_markup=builder.as_markup(),
        )
        return
    rows = await _ordered_figures(session, user, settings)
    if not rows:
        await message.answer(_("No schools yet."))
        return
    text, markup = _list_page(rows, page=0, settings=settings)
    await message.answer(text, reply_markup=markup)
    await _send_chart(message, coverage_bars(rows)[:CHART_LIMIT], _("Roadmap by school"))


async def _ordered_figures(
    session: AsyncSession, user: User, settings: Settings
) -> list[SchoolFigures]:
    today = fmt.today(settings)
    rows = await school_figures(
        session, visible_schools_query(user), today=today, week_start=_week_start(today)
    )
    return attention_order(rows, today)


def _list_page(
    rows: list[SchoolFigures], *, page: int, settings: Settings
) -> tuple[str, InlineKeyboardMarkup]:
    """The list screen's text and keyboard."""
    today = fmt.today(settings)
    page = clamp(page, len(rows), PAGE)
    chunk = rows[page * PAGE : (page + 1) * PAGE]
    attention = sum(needs_attention(f, today) for f in rows)
    lines = [
        _("<b>Schools: {count}</b>, need attention: {attention}").format(
            count=len(rows), attention=attention
        ),
        f"<i>{_legend()}</i>",
        "",
    ]
    lines += [_line(f, today) for f in chunk]
    return fmt.fit(lines), _list_keyboard(chunk, page=page, total=len(rows))


async def status_page(
    query: CallbackQuery,
    callback_data: StatusPage,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    rows = await _ordered_figures(session, user, settings)
    if rows:
        text, markup = _list_page(rows, page=callback_data.page, settings=settings)
        await edits.show(query, text, markup)


async def status_school(
    query: CallbackQuery,
    callback_data: StatusSchool,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    # The id came from a button: school_for re-checks it against this user's schools.
    school = await school_for(session, user, callback_data.school_id)
    text, bars = await _school_detail(session, school, settings)
    await query.answer()  # before the chart is drawn: the spinner stops at once
    if isinstance(query.message, Message):
        await query.message.answer(text)
        await _send_chart(query.message, bars, school.short_name)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    everyone = allow(EVERY_ROLE)
    oversight = allow(Role.CURATOR, Role.MUNICIPAL)
    router.message.register(status_command, Command("status"), flags=everyone)
    router.callback_query.register(status_page, StatusPage.filter(), flags=oversight)
    router.callback_query.register(status_school, StatusSchool.filter(), flags=oversight)
    return router
