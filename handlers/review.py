"""/review: curators confirm reports or return them with a comment; authors are told."""

from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import replies as edits
from bot.ui.access import OVERSIGHT, allow
from bot.ui.callbacks import Cancel, MyReport, ReviewAction, ReviewSchool, ReviewSkip, Verdict
from bot.ui.formatting import day, fit, one_line, trim
from bot.ui.markup import Keyboard
from bot.ui.states import ReviewForm
from bot.ui.texts import direction_name, input_problem, mark_name
from models import ActivityReport, EvidenceKind, School, User
from models.errors import InvalidInput
from models.review import (
    MAX_BATCH,
    MAX_COMMENT,
    author_of,
    confirm_report,
    confirm_reports,
    pending_of_school,
    report_for_review,
    return_report,
    review_queue,
)
from models.users import find_visible_schools, school_for

logger = logging.getLogger(__name__)
REVIEWERS = allow(OVERSIGHT)


def _size(size: int | None) -> str:
    if not size:
        return ""
    if size >= 1024 * 1024:
        return f" ({size / 1024 / 1024:.1f} MB)"
    return f" ({max(1, size // 1024)} KB)"


def review_card(
    report: ActivityReport,
    *,
    school: School,
    author: User | None,
    position: int,
    total: int,
    narrowed: bool = False,
) -> str:
    heading = (
        _("<b>For review at {school}: {k} of {n}</b>").format(
            school=escape(school.short_name), k=position, n=total
        )
        if narrowed
        else _("<b>For review: {k} of {n}</b>").format(k=position, n=total)
    )
    lines = [
        heading,
        _("School: {value}").format(value=escape(school.short_name)),
        _("Author: {value}").format(value=escape(author.full_name if author else "—")),
        f"<b>№{report.id}</b> · {day(report.held_on)} · {mark_name(report.mark.value)}",
    ]
    if report.review_comment:
        # Returned once, fixed and sent again: what was asked, to check it was done.
        lines.append(
            _("🔁 Sent again after revision. The earlier comment: {comment}").format(
                comment=escape(trim(report.review_comment, 500))
            )
        )
    lines += [
        _("Activity: {value}").format(value=escape(trim(report.title, 300))),
        _("Direction: {value}").format(value=direction_name(report.direction)),
        _("What was done: {value}").format(value=escape(trim(report.description, 1500))),
    ]
    if report.participants_count is not None or report.participants_category:
        participants = " ".join(
            p
            for p in (str(report.participants_count or ""), report.participants_category or "")
            if p
        )
        lines.append(_("Participants: {value}").format(value=escape(participants)))
    if report.organizer:
        lines.append(_("Organizer: {value}").format(value=escape(trim(report.organizer, 200))))
    links = [e for e in report.evidence if e.kind == EvidenceKind.LINK and e.url]
    files = [e for e in report.evidence if e.kind != EvidenceKind.LINK]
    if not links and not files:
        lines.append(_("Evidence: none"))
    for evidence in links[:10]:
        url = evidence.url or ""
        lines.append(f'• <a href="{escape(url, quote=True)}">{escape(trim(url, 70))}</a>')
    for evidence in files[:10]:
        name = evidence.file_name or _("photo")
        lines.append("• 📎 " + escape(trim(name, 60)) + _size(evidence.file_size))
    return fit(lines)


