"""/review end to end: queue, confirm, return with a comment, author notified, audit."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendDocument, SendMessage
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.ui.callbacks import MyReport, ReportNav, ReviewAction, ReviewSchool, ReviewSkip
from models import ActivityReport, AuditEvent, Evidence, EvidenceKind, Mark, ReviewState
from models.reports import MAX_DESCRIPTION, MAX_LINKS, MAX_TITLE
from tests.conftest import Harness, World
from tests.telegram import telegram_html_problems


def sent(requests: list[Any], cls: Any = SendMessage | EditMessageText) -> list[Any]:
    return [r for r in requests if isinstance(r, cls)]


def alerts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, AnswerCallbackQuery) and r.show_alert]


@pytest.fixture
async def submitted(session_factory, world: World) -> dict[str, ActivityReport]:
    async with session_factory() as session, session.begin():
        a1 = ActivityReport(
            school_id=world.school_a.id,
            author_id=world.teacher.id,
            title="Урок цифры",
            held_on=date(2026, 11, 2),
            mark=Mark.DONE,
            description="Провели",
        )
        a1.evidence = [
            Evidence(kind=EvidenceKind.LINK, url="https://school2.ru/news/1"),
            Evidence(
                kind=EvidenceKind.DOCUMENT,
                file_id="file-1",
                file_unique_id="u1",
                file_name="протокол.pdf",
                file_size=3000,
            ),
        ]
        a2 = ActivityReport(
            school_id=world.school_a.id,
            author_id=world.coordinator.id,
            title="Семинар",
            held_on=date(2026, 11, 3),
            mark=Mark.PARTIAL,
        )
        b1 = ActivityReport(
            school_id=world.school_b.id,
            author_id=world.teacher_b.id,
            title="Чужой отчёт",
            held_on=date(2026, 11, 4),
            mark=Mark.DONE,
        )
        session.add_all([a1, a2, b1])
    return {"a1": a1, "a2": a2, "b1": b1}


async def state_of(session_factory, report_id: int) -> ActivityReport:
    async with session_factory() as session:
        return await session.get(ActivityReport, report_id)


async def test_curator_sees_only_assigned_schools_queue(
    harness: Harness, world: World, submitted, tg, i18n_ru
):
    (card,) = sent(await harness.send(tg.user(world.curator.telegram_id), "/review"))
    assert "Урок цифры" in card.text and "Чужой" not in card.text
    assert _("<b>For review: {k} of {n}</b>").format(k=1, n=2) in card.text
    assert 'href="https://school2.ru/news/1"' in card.text
    (card,) = sent(
        await harness.click(tg.user(world.curator.telegram_id), ReviewSkip(offset=1).pack())
    )
    assert "Семинар" in card.text
    (card,) = sent(await harness.send(tg.user(world.municipal.telegram_id), "/review"))
    assert _("<b>For review: {k} of {n}</b>").format(k=1, n=3) in card.text


async def test_confirm_notifies_the_author_and_locks(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    curator = tg.user(world.curator.telegram_id)
    requests = await harness.click(
        curator, ReviewAction(action="confirm", report_id=submitted["a1"].id).pack()
    )

    notices = [r for r in sent(requests, SendMessage) if r.chat_id == world.teacher.telegram_id]
    assert len(notices) == 1 and f"№{submitted['a1'].id}" in notices[0].text
    report = await state_of(session_factory, submitted["a1"].id)
    assert report.review_state == ReviewState.CONFIRMED and report.reviewer_id == world.curator.id
    again = await harness.click(
        curator, ReviewAction(action="confirm", report_id=submitted["a1"].id).pack()
    )
    assert alerts(again) == [_("This report has already been reviewed or changed.")]
    locked = await harness.click(
        tg.user(world.teacher.telegram_id),
        MyReport(action="edit", report_id=submitted["a1"].id).pack(),
    )
    assert alerts(locked)


async def test_return_requires_a_comment_and_resubmission_goes_back(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    curator = tg.user(world.curator.telegram_id)
    report_id = submitted["a1"].id
    await harness.click(curator, ReviewAction(action="return", report_id=report_id).pack())
    hint = sent(await harness.feed(harness.updates.photo(curator)))
    assert hint[0].text == _("A comment is required: write what needs fixing.")
    hint = sent(await harness.send(curator, "   "))
    assert hint[0].text == _("A comment is required: write what needs fixing.")
    assert (await state_of(session_factory, report_id)).review_state == ReviewState.SUBMITTED

    requests = await harness.send(curator, "Добавьте фото с мероприятия")
    (notice,) = [r for r in sent(requests, SendMessage) if r.chat_id == world.teacher.telegram_id]
    assert "Добавьте фото с мероприятия" in notice.text
    assert (
        notice.reply_markup.inline_keyboard[0][0].callback_data
        == MyReport(action="edit", report_id=report_id).pack()
    )
    report = await state_of(session_factory, report_id)
    assert (
        report.review_state == ReviewState.RETURNED
        and report.review_comment == "Добавьте фото с мероприятия"
    )

    teacher = tg.user(world.teacher.telegram_id)
    # «✏ Исправить отчёт» on the notice: the curator's comment stays in sight on the card
    # (issue 17.11), and saving says the report went back to the curator.
    (form,) = sent(
        await harness.click(teacher, MyReport(action="edit", report_id=report_id).pack())
    )
    assert form.text.startswith(
        _("↩ The curator's comment: {comment}").format(comment="Добавьте фото с мероприятия")
    )
    saved = await harness.click(teacher, ReportNav(action="submit").pack())
    assert _("💾 Report №{id} is saved and sent back to the curator for review.").format(
        id=report_id
    ) in "\n".join(r.text or "" for r in sent(saved))
    assert (await state_of(session_factory, report_id)).review_state == ReviewState.SUBMITTED

    async with session_factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["report_returned", "report_edited"]

    # Back in the queue, marked as sent again, with what the curator asked for.
    # Sent again later than «Семинар», so it is second in the queue now.
    (card,) = sent(await harness.click(curator, ReviewSkip(offset=1).pack()))
    resent = card.text
    assert f"№{report_id}" in resent
    assert (
        _("🔁 Sent again after revision. The earlier comment: {comment}").format(
            comment="Добавьте фото с мероприятия"
        )
        in resent
    )


async def test_forged_foreign_report_is_refused(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    curator = tg.user(world.curator.telegram_id)
    for action in ("confirm", "return", "files"):
        requests = await harness.click(
            curator, ReviewAction(action=action, report_id=submitted["b1"].id).pack()
        )
        assert alerts(requests) == [_("This is not available to you.")]
    assert (
        await state_of(session_factory, submitted["b1"].id)
    ).review_state == ReviewState.SUBMITTED
    requests = await harness.click(curator, ReviewAction(action="confirm", report_id=10**9).pack())
    assert alerts(requests) == [_("This item no longer exists or is not available to you.")]


async def test_files_are_sent_to_the_curator(harness: Harness, world: World, submitted, tg):
    requests = await harness.click(
        tg.user(world.curator.telegram_id),
        ReviewAction(action="files", report_id=submitted["a1"].id).pack(),
    )
    (document,) = sent(requests, SendDocument)
    assert document.document == "file-1" and document.chat_id == world.curator.telegram_id


async def test_staff_cannot_review(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    for user in (world.teacher, world.coordinator):
        (text,) = sent(await harness.send(tg.user(user.telegram_id), "/review"))
        assert text.text == _("This is not available for your role. /help lists what you can do.")
        requests = await harness.click(
            tg.user(user.telegram_id),
            ReviewAction(action="confirm", report_id=submitted["a1"].id).pack(),
        )
        assert alerts(requests)
    assert (
        await state_of(session_factory, submitted["a1"].id)
    ).review_state == ReviewState.SUBMITTED


async def test_undeliverable_notice_is_reported_to_the_curator(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    # The first call of the confirmation is the notice to the author: make it fail.
    harness.recorder.add_error(403, "Forbidden: bot was blocked by the user")
    requests = await harness.click(
        tg.user(world.curator.telegram_id),
        ReviewAction(action="confirm", report_id=submitted["a1"].id).pack(),
    )
    assert alerts(requests) == [_("Confirmed. The author could not be notified in Telegram.")]
    assert (
        await state_of(session_factory, submitted["a1"].id)
    ).review_state == ReviewState.CONFIRMED


def answers(requests: list[Any]) -> list[AnswerCallbackQuery]:
    return [r for r in requests if isinstance(r, AnswerCallbackQuery)]


async def test_confirm_says_so_and_the_queue_goes_on_where_it_was(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    curator = tg.user(world.curator.telegram_id)
    a1, a2 = submitted["a1"].id, submitted["a2"].id
    requests = await harness.click(
        curator, ReviewAction(action="confirm", report_id=a1, offset=0).pack()
    )
    (answer,) = answers(requests)
    assert answer.text == _("✅ Report №{id} is confirmed.").format(id=a1)
    assert not answer.show_alert
    (card,) = sent(requests, EditMessageText)
    assert f"№{a2}" in card.text and _("<b>For review: {k} of {n}</b>").format(k=1, n=1) in (
        card.text
    )


async def test_return_keeps_the_place_in_the_queue(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        a3 = ActivityReport(
            school_id=world.school_a.id,
            author_id=world.teacher.id,
            title="Третий",
            held_on=date(2026, 11, 5),
            mark=Mark.DONE,
        )
        session.add(a3)
    curator = tg.user(world.curator.telegram_id)
    (card,) = sent(await harness.click(curator, ReviewSkip(offset=1).pack()))
    assert "Семинар" in card.text  # a2, the second of three
    a2 = submitted["a2"].id
    await harness.click(curator, ReviewAction(action="return", report_id=a2, offset=1).pack())
    requests = await harness.send(curator, "Нет фото")
    card = sent(requests)[-1]
    # The returned report left the queue; the queue goes on with the third, not the first.
    assert "Третий" in card.text and "Урок цифры" not in card.text
    assert _("<b>For review: {k} of {n}</b>").format(k=2, n=2) in card.text


async def test_review_of_one_school_by_name(
    harness: Harness, world: World, submitted, tg, i18n_ru
):
    municipal = tg.user(world.municipal.telegram_id)
    (card,) = sent(await harness.send(municipal, "/review сош №5"))
    assert "Чужой отчёт" in card.text
    assert (
        _("<b>For review at {school}: {k} of {n}</b>").format(school="СОШ №5", k=1, n=1)
        in card.text
    )

    (picker,) = sent(await harness.send(municipal, "/review СОШ"))
    buttons = [b.callback_data for row in picker.reply_markup.inline_keyboard for b in row]
    assert buttons == [
        ReviewSchool(school_id=world.school_a.id).pack(),
        ReviewSchool(school_id=world.school_b.id).pack(),
    ]
    (card,) = sent(
        await harness.click(municipal, ReviewSchool(school_id=world.school_a.id).pack())
    )
    assert "Урок цифры" in card.text and "Чужой" not in card.text
    # «Next» stays within the school.
    next_button = [
        b.callback_data
        for row in card.reply_markup.inline_keyboard
        for b in row
        if b.callback_data.startswith("vs:")
    ]
    assert next_button == [ReviewSkip(offset=1, school=world.school_a.id).pack()]
    (text,) = [r.text for r in sent(await harness.send(municipal, "/review гимназия"))]
    assert text == _("No school of yours matches «{query}».").format(query="гимназия")


async def test_confirm_all_reports_of_a_school_at_once(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    municipal = tg.user(world.municipal.telegram_id)
    a1, a2, b1 = (submitted[k].id for k in ("a1", "a2", "b1"))
    (card,) = sent(await harness.send(municipal, "/review"))
    batch = ReviewAction(action="batch", report_id=a1, offset=0).pack()
    assert batch in [b.callback_data for row in card.reply_markup.inline_keyboard for b in row]

    (listing,) = sent(await harness.click(municipal, batch))
    assert f"№{a1}" in listing.text and f"№{a2}" in listing.text and f"№{b1}" not in listing.text
    # Nothing is confirmed until «Yes».
    assert (await state_of(session_factory, a1)).review_state == ReviewState.SUBMITTED

    requests = await harness.click(
        municipal, ReviewAction(action="batch_yes", report_id=a1, offset=0).pack()
    )
    (answer,) = answers(requests)
    assert answer.text == _("✅ Confirmed: {count}.").format(count=2)
    for report_id in (a1, a2):
        assert (await state_of(session_factory, report_id)).review_state == ReviewState.CONFIRMED
    assert (await state_of(session_factory, b1)).review_state == ReviewState.SUBMITTED
    notices = [r.chat_id for r in sent(requests, SendMessage)]
    assert notices.count(world.teacher.telegram_id) == 1
    assert notices.count(world.coordinator.telegram_id) == 1


async def test_confirm_all_without_the_listing_changes_nothing(
    harness: Harness, world: World, submitted, tg, session_factory, i18n_ru
):
    curator = tg.user(world.curator.telegram_id)
    a1 = submitted["a1"].id
    requests = await harness.click(curator, ReviewAction(action="batch_yes", report_id=a1).pack())
    assert alerts(requests) == [_("This button is no longer active.")]
    assert (await state_of(session_factory, a1)).review_state == ReviewState.SUBMITTED
    # A foreign school's report can't be listed either.
    requests = await harness.click(
        curator, ReviewAction(action="batch", report_id=submitted["b1"].id).pack()
    )
    assert alerts(requests) and not sent(requests)


async def test_longest_reports_fit_telegrams_limits(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    """The longest report the bot accepts — every text at its limit, 30 long links, a long
    comment — on the curator's card and on the author's card while fixing it. The recording
    session refuses any text Telegram would (tests/telegram.py): over 4,096 shown characters,
    or HTML cut in two."""
    link = "https://docs.google.com/document/d/" + "x" * 1900
    async with session_factory() as session, session.begin():
        report = ActivityReport(
            school_id=world.school_a.id,
            author_id=world.teacher.id,
            title="Т" * MAX_TITLE,
            description="<b>описание</b> & " * (MAX_DESCRIPTION // 18),
            organizer="О" * 300,
            participants_count=999,
            participants_category="У" * 300,
            held_on=date(2026, 11, 2),
            mark=Mark.DONE,
        )
        report.evidence = [
            Evidence(kind=EvidenceKind.LINK, url=f"{link}{i}") for i in range(MAX_LINKS)
        ]
        session.add(report)
    curator = tg.user(world.curator.telegram_id)
    (card,) = sent(await harness.send(curator, "/review"))
    assert telegram_html_problems(card.text) == []
    await harness.click(curator, ReviewAction(action="return", report_id=report.id).pack())
    await harness.send(curator, "Исправьте <всё> & " * 55)
    teacher = tg.user(world.teacher.telegram_id)
    (form,) = sent(
        await harness.click(teacher, MyReport(action="edit", report_id=report.id).pack())
    )
    assert telegram_html_problems(form.text) == []
    assert "Исправьте &lt;всё&gt; &amp;" in form.text
