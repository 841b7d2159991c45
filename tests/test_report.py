"""/report, /my, /evidence through the real dispatcher, asserting the rows written."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import InlineKeyboardMarkup, Sticker, Update, Voice
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.dispatcher import create_bot, create_dispatcher
from bot.ui.callbacks import (
    Cancel,
    MyReport,
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.keyboards.report import MENU_REPORT
from bot.ui.texts import input_problem
from models import (
    ActivityReport,
    AuditEvent,
    EvidenceKind,
    FsmRecord,
    Mark,
    ReviewState,
    RoadmapItem,
    User,
)
from models.reports import Draft, linked_elsewhere, submit_draft
from tests.conftest import Harness, World
from tests.telegram import RecordingSession, UpdateFactory, inline_keyboard

MSK = ZoneInfo("Europe/Moscow")


def today() -> date:
    return datetime.now(MSK).date()


def texts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


def buttons(requests: list[Any]) -> set[str]:
    """The callback data of the bot's latest inline keyboard among these requests."""
    for request in reversed(requests):
        markup = getattr(request, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            return {
                b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data
            }
    return set()


def shown_button(requests: list[Any], packed: str) -> str:
    """The shown button that `packed` (made with an empty form id) stands for."""
    (found,) = [data for data in buttons(requests) if data.startswith(packed)]
    return found


def alerts(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, AnswerCallbackQuery) and r.show_alert]


@pytest.fixture
async def items(session_factory, world: World) -> list[RoadmapItem]:
    async with session_factory() as session, session.begin():
        rows = [
            RoadmapItem(
                school_id=world.school_a.id,
                number="1",
                title="Урок цифры в 5-х классах",
                due_raw="до 01.12.2026",
                due_date=today() + timedelta(days=5),
                position=1,
            ),
            RoadmapItem(
                school_id=world.school_a.id,
                number="2",
                title="Методический семинар",
                due_raw="до 01.10.2026",
                due_date=today() - timedelta(days=30),
                position=2,
            ),
            RoadmapItem(
                school_id=world.school_a.id,
                number="3",
                title="Профориентационная смена",
                due_raw="В течение учебного года",
                due_date=None,
                position=3,
                direction="career",
            ),
            RoadmapItem(
                school_id=world.school_b.id,
                number="1",
                title="Чужое мероприятие",
                due_raw=None,
                position=1,
            ),
        ]
        session.add_all(rows)
    return rows


async def reports(session_factory) -> list[ActivityReport]:
    async with session_factory() as session:
        result = await session.scalars(
            select(ActivityReport)
            .options(selectinload(ActivityReport.evidence))
            .order_by(ActivityReport.id)
        )
        return list(result.all())


async def test_typical_report_takes_at_most_six_actions(
    harness: Harness, world: World, items, tg, session_factory
):
    """A roadmap activity done today with one link: count every update that reaches the bot."""
    received: list[Update] = []

    async def count(handler: Any, update: Any, data: dict[str, Any]) -> Any:
        received.append(update)
        return await handler(update, data)

    harness.dp.update.outer_middleware(count)
    teacher = tg.user(world.teacher.telegram_id)
    shown = await harness.send(teacher, "/report")
    for data in (ReportItem(item_id=items[0].id).pack(), ReportMark(mark="done").pack()):
        # A user can only press what the bot shows (with the form's id, after the empty one).
        shown = await harness.click(teacher, shown_button(shown, data))
    shown = await harness.send(teacher, "Провели урок для 5А и 5Б, фото: https://vk.com/wall-1_2")
    await harness.click(teacher, shown_button(shown, ReportNav(action="submit").pack()))

    assert len(received) <= 6
    (report,) = await reports(session_factory)
    assert report.roadmap_item_id == items[0].id and report.title == items[0].title
    assert report.mark == Mark.DONE and report.held_on == today()
    assert report.school_id == world.school_a.id and report.author_id == world.teacher.id
    assert report.organizer == "СОШ №2"  # the default: the school
    assert report.review_state == ReviewState.SUBMITTED
    assert [e.url for e in report.evidence] == ["https://vk.com/wall-1_2"]
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []  # draft gone once sent