def review_keyboard(
    report: ActivityReport, *, offset: int, total: int, school: int = 0, of_school: int = 1
) -> InlineKeyboardMarkup:
    """`school`: the school the queue is narrowed to (0: all); `of_school`: how many reports
    of this report's school wait, for «confirm all»."""

    def action(verdict: Verdict) -> ReviewAction:
        return ReviewAction(action=verdict, report_id=report.id, offset=offset, school=school)

    builder = Keyboard()
    builder.button(text=_("✅ Confirm"), callback_data=action(Verdict.CONFIRM))
    builder.button(text=_("↩ Return for revision"), callback_data=action(Verdict.RETURN))
    sizes = [2]
    if any(e.kind != EvidenceKind.LINK for e in report.evidence):
        builder.button(text=_("📎 Show files"), callback_data=action(Verdict.FILES))
        sizes.append(1)
    if of_school > 1:
        builder.button(
            text=_("✅ Confirm all {count} of this school…").format(
                count=min(of_school, MAX_BATCH)
            ),
            callback_data=action(Verdict.BATCH),
        )
        sizes.append(1)
    if total > 1:
        builder.button(
            text=_("⏭ Next"), callback_data=ReviewSkip(offset=(offset + 1) % total, school=school)
        )
        sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup()


async def _show_queue(
    event: Message | CallbackQuery,
    user: User,
    session: AsyncSession,
    *,
    offset: int = 0,
    school_id: int = 0,
) -> None:
    """The report at `offset` of the queue (of one school with `school_id`); past the end, the
    first. After a report is confirmed or returned the same offset shows the next one."""
    narrowed = school_id or None
    reports, total = await review_queue(session, user, offset=offset, limit=1, school_id=narrowed)
    if not reports and total:
        offset = 0
        reports, total = await review_queue(session, user, offset=0, limit=1, school_id=narrowed)
    if not reports:
        text, markup = _("Nothing awaits review. 👍"), None
    else:
        report = reports[0]
        school = await session.get(School, report.school_id)
        author = await author_of(session, report)
        assert school is not None
        _rows, of_school = await pending_of_school(session, user, school.id, limit=0)
        text = review_card(
            report,
            school=school,
            author=author,
            position=offset + 1,
            total=total,
            narrowed=narrowed is not None,
        )
        markup = review_keyboard(
            report, offset=offset, total=total, school=school_id, of_school=of_school
        )
    await edits.show(event, text, markup)


async def review_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    user: User,
    session: AsyncSession,
) -> None:
    """/review, or /review <part of a school's name> for that school's reports only."""
    await state.clear()
    query = " ".join((command.args or "").split())
    if not query:
        await _show_queue(message, user, session)
        return
    schools = await find_visible_schools(session, user, query, limit=20)
    if not schools:
        await message.answer(
            _("No school of yours matches «{query}».").format(query=escape(query))
        )
        return
    if len(schools) == 1:
        await _show_queue(message, user, session, school_id=schools[0].id)
        return
    builder = Keyboard()
    for school in schools:
        builder.button(
            text=one_line(school.short_name, 40), callback_data=ReviewSchool(school_id=school.id)
        )
    builder.adjust(1)
    await message.answer(
        _("Schools matching «{query}»:").format(query=escape(query)),
        reply_markup=builder.as_markup(),
    )


async def review_school(
    query: CallbackQuery, callback_data: ReviewSchool, user: User, session: AsyncSession
) -> None:
    # The id came from a button: school_for re-checks it against this user's schools.
    school = await school_for(session, user, callback_data.school_id)
    await _show_queue(query, user, session, school_id=school.id)


async def review_skip(
    query: CallbackQuery, callback_data: ReviewSkip, user: User, session: AsyncSession
) -> None:
    await _show_queue(
        query, user, session, offset=callback_data.offset, school_id=callback_data.school
    )


async def _notify_author(
    bot: Bot, i18n: I18n, settings: Settings, author: User | None, report: ActivityReport
) -> bool:
    if author is None:
        return False
    locale = author.locale if author.locale in i18n.available_locales else settings.default_locale
    with i18n.use_locale(locale):
        title = escape(trim(report.title, 200))
        if report.review_state.value == "confirmed":
            text = _("✅ Your report №{id} «{title}» is confirmed by the curator.").format(
                id=report.id, title=title
            )
            markup = None
        else:
            text = _(
                "↩ Your report №{id} «{title}» is returned for revision.\n"
                "Curator's comment: {comment}"
            ).format(id=report.id, title=title, comment=escape(report.review_comment or ""))
            builder = Keyboard()
            builder.button(
                text=_("✏ Edit the report"),
                callback_data=MyReport(action="edit", report_id=report.id),
            )
            markup = builder.as_markup()
    try:
        await bot.send_message(author.telegram_id, text, reply_markup=markup)
    except TelegramAPIError as exc:
        logger.warning(
            "review outcome of report %s not delivered: %s", report.id, type(exc).__name__
        )
        return False
    return True


