"""Issue 17, points 16 and 19: imported activities get a direction (named in the file, or
suggested by their words); the school's coordinator sets an activity's direction, deadline and
responsible in its card under /roadmap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendMessage
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.ui.callbacks import (
    ItemAction,
    RoadmapItemAction,
    RoadmapItemDirection,
    RoadmapPage,
)
from bot.ui.formatting import day
from bot.ui.states import RoadmapItemEdit
from models import AuditEvent, RoadmapItem, User
from models.enums import Direction
from models.roadmap_directions import direction_of
from models.roadmap_import import parse_roadmap
from models.stats import direction_progress
from tests.conftest import Harness, World
from tests.roadmap_files import (
    ROADMAP,
    FileServingSession,
    alerts,
    import_fixture,
    items_of,
    key,
    texts,
    xlsx,
)
from tests.telegram import inline_keyboard


@pytest.fixture
def recorder() -> FileServingSession:
    return FileServingSession()


@pytest.fixture(params=["ru", "en"])
async def coordinator_locale(request, world: World, session_factory) -> str:
    async with session_factory() as session, session.begin():
        (await session.get(User, world.coordinator.id)).locale = request.param
    return str(request.param)


@pytest.fixture
def lang(coordinator_locale: str, i18n: I18n) -> Iterator[str]:
    """The coordinator speaks this language; expected texts are rendered in it."""
    with i18n.context(), i18n.use_locale(coordinator_locale):
        yield coordinator_locale


def screen(requests: list[Any]) -> SendMessage | EditMessageText:
    """The one message a step showed (sent, or edited in place)."""
    (shown,) = [r for r in requests if isinstance(r, SendMessage | EditMessageText)]
    return shown


def buttons(request: Any) -> list[str]:
    return [b.callback_data or "" for row in inline_keyboard(request) for b in row]


def open_item(item_id: int) -> str:
    return RoadmapItemAction(action=ItemAction.OPEN, item_id=item_id).pack()


def press(action: ItemAction, item_id: int) -> str:
    return RoadmapItemAction(action=action, item_id=item_id).pack()


def suggested(name: str) -> str:
    return _("Direction: {value}").format(
        value=_("{direction} (suggested)").format(direction=name)
    )


def suggestion_line(count: int, total: int) -> str:
    return _(
        "Direction suggested by the words of the activity: {count} of {total}. "
        "To change it: /roadmap, ✏ next to the activity."
    ).format(count=count, total=total)


async def audit(session_factory, action: str) -> list[AuditEvent]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(rows)


async def item(session_factory, item_id: int) -> RoadmapItem:
    async with session_factory() as session:
        found = await session.get(RoadmapItem, item_id)
        assert found is not None
        return found


# --- 16: directions of imported activities ----------------------------------------------------


async def test_the_preview_suggests_directions_and_the_import_stores_them(
    harness: Harness, world: World, tg, recorder, session_factory, lang
):
    parsed = parse_roadmap(ROADMAP.read_bytes(), ROADMAP.name)
    words = [direction_of(activity) for activity in parsed.items]
    count = sum(found is not None for found in words)
    assert count >= 0.8 * len(parsed.items)

    preview, _done = await import_fixture(
        harness, world, tg, recorder, ROADMAP.read_bytes(), ROADMAP.name
    )

    (text,) = texts(preview)
    assert suggestion_line(count, len(parsed.items)) in text
    # Item 1: «Утверждение школьного координатора, … методическое сопровождение …».
    assert "   " + suggested(_("Teacher. School team")) in text
    assert "   " + suggested(_("Educational environment")) in text  # 4: информационное …
    assert len(text) < 4096
    by_number = {i.number: i for i in await items_of(session_factory, world.school_a.id)}
    assert {n: i.direction for n, i in by_number.items()} == {
        a.number: (f.code.value if f else None) for a, f in zip(parsed.items, words, strict=True)
    }
    assert (by_number["6"].direction, by_number["12"].direction) == ("environment", "teacher")
    # /status's «Выполнение по направлениям» is no longer one bar «без направления».
    async with session_factory() as session:
        progress = await direction_progress(session, world.school_a.id, today=date(2022, 9, 1))
    assert len({row.direction for row in progress} - {None}) >= 5
    (audit_row,) = await audit(session_factory, "roadmap_imported")
    assert audit_row.details["suggested"] == count


def _file(directions: list[str | None]) -> bytes:
    titles = [
        "Совещание с педагогами",
        "Анкетирование родителей",
        "Ремонт кабинета информатики",
        "Конкурс рисунков",
    ]
    rows: list[list[Any]] = [["№", "Мероприятие", "Направление", "Срок проведения"]]
    for number, (title, direction) in enumerate(zip(titles, directions, strict=True), 1):
        rows.append([number, title, direction, f"до 01.0{number + 2}.2027"])
    return xlsx(rows)


async def test_a_reimport_never_puts_a_suggestion_over_a_direction_set_by_hand_or_held(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    preview, _done = await import_fixture(
        harness, world, tg, recorder, _file(["Здоровье", None, None, None]), "v1.xlsx"
    )
    (text,) = texts(preview)
    assert suggestion_line(3, 4) in text
    assert "   " + _("Direction: {value}").format(value=_("Health")) in text
    assert "   " + suggested(_("School climate")) in text
    first = await items_of(session_factory, world.school_a.id)
    assert [i.direction for i in first] == ["health", "climate", "environment", "creativity"]
    meeting, survey, repair, contest = (i.id for i in first)

    # By hand in the chat: «Воспитание» for the repair, «без направления» for the contest.
    await harness.click(coordinator, press(ItemAction.DIRECTION, repair))
    await harness.click(
        coordinator, RoadmapItemDirection(item_id=repair, code=Direction.UPBRINGING).pack()
    )
    await harness.click(coordinator, press(ItemAction.NO_DIRECTION, contest))
    # One the item already has, whoever gave it (the self-diagnosis, an earlier import).
    async with session_factory() as session, session.begin():
        (await session.get(RoadmapItem, survey)).direction = Direction.KNOWLEDGE.value

    preview, _done = await import_fixture(
        harness, world, tg, recorder, _file(["Знание", None, "Здоровье", None]), "v2.xlsx"
    )

    (text,) = texts(preview)
    assert suggestion_line(1, 4).split("1")[0] not in text  # nothing left to suggest
    assert "   " + _("Direction: {value}").format(value=_("Upbringing")) in text
    after = {i.id: i.direction for i in await items_of(session_factory, world.school_a.id)}
    assert after == {
        meeting: "knowledge",  # the file's column changed: what the file names wins
        survey: "knowledge",  # held: the words («анкетирование» → climate) don't replace it
        repair: "upbringing",  # chosen in the chat: neither the column nor the words undo it
        contest: None,  # «без направления» chosen in the chat stays so
    }


# --- 19: the activity's card ------------------------------------------------------------------


async def _items(session_factory, world: World) -> list[RoadmapItem]:
    """Two activities from a file and one added from a self-diagnosis (no number, no deadline,
    no responsible, no direction)."""
    async with session_factory() as session, session.begin():
        made = [
            RoadmapItem(school_id=world.school_a.id, position=1, number="1", title="Приказ",
                        due_raw="до 01.10.2026", due_kind="date", due_date=date(2026, 10, 1),
                        source_row=2),
            RoadmapItem(school_id=world.school_a.id, position=2, number="2", title="Совещание",
                        source_row=3),
            RoadmapItem(school_id=world.school_a.id, position=3, title="Не функционирует "
                        "система наставничества", section="Из самодиагностики"),
        ]  # fmt: skip
        session.add_all(made)
    return made


async def test_the_coordinator_sets_direction_deadline_and_responsible(
    harness: Harness, world: World, tg, session_factory, lang
):
    coordinator = tg.user(world.coordinator.telegram_id)
    *_numbered, deficit = await _items(session_factory, world)

    listing = screen(await harness.send(coordinator, "/roadmap"))
    assert _("✏ opens an activity: its direction, deadline and responsible can be changed.") in (
        listing.text or ""
    )
    labels = [b.text for row in inline_keyboard(listing) for b in row]
    assert labels == ["✏ Приказ", "✏ Совещание", "✏ " + deficit.title[:27] + "…"]
    assert open_item(deficit.id) in buttons(listing)

    (card,) = texts(await harness.click(coordinator, open_item(deficit.id)))
    assert "Не функционирует система наставничества" in card
    assert _("Section: {section}").format(section="Из самодиагностики") in card
    assert _("Direction: {value}").format(value=_("no direction")) in card
    assert (
        _("Deadline: {raw} → {understood}").format(raw="—", understood=_("not recognised")) in card
    )
    assert _("Responsible: {value}").format(value="—") in card

    # Direction: the eight and «без направления».
    picker = screen(await harness.click(coordinator, press(ItemAction.DIRECTION, deficit.id)))
    choices = buttons(picker)
    assert all(
        RoadmapItemDirection(item_id=deficit.id, code=code).pack() in choices for code in Direction
    )
    assert press(ItemAction.NO_DIRECTION, deficit.id) in choices
    (saved,) = texts(
        await harness.click(
            coordinator, RoadmapItemDirection(item_id=deficit.id, code=Direction.TEACHER).pack()
        )
    )
    assert (
        _("✅ Direction saved: {direction}.").format(direction=_("Teacher. School team")) in saved
    )
    assert (await item(session_factory, deficit.id)).direction == "teacher"

    # Deadline: unreadable text changes nothing; readable text sets all five columns.
    prompt = screen(await harness.click(coordinator, press(ItemAction.DUE, deficit.id)))
    assert buttons(prompt) == [open_item(deficit.id)]
    (refused,) = texts(await harness.send(coordinator, "когда получится"))
    assert refused.startswith(
        _("The bot could not read a deadline from «{text}»; the deadline is unchanged.").format(
            text="когда получится"
        )
    )
    assert (await item(session_factory, deficit.id)).due_kind == "unknown"
    (cancelled,) = texts(await harness.send(coordinator, "/cancel"))
    assert cancelled == _("The change is cancelled; the activity stays as it was.")
    prompt = screen(await harness.click(coordinator, press(ItemAction.DUE, deficit.id)))
    sent = await harness.send(coordinator, "до 15.03.2027")
    (answer,) = texts(sent)
    assert answer.startswith(
        _("✅ Deadline saved: {raw} → {understood}").format(
            raw="«до 15.03.2027»", understood=_("by {date}").format(date=day(date(2027, 3, 15)))
        )
    )
    assert isinstance(prompt, EditMessageText)
    assert any(
        isinstance(r, EditMessageReplyMarkup) and r.message_id == prompt.message_id for r in sent
    ), "the prompt's «◀ Back» goes"
    assert buttons(sent[0]) == [
        press(action, deficit.id)
        for action in (ItemAction.DIRECTION, ItemAction.DUE, ItemAction.RESPONSIBLE)
    ] + [press(ItemAction.LIST, deficit.id)]
    stored = await item(session_factory, deficit.id)
    due = (stored.due_raw, stored.due_kind, stored.due_start, stored.due_date, stored.recurrence)
    assert due == ("до 15.03.2027", "date", None, date(2027, 3, 15), None)
    for typed, expected in [
        ("ежеквартально", ("ежеквартально", "recurring", None, None, "quarterly")),
        ("01.03.2027 - 15.03.2027", ("01.03.2027 - 15.03.2027", "period", date(2027, 3, 1),
                                     date(2027, 3, 15), None)),
    ]:  # fmt: skip
        await harness.click(coordinator, press(ItemAction.DUE, deficit.id))
        await harness.send(coordinator, typed)
        stored = await item(session_factory, deficit.id)
        assert (
            stored.due_raw,
            stored.due_kind,
            stored.due_start,
            stored.due_date,
            stored.recurrence,
        ) == expected

    # Responsible: trimmed, people kept on their lines; too long is refused.
    await harness.click(coordinator, press(ItemAction.RESPONSIBLE, deficit.id))
    (too_long,) = texts(await harness.send(coordinator, "Иванова " * 40))
    assert too_long == _("That's too long: at most {max} characters. Please shorten it.").format(
        max=300
    )
    (done,) = texts(
        await harness.send(
            coordinator, "  Иванова А.А.,   заместитель директора \n\n Петров П.П. "
        )
    )
    assert done.startswith(
        _("✅ Responsible saved: {value}").format(
            value="Иванова А.А., заместитель директора\nПетров П.П."
        )
    )
    assert (await item(session_factory, deficit.id)).responsible == (
        "Иванова А.А., заместитель директора\nПетров П.П."
    )
    assert await harness.dp.fsm.storage.get_state(key(coordinator.id)) is None

    # «◀ К списку»: the page that holds the activity.
    (back,) = texts(await harness.click(coordinator, press(ItemAction.LIST, deficit.id)))
    assert "Не функционирует система наставничества" in back and "<b>2. </b>" in back

    events = [
        (e.action, e.actor_id, e.object_id, e.school_id)
        for e in await audit(session_factory, "roadmap_item_direction")
        + await audit(session_factory, "roadmap_item_due")
        + await audit(session_factory, "roadmap_item_responsible")
    ]
    who = (world.coordinator.id, deficit.id, world.school_a.id)
    assert events == [
        ("roadmap_item_direction", *who),
        ("roadmap_item_due", *who),
        ("roadmap_item_due", *who),
        ("roadmap_item_due", *who),
        ("roadmap_item_responsible", *who),
    ]


async def test_the_card_is_reached_from_every_page_and_leads_back_to_it(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    await import_fixture(harness, world, tg, recorder, ROADMAP.read_bytes(), ROADMAP.name)
    coordinator = tg.user(world.coordinator.telegram_id)
    ids = {i.number: i.id for i in await items_of(session_factory, world.school_a.id)}

    page2 = screen(
        await harness.click(coordinator, RoadmapPage(school_id=world.school_a.id, page=1).pack())
    )
    labels = [b.text for row in inline_keyboard(page2) for b in row]
    assert labels[:8] == [f"✏ {n}" for n in range(9, 17)]
    (card,) = texts(await harness.click(coordinator, open_item(ids["10"])))
    assert _("<b>Activity {number}</b>").format(number="10") in card
    assert (
        _("Deadline: {raw} → {understood}").format(raw="—", understood=_("not recognised")) in card
    )
    (back,) = texts(await harness.click(coordinator, press(ItemAction.LIST, ids["10"])))
    assert "<b>9. </b>" in back and "<b>1. </b>" not in back

    # Typing a deadline, then /roadmap: the next text is no deadline any more.
    await harness.click(coordinator, press(ItemAction.DUE, ids["10"]))
    await harness.send(coordinator, "/roadmap")
    await harness.send(coordinator, "до 01.02.2023")
    assert (await item(session_factory, ids["10"])).due_raw is None


async def test_only_the_schools_coordinator_changes_its_items(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    own, *_rest = await _items(session_factory, world)
    async with session_factory() as session, session.begin():
        foreign = RoadmapItem(school_id=world.school_b.id, number="1", title="Чужое", position=1)
        session.add(foreign)
    coordinator = tg.user(world.coordinator.telegram_id)
    not_yours = [_("This is not available to you.")]

    for data in (
        open_item(foreign.id),
        press(ItemAction.NO_DIRECTION, foreign.id),
        press(ItemAction.DUE, foreign.id),
        RoadmapItemDirection(item_id=foreign.id, code=Direction.HEALTH).pack(),
    ):
        assert alerts(await harness.click(coordinator, data)) == not_yours, data
    # A forged form: the typed deadline would land on another school's item.
    storage = harness.dp.fsm.storage
    await storage.set_state(key(coordinator.id), RoadmapItemEdit.due.state)
    await storage.set_data(key(coordinator.id), {"item_id": foreign.id})
    assert texts(await harness.send(coordinator, "до 01.01.2027")) == [
        _("This item no longer exists or is not available to you.")
    ]
    assert await storage.get_state(key(coordinator.id)) is None
    untouched = await item(session_factory, foreign.id)
    assert (untouched.direction, untouched.due_raw, untouched.responsible) == (None, None, None)

    for user in (world.teacher, world.curator, world.municipal):
        sent = await harness.click(tg.user(user.telegram_id), open_item(own.id))
        assert alerts(sent) == [
            _("This is not available for your role. /help lists what you can do.")
        ]
    (teachers_list,) = [
        r
        for r in await harness.send(tg.user(world.teacher.telegram_id), "/roadmap")
        if isinstance(r, SendMessage)
    ]
    assert teachers_list.reply_markup is None  # no «✏ n», and all fits on one page
    async with session_factory() as session, session.begin():
        (await session.get(RoadmapItem, own.id)).is_archived = True
    assert alerts(await harness.click(coordinator, open_item(own.id))) == [
        _("This item no longer exists or is not available to you.")
    ]
    assert await audit(session_factory, "roadmap_item_direction") == []


async def test_a_report_being_written_goes_on_after_the_card(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    """The card waits for a typed deadline in the form data; a report draft there survives."""
    first, *_rest = await _items(session_factory, world)
    coordinator = tg.user(world.coordinator.telegram_id)
    storage = harness.dp.fsm.storage
    await harness.send(coordinator, "/report")
    writing = await storage.get_state(key(coordinator.id))
    assert writing is not None and writing.startswith("ReportForm")
    draft = (await storage.get_data(key(coordinator.id)))["draft"]

    await harness.click(coordinator, press(ItemAction.RESPONSIBLE, first.id))
    await harness.click(coordinator, press(ItemAction.DUE, first.id))
    await harness.send(coordinator, "до 01.12.2026")

    assert (await item(session_factory, first.id)).due_date == date(2026, 12, 1)
    assert await storage.get_state(key(coordinator.id)) == writing
    data = await storage.get_data(key(coordinator.id))
    assert data["draft"] == draft
    assert not {"item_id", "prompt_id", "return_state"} & set(data)