async def test_full_flow_with_other_activity_files_and_every_field(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await harness.send(coordinator, str(MENU_REPORT))
    assert _("Step {k} of {n}").format(k=1, n=4) in texts(sent)[0]
    await harness.click(coordinator, ReportItem(item_id=0).pack())
    await harness.click(coordinator, ReportDirection(code="health").pack())
    await harness.send(coordinator, "День здоровья")
    await harness.click(coordinator, ReportMark(mark="partial").pack())
    sent = await harness.send(coordinator, "Провели эстафету, без ссылок")
    assert _("Step {k} of {n}").format(k=4, n=4) in texts(sent)[0]
    await harness.send(coordinator, "https://school2.ru/news/1 www.school2.ru/news/1 сайт")
    await harness.feed(
        harness.updates.document(coordinator, file_name="протокол.pdf", file_size=2048)
    )
    big = await harness.feed(
        harness.updates.document(coordinator, file_name="видео.mp4", file_size=50 * 1024 * 1024)
    )
    assert any("20" in t for t in texts(big))
    await harness.feed(harness.updates.photo(coordinator))
    await harness.click(coordinator, ReportNav(action="done").pack())

    await harness.click(coordinator, ReportNav(action="edit").pack())
    await harness.click(coordinator, ReportField(name="date").pack())
    await harness.click(coordinator, ReportDate(days_ago=1).pack())
    await harness.click(coordinator, ReportNav(action="edit").pack())
    await harness.click(coordinator, ReportField(name="participants").pack())
    await harness.send(coordinator, "78 обучающихся 3-х классов")
    await harness.click(coordinator, ReportNav(action="edit").pack())
    await harness.click(coordinator, ReportField(name="organizer").pack())
    sent = await harness.send(coordinator, "Учитель физкультуры Петров П.П.")
    card = texts(sent)[0]
    assert "78 обучающихся 3-х классов" in card and "Петров" in card
    await harness.click(coordinator, ReportNav(action="submit").pack())

    (report,) = await reports(session_factory)
    assert report.roadmap_item_id is None and report.direction == "health"
    assert report.title == "День здоровья" and report.mark == Mark.PARTIAL
    assert report.held_on == today() - timedelta(days=1)
    assert (report.participants_count, report.participants_category) == (
        78,
        "обучающихся 3-х классов",
    )
    assert report.organizer == "Учитель физкультуры Петров П.П."
    kinds = sorted(
        (e.kind.value, e.url or e.file_name or "photo", e.too_big) for e in report.evidence
    )
    assert kinds == [
        ("document", "видео.mp4", True),
        ("document", "протокол.pdf", False),
        ("link", "https://school2.ru/news/1", False),
        ("link", "https://www.school2.ru/news/1", False),
        ("photo", "photo", False),
    ]
    photo = next(e for e in report.evidence if e.kind == EvidenceKind.PHOTO)
    assert photo.file_id == "photo-big"  # the largest size is kept


async def test_draft_survives_a_restart(
    world: World, items, tg, settings, session_factory, i18n, session
):
    """A new Dispatcher and bot over the same database continue and finish the draft."""
    teacher = tg.user(world.teacher.telegram_id)
    first = Harness(
        dp=create_dispatcher(settings, session_factory, i18n),
        bot=create_bot(settings, session=(rec := RecordingSession())),
        recorder=rec,
        updates=UpdateFactory(),
    )
    await first.send(teacher, "/report")
    await first.click(teacher, ReportItem(item_id=items[1].id).pack())
    await first.click(teacher, ReportMark(mark="not_done").pack())

    second = Harness(
        dp=create_dispatcher(settings, session_factory, i18n),
        bot=create_bot(settings, session=(rec2 := RecordingSession())),
        recorder=rec2,
        updates=UpdateFactory(),
    )
    await second.send(teacher, "Не провели: карантин")
    await second.click(teacher, ReportNav(action="done").pack())
    await second.click(teacher, ReportNav(action="submit").pack())

    (report,) = await reports(session_factory)
    assert report.roadmap_item_id == items[1].id and report.mark == Mark.NOT_DONE
    assert report.description == "Не провели: карантин" and report.evidence == []


async def test_coming_back_offers_continue_or_start_over(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    sent = await harness.send(teacher, "/report")
    assert texts(sent)[0].startswith(
        _("You have an unsent report draft (last change {when}).").split("{")[0]
    )

    sent = await harness.click(teacher, ReportNav(action="resume").pack())
    assert _("Step {k} of {n}").format(k=2, n=4) in texts(sent)[0]  # the mark step again

    await harness.send(teacher, "/report")
    sent = await harness.click(teacher, ReportNav(action="restart").pack())
    assert _("Step {k} of {n}").format(k=1, n=4) in texts(sent)[0]


async def test_back_walks_the_steps(harness: Harness, world: World, items, tg, i18n_ru):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    sent = await harness.click(teacher, ReportNav(action="back").pack())
    assert _("Step {k} of {n}").format(k=2, n=4) in texts(sent)[0]
    sent = await harness.click(teacher, ReportNav(action="back").pack())
    assert _("Step {k} of {n}").format(k=1, n=4) in texts(sent)[0]


async def test_roadmap_list_puts_overdue_first_and_searches(
    harness: Harness, world: World, items, tg
):
    teacher = tg.user(world.teacher.telegram_id)
    sent = await harness.send(teacher, "/report")
    keyboard = inline_keyboard(sent[0])
    labels = [row[0].text for row in keyboard[:3]]
    assert labels[0].startswith("2.") and "⚠" in labels[0]  # overdue
    assert labels[1].startswith("1.")  # due soon
    assert labels[2].startswith("3.")  # no date: last
    assert all("Чужое" not in row[0].text for row in keyboard)

    sent = await harness.send(teacher, "ПРОФОРИЕНТАЦ")
    rows = inline_keyboard(sent[0])
    assert rows[0][0].text.startswith("3.")
    assert ReportItem.unpack(rows[0][0].callback_data or "").item_id == items[2].id


async def test_paging(harness: Harness, world: World, tg, session_factory):
    async with session_factory() as session, session.begin():
        session.add_all(
            RoadmapItem(
                school_id=world.school_a.id, number=str(i), title=f"Мероприятие {i}", position=i
            )
            for i in range(1, 15)
        )
    teacher = tg.user(world.teacher.telegram_id)
    first = await harness.send(teacher, "/report")
    second = await harness.click(teacher, ReportPage(page=1).pack())
    first_ids = {b.callback_data for row in inline_keyboard(first[0]) for b in row}
    (page_two,) = [r for r in second if isinstance(r, EditMessageText)]
    second_ids = {b.callback_data for row in inline_keyboard(page_two) for b in row}
    item_ids = lambda ids: {i for i in ids if i.startswith("ri:") and not i.startswith("ri:0:")}  # noqa: E731
    assert len(item_ids(first_ids)) == 6 and len(item_ids(second_ids)) == 6
    assert not item_ids(first_ids) & item_ids(second_ids)


async def test_bad_input_at_every_step_keeps_the_draft(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    sticker = Sticker(
        file_id="s",
        file_unique_id="s",
        type="regular",
        width=1,
        height=1,
        is_animated=False,
        is_video=False,
    )
    voice = Voice(file_id="v", file_unique_id="v", duration=3)

    await harness.send(teacher, "/report")
    assert texts(await harness.send(teacher, sticker=sticker)) == [
        _(
            "Choose the activity with a button above, or type words from its title to search. "
            "The draft is kept; /cancel drops it."
        )
    ]
    await harness.click(teacher, ReportItem(item_id=0).pack())
    assert texts(await harness.send(teacher, "Текст вместо кнопки")) == [
        _("Please use the buttons above. The draft is kept; /cancel drops it.")
    ]
    # Forged values fail the callback filter (closed sets are enums): the fallback answers.
    assert alerts(await harness.click(teacher, "rd:astrology:")) == [
        _("This button is no longer active.")
    ]
    await harness.click(teacher, ReportDirection(code="creativity").pack())
    assert texts(await harness.send(teacher, "x" * 301)) == [
        input_problem("text_too_long", {"max": 300})
    ]
    await harness.send(teacher, "Концерт")
    assert texts(await harness.send(teacher, voice=voice)) == [
        _("Please use the buttons above. The draft is kept; /cancel drops it.")
    ]
    assert alerts(await harness.click(teacher, "rm:maybe:")) == [
        _("This button is no longer active.")
    ]
    await harness.click(teacher, ReportMark(mark="done").pack())
    assert texts(await harness.send(teacher, "я" * 1501)) == [
        input_problem("text_too_long", {"max": 1500})
    ]
    assert texts(await harness.feed(harness.updates.photo(teacher))) == [
        _("Please answer with text. The draft is kept; /cancel drops it.")
    ]
    await harness.send(teacher, "Провели концерт")
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "сайт школы"):
        (hint,) = texts(await harness.send(teacher, bad))
        assert hint in {
            input_problem("link_scheme", {"scheme": s}) for s in ("javascript", "file")
        } | {input_problem("link_not_url", {})}
    assert texts(await harness.send(teacher, sticker=sticker))[0].startswith(
        _(
            "Here I accept links (https://…), documents and photos. Voice messages, stickers "
            "and the like can't be evidence. The draft is kept."
        )[:20]
    )
    await harness.click(teacher, ReportNav(action="done").pack())
    await harness.click(teacher, ReportNav(action="edit").pack())
    await harness.click(teacher, ReportField(name="date").pack())
    tomorrow = (today() + timedelta(days=1)).strftime("%d.%m.%Y")
    assert texts(await harness.send(teacher, tomorrow)) == [input_problem("date_future", {})]
    assert texts(await harness.send(teacher, "31.02.2026")) == [input_problem("date_format", {})]
    assert texts(await harness.send(teacher, "вчера вечером")) == [
        input_problem("date_format", {})
    ]
    await harness.send(teacher, "02.11.2026")
    # A forged field name and a stale button from another form change nothing.
    assert alerts(await harness.click(teacher, "rf:author:"))
    assert alerts(await harness.click(teacher, "ri:999999"))

    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ActivityReport)) == 0
        record = await session.scalar(select(FsmRecord))
    draft = record.data["draft"]
    assert (draft["title"], draft["direction"], draft["mark"]) == ("Концерт", "creativity", "done")
    assert draft["description"] == "Провели концерт" and draft["held_on"] == "2026-11-02"
    await harness.click(teacher, ReportNav(action="submit").pack())
    (report,) = await reports(session_factory)
    assert report.held_on == date(2026, 11, 2)