async def review_action(
    query: CallbackQuery,
    callback_data: ReviewAction,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
) -> None:
    place = {"offset": callback_data.offset, "school_id": callback_data.school}
    try:
        if callback_data.action == Verdict.RETURN:
            await _ask_for_comment(query, state, user, session, callback_data)
            return
        if callback_data.action == Verdict.FILES:
            report = await report_for_review(session, user, callback_data.report_id)
            await query.answer()  # before the files go out: the spinner stops at once
            await _send_files(bot, query, report)
            return
        if callback_data.action == Verdict.BATCH:
            await _show_batch(query, state, user, session, callback_data)
            return
        if callback_data.action == Verdict.BATCH_YES:
            await _confirm_batch(query, state, user, session, bot, i18n, settings, callback_data)
            return
        report = await confirm_report(session, user, callback_data.report_id)
    except InvalidInput as error:
        await query.answer(_review_problem(error), show_alert=True)
        return
    delivered = await _notify_author(bot, i18n, settings, await author_of(session, report), report)
    if delivered:
        await query.answer(_("✅ Report №{id} is confirmed.").format(id=report.id))
    else:
        await query.answer(
            _("Confirmed. The author could not be notified in Telegram."), show_alert=True
        )
    # The confirmed report left the queue: the same place shows the next one.
    await _show_queue(query, user, session, **place)


async def _ask_for_comment(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    callback_data: ReviewAction,
) -> None:
    report = await report_for_review(session, user, callback_data.report_id)
    if report.review_state.value != "submitted":
        raise InvalidInput("review_not_pending")
    await state.set_state(ReviewForm.comment)
    await state.update_data(
        report_id=report.id, offset=callback_data.offset, school_id=callback_data.school
    )
    builder = Keyboard()
    builder.button(text=_("✖ Cancel"), callback_data=Cancel())
    if isinstance(query.message, Message):
        await query.message.answer(
            _(
                "What needs fixing in report №{id}? The comment goes to the author "
                "(at most {max} characters)."
            ).format(id=report.id, max=MAX_COMMENT),
            reply_markup=builder.as_markup(),
        )


async def _show_batch(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    callback_data: ReviewAction,
) -> None:
    """«Confirm all of this school»: list what would be confirmed; the ids are kept in the
    form data, so «Yes» confirms exactly the reports the curator saw."""
    report = await report_for_review(session, user, callback_data.report_id)
    school = await school_for(session, user, report.school_id)
    reports, _total = await pending_of_school(session, user, school.id)
    if not reports:
        raise InvalidInput("review_not_pending")
    await state.set_state(ReviewForm.batch)
    await state.update_data(batch=[r.id for r in reports], school_id=callback_data.school)
    lines = [
        _("<b>Confirm these {count} reports of {school}?</b>").format(
            count=len(reports), school=escape(school.short_name)
        ),
        _("The authors are told each report is confirmed."),
        "",
    ]
    lines += [
        f"• №{r.id} {day(r.held_on)} {escape(one_line(r.title, 80))} — {mark_name(r.mark.value)}"
        for r in reports
    ]
    builder = Keyboard()
    builder.button(
        text=_("✅ Yes, confirm {count}").format(count=len(reports)),
        callback_data=ReviewAction(
            action=Verdict.BATCH_YES,
            report_id=report.id,
            offset=callback_data.offset,
            school=callback_data.school,
        ),
    )
    builder.button(
        text=_("◀ Back"),
        callback_data=ReviewSkip(offset=callback_data.offset, school=callback_data.school),
    )
    builder.adjust(1)
    await edits.show(query, fit(lines), builder.as_markup())


