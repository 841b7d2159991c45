"""/my: the user's recent reports, and what can be done to one (change, add evidence, delete)."""

from __future__ import annotations

import uuid
from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies
from bot.ui.callbacks import MyPage, MyReport, ReportAction
from bot.ui.formatting import day, trim
from bot.ui.keyboards import report as kb
from bot.ui.states import ReportForm
from bot.ui.texts import mark_name, review_state_name
from handlers.report.card import hint, save_and_show
from handlers.report.draft import refuse_if_drafting
from handlers.report.evidence import start_collecting
from models import ActivityReport, EvidenceKind, ReviewState, User
from models.errors import InvalidInput
from models.reports import delete_report, draft_from_report, recent_reports, report_for_change


async def my_reports(message: Message, user: User, session: AsyncSession) -> None:
    await _my_page(message, user, session, page=0)


async def my_page(
    query: CallbackQuery, callback_data: MyPage, user: User, session: AsyncSession
) -> None:
    await _my_page(query, user, session, page=callback_data.page)


async def _my_page(
    event: Message | CallbackQuery, user: User, session: AsyncSession, *, page: int
) -> None:
    reports, total = await recent_reports(
        session, user, offset=page * kb.MY_PER_PAGE, limit=kb.MY_PER_PAGE
    )
    if total == 0:
        await replies.show(event, _("No reports yet. /report logs an activity."))
        return
    lines = [_("<b>Reports: {count}</b>").format(count=total)]
    lines += [_report_line(report) for report in reports]
    await replies.show(event, "\n\n".join(lines), kb.my_reports(reports, page=page, total=total))


def _report_line(report: ActivityReport) -> str:
    line = (
        f"<b>№{report.id}</b> · {day(report.held_on)} · {escape(trim(report.title, 120))}\n"
        f"{mark_name(report.mark.value)} · {review_state_name(report.review_state.value)}"
    )
    links = sum(1 for e in report.evidence if e.kind == EvidenceKind.LINK)
    files = len(report.evidence) - links
    line += " · " + _("links {links}, files {files}").format(links=links, files=files)
    if report.review_state == ReviewState.RETURNED and report.review_comment:
        line += "\n" + _("Curator's comment: {comment}").format(
            comment=escape(trim(report.review_comment, 500))
        )
    return line


# --- actions on one report -------------------------------------------------------------------


async def my_action(
    query: CallbackQuery,
    callback_data: MyReport,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    action, report_id = callback_data.action, callback_data.report_id
    try:
        # Never trust the id in the button: school, author and lock are checked in the database.
        report = await report_for_change(session, user, report_id)
    except InvalidInput as error:
        await query.answer(hint(error), show_alert=True)
        return
    if action == ReportAction.DELETE:
        await replies.show(
            query,
            _("Delete report №{id} «{title}»? This can't be undone.").format(
                id=report.id, title=escape(trim(report.title, 200))
            ),
            kb.confirm_delete(report.id),
        )
        return
    if action == ReportAction.DELETE_YES:
        await delete_report(session, user, report.id)
        await replies.show(query, _("Report №{id} is deleted.").format(id=report_id))
        return
    if await refuse_if_drafting(query, state):
        return
    if action == ReportAction.EDIT:
        draft = draft_from_report(report, uuid.uuid4().hex)
        await state.set_data({})
        await save_and_show(
            ReportForm.summary,
            query,
            state,
            session,
            settings,
            draft,
            reached_summary=True,
            page=0,
            search=None,
            # A returned report: the comment stays on the card while it is fixed.
            review_comment=(
                report.review_comment if report.review_state == ReviewState.RETURNED else None
            ),
        )
        return
    await start_collecting(query, state, report)  # ReportAction.EVIDENCE