async def test_forged_roadmap_item_of_another_school_is_refused(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    sent = await harness.click(teacher, ReportItem(item_id=items[3].id).pack())
    assert alerts(sent) == [_("This is not available to you.")]
    async with session_factory() as session:
        draft = (await session.scalar(select(FsmRecord))).data["draft"]
    assert draft["item_id"] is None


async def test_button_of_an_archived_roadmap_item_is_refused(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    # The coordinator archived the item after the list was shown: its button is stale.
    async with session_factory() as session, session.begin():
        (await session.get(RoadmapItem, items[0].id)).is_archived = True
    sent = await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    assert alerts(sent) == [_("This item no longer exists or is not available to you.")]
    async with session_factory() as session:
        draft = (await session.scalar(select(FsmRecord))).data["draft"]
    assert draft["item_id"] is None


async def test_double_submit_stores_one_report(
    harness: Harness, world: World, items, tg, session_factory
):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    await harness.click(teacher, ReportMark(mark="done").pack())
    await harness.send(teacher, "Сделали https://a.ru/1")
    await harness.click(teacher, ReportNav(action="submit").pack())
    second = await harness.click(teacher, ReportNav(action="submit").pack())
    assert alerts(second)
    assert len(await reports(session_factory)) == 1


async def test_link_already_attached_to_another_report_is_pointed_out(
    harness: Harness, world: World, items, tg, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    for _round in range(2):
        await harness.send(teacher, "/report")
        await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
        await harness.click(teacher, ReportMark(mark="done").pack())
        sent = await harness.send(teacher, "Итоги: https://school2.ru/itogi")
        await harness.click(teacher, ReportNav(action="submit").pack())
    assert any("https://school2.ru/itogi" in t and "№" in t for t in texts(sent))


async def _submit(harness: Harness, user, item_id: int, text: str) -> None:
    await harness.send(user, "/report")
    await harness.click(user, ReportItem(item_id=item_id).pack())
    await harness.click(user, ReportMark(mark="done").pack())
    await harness.send(user, text)
    await harness.click(user, ReportNav(action="submit").pack())


async def test_my_lists_edits_and_deletes_with_audit(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _submit(harness, teacher, items[0].id, "Первый https://a.ru/1")
    await _submit(harness, teacher, items[1].id, "Второй https://a.ru/2")
    first, second = await reports(session_factory)

    (listing,) = texts(await harness.send(teacher, "/my"))
    assert f"№{first.id}" in listing and f"№{second.id}" in listing

    await harness.click(teacher, MyReport(action="edit", report_id=first.id).pack())
    await harness.click(teacher, ReportNav(action="edit").pack())
    await harness.click(teacher, ReportField(name="mark").pack())
    await harness.click(teacher, ReportMark(mark="partial").pack())
    await harness.click(teacher, ReportNav(action="submit").pack())

    await harness.click(teacher, MyReport(action="delete", report_id=second.id).pack())
    await harness.click(teacher, MyReport(action="delete_yes", report_id=second.id).pack())

    (edited,) = await reports(session_factory)
    assert edited.id == first.id and edited.mark == Mark.PARTIAL
    assert [e.url for e in edited.evidence] == ["https://a.ru/1"]
    async with session_factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["report_submitted", "report_submitted", "report_edited", "report_deleted"]


async def test_returned_report_edited_goes_back_to_review(
    harness: Harness, world: World, items, tg, session_factory
):
    teacher = tg.user(world.teacher.telegram_id)
    await _submit(harness, teacher, items[0].id, "Сделали https://a.ru/1")
    (report,) = await reports(session_factory)
    async with session_factory() as session, session.begin():
        row = await session.get(ActivityReport, report.id)
        row.review_state, row.review_comment = ReviewState.RETURNED, "Нет фото"
    (listing,) = texts(await harness.send(teacher, "/my"))
    assert "Нет фото" in listing
    await harness.click(teacher, MyReport(action="edit", report_id=report.id).pack())
    await harness.click(teacher, ReportNav(action="submit").pack())
    (report,) = await reports(session_factory)
    assert report.review_state == ReviewState.SUBMITTED


async def test_confirmed_report_is_locked(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    await _submit(harness, teacher, items[0].id, "Сделали https://a.ru/1")
    (report,) = await reports(session_factory)
    async with session_factory() as session, session.begin():
        (await session.get(ActivityReport, report.id)).review_state = ReviewState.CONFIRMED
    for action in ("edit", "delete", "delete_yes", "evidence"):
        sent = await harness.click(teacher, MyReport(action=action, report_id=report.id).pack())
        assert alerts(sent) == [input_problem("report_locked", {})]
    assert len(await reports(session_factory)) == 1


async def test_evidence_command_adds_links_and_files_later(
    harness: Harness, world: World, items, tg, session_factory
):
    teacher = tg.user(world.teacher.telegram_id)
    await _submit(harness, teacher, items[0].id, "Сделали https://a.ru/1")
    (report,) = await reports(session_factory)
    sent = await harness.send(teacher, "/evidence")
    assert (
        inline_keyboard(sent[0])[0][0].callback_data
        == MyReport(action="evidence", report_id=report.id).pack()
    )
    await harness.click(teacher, MyReport(action="evidence", report_id=report.id).pack())
    await harness.send(teacher, "https://a.ru/1 https://a.ru/2")  # the first is a duplicate
    await harness.feed(harness.updates.document(teacher, file_name="фото.zip"))
    await harness.click(teacher, ReportNav(action="done").pack())
    (report,) = await reports(session_factory)
    assert sorted(e.url or e.file_name or "" for e in report.evidence) == [
        "https://a.ru/1",
        "https://a.ru/2",
        "фото.zip",
    ]


async def test_teacher_cannot_touch_another_schools_or_colleagues_reports(
    harness: Harness, world: World, items, tg, session_factory, i18n_ru
):
    await _submit(harness, tg.user(world.teacher_b.telegram_id), items[3].id, "Чужой https://b.ru")
    await _submit(
        harness, tg.user(world.coordinator.telegram_id), items[0].id, "Коорд https://c.ru"
    )
    foreign, colleagues = await reports(session_factory)
    teacher = tg.user(world.teacher.telegram_id)
    for report_id in (foreign.id, colleagues.id, 10**9):
        for action in ("edit", "delete", "delete_yes", "evidence"):
            sent = await harness.click(
                teacher, MyReport(action=action, report_id=report_id).pack()
            )
            assert alerts(sent), (report_id, action)
    (listing,) = texts(await harness.send(teacher, "/my"))
    assert listing == _("No reports yet. /report logs an activity.")
    # The coordinator sees the whole school, a colleague's report included, but not school B.
    async with session_factory() as session, session.begin():
        session.add(
            ActivityReport(
                school_id=world.school_a.id,
                author_id=world.teacher.id,
                title="Учительский",
                held_on=today(),
                mark=Mark.DONE,
            )
        )
    (listing,) = texts(await harness.send(tg.user(world.coordinator.telegram_id), "/my"))
    assert "Учительский" in listing and f"№{foreign.id}" not in listing
    assert len(await reports(session_factory)) == 3


async def test_curator_and_stranger_cannot_report(harness: Harness, world: World, tg, i18n_ru):
    for user_id in (world.curator.telegram_id, world.municipal.telegram_id):
        (text,) = texts(await harness.send(tg.user(user_id), "/report"))
        assert text == _("This is not available for your role. /help lists what you can do.")
    (text,) = texts(await harness.send(tg.user(424242), "/report"))
    assert "приглаш" in text or "invite" in text


async def test_cancel_drops_the_draft(harness: Harness, world: World, items, tg, session_factory):
    teacher = tg.user(world.teacher.telegram_id)
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=items[0].id).pack())
    await harness.click(teacher, Cancel().pack())
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []


# --- the form's queries, built once with parameters (models/reports.py) ---------------------


async def test_the_same_draft_submitted_again_gives_back_the_stored_report(
    session_factory, world: World, items
):
    """A redelivered «Отправить» whose draft is still there stores nothing new."""
    draft = Draft(
        key="draft-1",
        school_id=world.school_a.id,
        item_id=items[0].id,
        title=items[0].title,
        mark="done",
        description="Провели урок",
        links=["https://a.ru/1"],
    )
    results = []
    for _attempt in range(2):
        async with session_factory() as session, session.begin():
            teacher = await session.get(User, world.teacher.id)
            report, created = await submit_draft(
                session, teacher, draft, today=date(2026, 12, 3), default_organizer="Школа"
            )
            results.append((report.id, created))
    assert results == [(results[0][0], True), (results[0][0], False)]
    assert len(await reports(session_factory)) == 1


async def test_links_elsewhere_leave_out_the_report_being_edited(
    session_factory, world: World, items
):
    for number, key in enumerate(("first", "second")):
        draft = Draft(
            key=key,
            school_id=world.school_a.id,
            item_id=items[number].id,
            title=items[number].title,
            mark="done",
            description="Итоги",
            links=["https://a.ru/itogi", f"https://a.ru/{key}"],
        )
        async with session_factory() as session, session.begin():
            teacher = await session.get(User, world.teacher.id)
            await submit_draft(
                session, teacher, draft, today=date(2026, 12, 3), default_organizer="Школа"
            )
    first, second = await reports(session_factory)
    links = ["https://a.ru/itogi", "https://a.ru/first", "https://a.ru/none"]
    async with session_factory() as session:
        anywhere = await linked_elsewhere(session, world.school_a.id, links, exclude_report=None)
        editing_first = await linked_elsewhere(
            session, world.school_a.id, links, exclude_report=first.id
        )
        other_school = await linked_elsewhere(
            session, world.school_b.id, links, exclude_report=None
        )
    assert {url: found[0] for url, found in anywhere.items()} == {
        "https://a.ru/itogi": first.id,
        "https://a.ru/first": first.id,
    }
    assert {url: found[0] for url, found in editing_first.items()} == {
        "https://a.ru/itogi": second.id
    }
    assert other_school == {}