async def _confirm_batch(
    query: CallbackQuery,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
    callback_data: ReviewAction,
) -> None:
    listed = (await state.get_data()).get("batch") if await state.get_state() else None
    if not isinstance(listed, list) or not all(isinstance(i, int) for i in listed):
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await state.clear()
    confirmed = await confirm_reports(session, user, listed)
    undelivered = 0
    for report in confirmed:
        author = await author_of(session, report)
        if not await _notify_author(bot, i18n, settings, author, report):
            undelivered += 1
    text = _("✅ Confirmed: {count}.").format(count=len(confirmed))
    if len(confirmed) < len(listed):
        text += " " + _("{count} had changed meanwhile and wait as they are.").format(
            count=len(listed) - len(confirmed)
        )
    if undelivered:
        text += " " + _("Authors not reachable in Telegram: {count}.").format(count=undelivered)
    await query.answer(text, show_alert=bool(undelivered) or len(confirmed) < len(listed))
    await _show_queue(query, user, session, school_id=callback_data.school)


def _review_problem(error: InvalidInput) -> str:
    if error.code == "review_not_pending":
        return _("This report has already been reviewed or changed.")
    if error.code == "review_comment_required":
        return _("A comment is required: write what needs fixing.")
    return input_problem(error.code, dict(error.params))


async def _send_files(bot: Bot, query: CallbackQuery, report: ActivityReport) -> None:
    if not isinstance(query.message, Message):
        return
    chat_id = query.message.chat.id
    for evidence in report.evidence:
        if evidence.kind == EvidenceKind.LINK or not evidence.file_id:
            continue
        try:
            if evidence.kind == EvidenceKind.PHOTO:
                await bot.send_photo(chat_id, evidence.file_id, caption=f"№{report.id}")
            else:
                await bot.send_document(chat_id, evidence.file_id, caption=f"№{report.id}")
        except TelegramAPIError as exc:
            logger.warning("evidence %s not sent: %s", evidence.id, type(exc).__name__)
            await bot.send_message(
                chat_id,
                _("The file «{name}» could not be sent.").format(
                    name=escape(evidence.file_name or "—")
                ),
            )


async def comment_given(
    message: Message,
    state: FSMContext,
    user: User,
    session: AsyncSession,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
) -> None:
    data = await state.get_data()
    report_id = data.get("report_id")
    if not isinstance(report_id, int):
        await state.clear()
        return
    try:
        report = await return_report(session, user, report_id, message.text or "")
    except InvalidInput as error:
        await message.answer(_review_problem(error))
        if error.code == "review_not_pending":
            await state.clear()
        return
    await state.clear()
    delivered = await _notify_author(bot, i18n, settings, await author_of(session, report), report)
    text = _("↩ Report №{id} is returned for revision.").format(id=report.id)
    if not delivered:
        text += "\n" + _("The author could not be notified in Telegram.")
    await message.answer(text)
    # The returned report left the queue: the same place shows the next one.
    offset, school_id = data.get("offset"), data.get("school_id")
    await _show_queue(
        message,
        user,
        session,
        offset=offset if isinstance(offset, int) else 0,
        school_id=school_id if isinstance(school_id, int) else 0,
    )


async def comment_fallback(message: Message) -> None:
    await message.answer(_("A comment is required: write what needs fixing."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(review_command, Command("review"), flags=REVIEWERS)
    router.callback_query.register(review_skip, ReviewSkip.filter(), flags=REVIEWERS)
    router.callback_query.register(review_school, ReviewSchool.filter(), flags=REVIEWERS)
    router.callback_query.register(review_action, ReviewAction.filter(), flags=REVIEWERS)
    router.message.register(comment_given, ReviewForm.comment, F.text, flags=REVIEWERS)
    router.message.register(comment_fallback, ReviewForm.comment, flags=REVIEWERS)
    return router
