"""Issue 17, «Forms and buttons», through the real dispatcher."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
)
from aiogram.types import Document, InlineKeyboardMarkup, ReplyKeyboardMarkup, Sticker
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.ui.callbacks import (
    Cancel,
    LangChoice,
    MyReport,
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.formatting import day
from models import ActivityReport, Evidence, FsmRecord, RoadmapItem, User
from tests.conftest import Harness, World
from tests.telegram import inline_keyboard

MSK = ZoneInfo("Europe/Moscow")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
STICKER = Sticker(
    file_id="s",
    file_unique_id="s",
    type="regular",
    width=1,
    height=1,
    is_animated=False,
    is_video=False,
)


def today() -> date:
    return datetime.now(MSK).date()


def texts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


def alerts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, AnswerCallbackQuery) and r.show_alert]


def markup_data(requests: list[Any]) -> list[str]:
    """Callback data of the latest inline keyboard the bot showed among these requests."""
    for request in reversed(requests):
        markup = getattr(request, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            return [
                b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data
            ]
    return []


def button(requests: list[Any], prefix: str) -> str:
    """The shown button whose callback data starts with this prefix: what a user can press."""
    return next(d for d in markup_data(requests) if d.startswith(prefix))


@pytest.fixture
async def items(session_factory, world: World) -> list[RoadmapItem]:
    async with session_factory() as session, session.begin():
        rows = [
            RoadmapItem(
                school_id=world.school_a.id,
                number=str(i),
                title=f"Мероприятие {i}",
                due_date=today() + timedelta(days=i),
                position=i,
            )
            for i in range(1, 9)
        ]
        session.add_all(rows)
    return rows


async def draft_of(session_factory) -> Any:
    """The stored draft (JSON data), or None."""
    async with session_factory() as session:
        record = await session.scalar(select(FsmRecord))
    return None if record is None else record.data.get("draft")


async def reports(session_factory) -> list[ActivityReport]:
    async with session_factory() as session:
        return list(await session.scalars(select(ActivityReport).order_by(ActivityReport.id)))


async def submit_one(harness: Harness, user, item_id: int, text: str = "Сделали https://a.ru/1"):
    await harness.send(user, "/report")
    await harness.click(user, ReportItem(item_id=item_id).pack())
    await harness.click(user, ReportMark(mark="done").pack())
    await harness.send(user, text)
    return await harness.click(user, ReportNav(action="submit").pack())


# --- 5: «message is not modified» is a success ---------------------------------------------


async def test_double_tap_on_cancel_and_retapped_page_are_not_errors(
    harness: Harness, world: World, items, tg, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    page = button(shown, ReportPage.__prefix__ + ":")
    await harness.click(teacher, page)
    harness.recorder.add_error(400, NOT_MODIFIED)
    harness.recorder.add_result(True)  # the callback answer, after the screen
    again = await harness.click(teacher, page)
    failure = _(
        "Your input is saved, but my answer could not be delivered. "
        "Send /help or repeat the last step in a minute."
    )
    assert failure not in texts(again) and not alerts(again)

    cancel = button(shown, Cancel.__prefix__)
    await harness.click(teacher, cancel, message_id=77)
    harness.recorder.add_error(400, NOT_MODIFIED)  # the edit; the press is answered after it
    second = await harness.click(teacher, cancel, message_id=77)
    assert failure not in texts(second)
    assert [type(r).__name__ for r in second] == ["EditMessageText", "AnswerCallbackQuery"]


# --- 6: a cancel says what it cancelled -------------------------------------------------------


async def set_locale(session_factory, telegram_id: int, locale: str) -> None:
    async with session_factory() as session, session.begin():
        user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
        user.locale = locale


async def test_cancel_says_what_it_cancelled(
    harness: Harness, world: World, items, tg, session_factory, i18n
):
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    with i18n.context(), i18n.use_locale("ru"):
        assert texts(await harness.click(teacher, button(shown, Cancel.__prefix__))) == [
            _("The report draft is discarded. /report starts a new one.")
        ]
    assert await draft_of(session_factory) is None

    await submit_one(harness, teacher, items[0].id)
    (report,) = await reports(session_factory)
    await harness.click(teacher, MyReport(action="edit", report_id=report.id).pack())
    with i18n.context(), i18n.use_locale("ru"):
        assert texts(await harness.send(teacher, "/cancel")) == [
            _("Changes to report №{id} are discarded; the report stays as it was.").format(
                id=report.id
            )
        ]
        assert texts(await harness.send(teacher, "/cancel")) == [_("There is nothing to cancel.")]

    await set_locale(session_factory, world.teacher.telegram_id, "en")
    await harness.click(teacher, MyReport(action="evidence", report_id=report.id).pack())
    with i18n.context(), i18n.use_locale("en"):
        assert texts(await harness.send(teacher, "/cancel")) == [
            _("Adding evidence is finished; what you sent is saved.")
        ]

    municipal = tg.user(world.municipal.telegram_id)
    await harness.send(municipal, "/invite")
    with i18n.context(), i18n.use_locale("ru"):
        assert texts(await harness.click(municipal, Cancel().pack())) == [
            _("The invite is cancelled; no link was made.")
        ]


# --- 7: a stranger's copied button explains access first -------------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_stranger_pressing_a_copied_button_gets_the_access_explanation(
    harness: Harness, world: World, items, tg, i18n, locale
):
    stranger = tg.user(424242, language=locale)
    with i18n.context(), i18n.use_locale(locale):
        access = _(
            "This bot is for schools, their curators and municipal coordinators. "
            "To get access, ask your municipal coordinator or curator for an invite link "
            "and open it."
        )
    for data in (
        ReportItem(item_id=items[0].id).pack(),
        ReportNav(action="back").pack(),
        Cancel().pack(),
        MyReport(action="edit", report_id=1).pack(),
        "forged:data",
    ):
        assert alerts(await harness.click(stranger, data)) == [access], data


# --- 2: /lang redraws the on-screen menu; menu buttons work in every language ----------------


async def test_lang_resends_the_menu_and_old_menu_buttons_still_work(
    harness: Harness, world: World, items, tg, i18n
):
    teacher = tg.user(world.teacher.telegram_id)
    with i18n.context(), i18n.use_locale("ru"):
        old_report, old_my = _("📝 Report an activity"), _("📋 My reports")
    await harness.send(teacher, "/lang")
    sent = await harness.click(teacher, LangChoice(code="en").pack())
    (menu,) = [r for r in sent if isinstance(r, SendMessage)]
    assert menu.text == "Language set: English."
    assert isinstance(menu.reply_markup, ReplyKeyboardMarkup)
    labels = [b.text for row in menu.reply_markup.keyboard for b in row]
    assert labels == ["📝 Report an activity", "📋 My reports"]

    # The Russian menu still on the phone keeps working, answering in English.
    (listing,) = texts(await harness.send(teacher, old_my))
    assert listing == "No reports yet. /report logs an activity."
    sent = await harness.send(teacher, old_report)
    assert "Step 1 of 4" in texts(sent)[0]
    await harness.send(teacher, "/cancel")

    # And back: the English menu works in Russian.
    sent = await harness.click(teacher, LangChoice(code="ru").pack())
    (menu,) = [r for r in sent if isinstance(r, SendMessage)]
    assert isinstance(menu.reply_markup, ReplyKeyboardMarkup)
    assert [b.text for row in menu.reply_markup.keyboard for b in row] == [old_report, old_my]
    with i18n.context(), i18n.use_locale("ru"):
        assert texts(await harness.send(teacher, "📋 My reports")) == [
            _("No reports yet. /report logs an activity.")
        ]


# --- 9: step 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_step_one_hint_substeps_and_activity_labels(
    harness: Harness, world: World, tg, session_factory, i18n, locale
):
    this_year = today().year
    async with session_factory() as session, session.begin():
        user = await session.scalar(select(User).where(User.id == world.teacher.id))
        user.locale = locale
        session.add_all(
            [
                RoadmapItem(
                    school_id=world.school_a.id,
                    section="2. Кадровые условия",
                    number="3",
                    title="Семинар",
                    due_date=date(this_year - 1, 9, 30),
                    position=1,
                ),
                RoadmapItem(
                    school_id=world.school_a.id,
                    section="Воспитание",
                    number="1",
                    title="Классный час",
                    due_date=today() + timedelta(days=3),
                    position=2,
                ),
            ]
        )
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    labels = [row[0].text for row in inline_keyboard(shown[0])[:2]]
    assert labels[0] == f"2.3. Семинар · ⚠ 30.09.{(this_year - 1) % 100:02d}"
    soon = today() + timedelta(days=3)
    shown_soon = f"{soon:%d.%m}" if soon.year == this_year else f"{soon:%d.%m.%y}"
    assert labels[1] == f"Воспитание · 1. Классный час · {shown_soon}"

    with i18n.context(), i18n.use_locale(locale):
        step1 = _("Step {k} of {n}").format(k=1, n=4)
        assert texts(await harness.send(teacher, sticker=STICKER)) == [
            _(
                "Choose the activity with a button above, or type words from its title to "
                "search. The draft is kept; /cancel drops it."
            )
        ]
        (direction,) = texts(await harness.click(teacher, ReportItem(item_id=0).pack()))
        assert direction.startswith(step1 + " · " + _("other activity: the direction"))
        (name,) = texts(await harness.click(teacher, ReportDirection(code="health").pack()))
        assert name.startswith(step1 + " · " + _("other activity: its name"))


# --- 10: the date can't be missed on the card ------------------------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_the_card_leads_with_the_date_and_says_today(
    harness: Harness, world: World, items, tg, session_factory, i18n, locale
):
    await set_locale(session_factory, world.teacher.telegram_id, locale)
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    sent = await harness.send(teacher, "Провели https://a.ru/1")
    card = texts(sent)[-1].split("\n")
    with i18n.context(), i18n.use_locale(locale):
        assert card[1] == _(
            "📅 <b>Date: today, {date}</b> — if it was held earlier, press «✏ Change»."
        ).format(date=day(today()))  # in the user's locale: «03.09.2026», «9/3/2026»
        assert _("✏ Change") in card[1]
        await harness.click(teacher, ReportNav(action="edit").pack())
        await harness.click(teacher, ReportField(name="date").pack())
        changed = texts(await harness.click(teacher, ReportDate(days_ago=1).pack()))[-1]
        yesterday = today() - timedelta(days=1)
        assert changed.split("\n")[1] == _("📅 <b>Date: {date}</b>").format(date=day(yesterday))


# --- 1: buttons belong to their form -----------------------------------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_old_form_buttons_leave_the_current_draft_alone(
    harness: Harness, world: World, items, tg, session_factory, i18n, locale
):
    await set_locale(session_factory, world.teacher.telegram_id, locale)
    teacher = tg.user(world.teacher.telegram_id)
    # The first form: its card's «◀ Назад» and «✖ Отмена» stay on the phone after sending.
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:1:"))
    shown = await harness.click(teacher, button(shown, "rm:done:"))
    card = await harness.send(teacher, "Первый https://a.ru/1")
    old_back, old_cancel = button(card, "rn:back:"), button(card, "x:")
    await harness.click(teacher, button(card, "rn:submit:"))

    # The second form, at the mark step.
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:2:"))
    assert button(shown, "rn:back:") != old_back  # another form, another id
    before = await draft_of(session_factory)
    with i18n.context(), i18n.use_locale(locale):
        hint = _("This button belongs to an earlier form; the one in progress is kept as it is.")
    for old in (old_back, old_cancel):
        sent = await harness.click(teacher, old, message_id=555)
        assert alerts(sent) == [hint]
        assert not texts(sent)  # the current draft is not drawn into the old message
        (took,) = [r for r in sent if isinstance(r, EditMessageReplyMarkup)]
        assert took.message_id == 555 and took.reply_markup is None
    assert await draft_of(session_factory) == before
    async with session_factory() as session:
        record = await session.scalar(select(FsmRecord))
    assert record.state == "ReportForm:mark"

    # The current form's own buttons still work.
    sent = await harness.click(teacher, button(shown, "rm:partial:"))
    assert (await draft_of(session_factory))["mark"] == "partial"
    assert texts(sent)


async def drop_draft(session_factory) -> None:
    """What an old form leaves: its state, without the draft (lost or never written)."""
    async with session_factory() as session, session.begin():
        record = await session.scalar(select(FsmRecord))
        record.data = {k: v for k, v in record.data.items() if k != "draft"}


async def test_a_form_without_its_draft_says_so_and_ends(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    gone = _("This form is no longer active. Start again: /report")

    # A button of the form: an activity of the list, a mark.
    for steps, press in (([], "ri:1:"), (["ri:1:"], "rm:done:")):
        shown = await harness.send(teacher, "/report")
        for prefix in steps:
            shown = await harness.click(teacher, button(shown, prefix))
        await drop_draft(session_factory)
        sent = await harness.click(teacher, button(shown, press))
        assert alerts(sent) == [gone] and not texts(sent)
        async with session_factory() as session:
            record = await session.scalar(select(FsmRecord))
        assert record is None or (record.state is None and not record.data)

    # A typed answer, and a message of a kind the step does not take.
    for message in ({"text": "Провели урок"}, {"sticker": STICKER}):
        shown = await harness.send(teacher, "/report")
        shown = await harness.click(teacher, button(shown, "ri:1:"))
        await harness.click(teacher, button(shown, "rm:done:"))
        await drop_draft(session_factory)
        assert texts(await harness.send(teacher, **message)) == [gone]
        assert await draft_of(session_factory) is None

    # An edited answer is not taken; a forged button with the draft in place is just stale.
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:0:"))
    shown = await harness.click(teacher, button(shown, "rd:health:"))
    typed = harness.updates.message(teacher, "День здоровья")
    shown = await harness.feed(typed)
    await harness.click(teacher, button(shown, "rm:done:"))
    await harness.send(teacher, "Провели https://a.ru/1")
    await harness.click(teacher, ReportNav(action="edit").pack())
    await harness.click(teacher, ReportField(name="date").pack())
    assert alerts(await harness.click(teacher, ReportDate(days_ago=7).pack())) == [
        _("This button is no longer active.")
    ]
    assert (await draft_of(session_factory))["held_on"] is None
    await drop_draft(session_factory)
    sent = await harness.feed(harness.updates.edited(typed, "День здоровья и спорта"))
    assert texts(sent) == [
        _(
            "Edits of sent messages aren't taken here. If something needs correcting, "
            "send it again as a new message."
        )
    ]


async def test_a_typed_answer_takes_the_buttons_from_the_previous_form_message(
    harness: Harness, world: World, items, tg, session_factory
):
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:1:"), message_id=10_000)
    shown = await harness.click(teacher, button(shown, "rm:done:"), message_id=10_000)
    sent = await harness.send(teacher, "Провели урок")  # no link: on to the evidence step
    new, took = sent[0], sent[-1]
    assert isinstance(new, SendMessage) and isinstance(took, EditMessageReplyMarkup)
    assert took.message_id == 10_000 and took.reply_markup is None
    async with session_factory() as session:
        record = await session.scalar(select(FsmRecord))
    assert record.data["form_msg"] != 10_000  # the new message is the form message now


# --- 4: the evidence step keeps one message; the confirmation brings the menu ---------------


def document(harness: Harness, user, name: str, album: str | None = None):
    return harness.updates.message(
        user,
        document=Document(
            file_id=f"f-{name}", file_unique_id=f"u-{name}", file_name=name, file_size=1000
        ),
        media_group_id=album,
    )


async def to_evidence_step(harness: Harness, teacher, item_id: int) -> list[Any]:
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, f"ri:{item_id}:"))
    await harness.click(teacher, button(shown, "rm:done:"))
    return await harness.send(teacher, "Провели урок")  # no link: the evidence step


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_evidence_updates_one_prompt_and_the_confirmation_brings_the_menu(
    harness: Harness, world: World, items, tg, session_factory, i18n, locale
):
    await set_locale(session_factory, world.teacher.telegram_id, locale)
    teacher = tg.user(world.teacher.telegram_id)
    (prompt,) = [
        r
        for r in await to_evidence_step(harness, teacher, items[0].id)
        if isinstance(r, SendMessage)
    ]
    async with session_factory() as session:
        prompt_id = (await session.scalar(select(FsmRecord))).data["form_msg"]
    with i18n.context(), i18n.use_locale(locale):
        step4 = _("Step {k} of {n}").format(k=4, n=4)
        assert (prompt.text or "").startswith(step4)
        for n, update in enumerate(
            [
                harness.updates.message(teacher, "https://a.ru/1"),
                document(harness, teacher, "протокол.pdf"),
                harness.updates.photo(teacher),
            ],
            1,
        ):
            sent = await harness.feed(update)
            assert not [r for r in sent if isinstance(r, SendMessage)]  # no new prompt
            (edit,) = [r for r in sent if isinstance(r, EditMessageText)]
            assert edit.message_id == prompt_id and (edit.text or "").startswith(step4)
            links, files = (1, n - 1)
            assert _("Attached: links {links}, files {files}.").format(
                links=links, files=files
            ) in (edit.text or "")
        shown = await harness.click(teacher, button([edit], "rn:done:"))
        sent = await harness.click(teacher, button(shown, "rn:submit:"))
        (report,) = await reports(session_factory)
        (confirmation,) = [r for r in sent if isinstance(r, SendMessage)]
        assert confirmation.text == (
            _("✅ Report №{id} is sent. The curator will review it.").format(id=report.id)
            + "\n"
            + _("What next? The menu below: report another activity or see yours.")
        )
        assert isinstance(confirmation.reply_markup, ReplyKeyboardMarkup)
        assert [type(r).__name__ for r in sent] == [
            "EditMessageReplyMarkup",  # the card stays, without its buttons
            "SendMessage",
            "AnswerCallbackQuery",  # after the handler (CallbackAnswerPolicy)
        ]


# --- 3: one confirmation per album, with the count -------------------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_an_album_gets_one_confirmation_with_the_count(
    harness: Harness, world: World, items, tg, session_factory, i18n, locale
):
    await set_locale(session_factory, world.teacher.telegram_id, locale)
    teacher = tg.user(world.teacher.telegram_id)
    await to_evidence_step(harness, teacher, items[0].id)
    answers = []
    for name in ("1.pdf", "2.pdf", "3.pdf"):
        answers.append(await harness.feed(document(harness, teacher, name, album="alb-1")))
    first = [r for r in answers[0] if isinstance(r, SendMessage)]
    later = [r for batch in answers[1:] for r in batch if isinstance(r, SendMessage)]
    assert len(first) == 1 and later == []
    edits = [r for batch in answers[1:] for r in batch if isinstance(r, EditMessageText)]
    async with session_factory() as session:
        record = await session.scalar(select(FsmRecord))
    assert [e.message_id for e in edits] == [record.data["form_msg"]] * 2
    with i18n.context(), i18n.use_locale(locale):
        album = _("📎 Album: files received — {count}.")
        assert (first[0].text or "").startswith(album.format(count=1))
        assert [(e.text or "").split("\n")[0] for e in edits] == [
            album.format(count=2),
            album.format(count=3),
        ]
    assert [f["name"] for f in record.data["draft"]["files"]] == ["1.pdf", "2.pdf", "3.pdf"]

    # A second album starts its own confirmation.
    sent = await harness.feed(document(harness, teacher, "4.pdf", album="alb-2"))
    assert len([r for r in sent if isinstance(r, SendMessage)]) == 1


async def test_an_album_added_later_with_evidence_gets_one_confirmation(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await submit_one(harness, teacher, items[0].id)
    (report,) = await reports(session_factory)
    await harness.click(teacher, MyReport(action="evidence", report_id=report.id).pack())
    one = await harness.feed(document(harness, teacher, "a.pdf", album="alb-9"))
    two = await harness.feed(document(harness, teacher, "b.pdf", album="alb-9"))
    (sent,) = [r for r in one if isinstance(r, SendMessage)]
    (edit,) = [r for r in two if isinstance(r, EditMessageText)]
    assert not [r for r in two if isinstance(r, SendMessage)]
    assert (sent.text or "").startswith(_("📎 Album: files received — {count}.").format(count=1))
    assert (edit.text or "").startswith(_("📎 Album: files received — {count}.").format(count=2))
    async with session_factory() as session:
        names = await session.scalars(
            select(Evidence.file_name).where(Evidence.report_id == report.id)
        )
        assert sorted(n for n in names if n) == ["a.pdf", "b.pdf"]


# --- 8: edits of answers are taken; other edits are answered ---------------------------------


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_an_edited_description_updates_the_draft_and_the_card(
    harness: Harness, world: World, items, tg, session_factory, i18n, locale
):
    await set_locale(session_factory, world.teacher.telegram_id, locale)
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:1:"))
    await harness.click(teacher, button(shown, "rm:done:"))
    typed = harness.updates.message(teacher, "Провели урок https://a.ru/1")
    await harness.feed(typed)  # straight to the card
    async with session_factory() as session:
        card_id = (await session.scalar(select(FsmRecord))).data["form_msg"]

    sent = await harness.feed(
        harness.updates.edited(typed, "Провели два урока https://a.ru/1 https://a.ru/2")
    )
    draft = await draft_of(session_factory)
    assert draft["description"] == "Провели два урока https://a.ru/1 https://a.ru/2"
    assert draft["links"] == ["https://a.ru/1", "https://a.ru/2"]
    (card,) = [r for r in sent if isinstance(r, EditMessageText)]
    assert card.message_id == card_id and "Провели два урока" in (card.text or "")
    assert not [r for r in sent if isinstance(r, SendMessage)]

    # An edit of a message that answered nothing of this form is answered, not ignored.
    other = await harness.send(teacher, "просто текст")
    sent = await harness.feed(harness.updates.edited(harness.updates.message(teacher, "x"), "y"))
    with i18n.context(), i18n.use_locale(locale):
        assert texts(sent) == [
            _(
                "Edits of sent messages aren't taken here. If something needs correcting, "
                "send it again as a new message."
            )
        ]
    assert texts(other)  # (the stray text got the card's hint)

    await harness.click(teacher, button([card], "rn:submit:"))
    (report,) = await reports(session_factory)
    assert report.description == "Провели два урока https://a.ru/1 https://a.ru/2"


async def test_an_edited_title_before_the_card_is_taken_and_said_so(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    shown = await harness.click(teacher, button(shown, "ri:0:"))
    await harness.click(teacher, button(shown, "rd:health:"))
    typed = harness.updates.message(teacher, "День здоровя")
    await harness.feed(typed)
    sent = await harness.feed(harness.updates.edited(typed, "День здоровья"))
    assert (await draft_of(session_factory))["title"] == "День здоровья"
    assert texts(sent) == [
        _("✏ Your edit is taken: «{field}» is updated.").format(field=_("Activity"))
    ]


async def test_edits_after_the_form_and_by_strangers(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    typed = harness.updates.message(teacher, "Сделали https://a.ru/1")
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    await harness.feed(typed)
    await harness.click(teacher, ReportNav(action="submit").pack())
    sent = await harness.feed(harness.updates.edited(typed, "Сделали иначе"))
    assert texts(sent) == [
        _(
            "Edits of sent messages aren't taken here. If something needs correcting, "
            "send it again as a new message."
        )
    ]
    (report,) = await reports(session_factory)
    assert report.description == "Сделали https://a.ru/1"

    stranger = tg.user(424242)
    sent = await harness.feed(harness.updates.edited(harness.updates.message(stranger, "a"), "b"))
    assert texts(sent) == [
        _(
            "This bot is for schools, their curators and municipal coordinators. "
            "To get access, ask your municipal coordinator or curator for an invite link "
            "and open it."
        )
    ]


async def test_edited_messages_are_subscribed(dispatcher):
    assert "edited_message" in dispatcher.resolve_used_update_types()
