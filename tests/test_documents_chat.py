"""/documents in the chat: the document, the period, the schools within the user's rights, the
file read back; refusals, bad periods, forged buttons, the read-only session and the thread."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    SendChatAction,
    SendDocument,
    SendMessage,
)
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import exports.documents.school_report as school_report
import handlers.documents as documents
from bot.dispatcher import create_dispatcher
from bot.ui import formatting
from bot.ui.callbacks import DocKind, DocPeriod, DocSchoolsPage, DocScope
from exports.documents.build import document_filename
from exports.documents.kinds import DocumentKind
from exports.schedule import format_period
from models import School, curator_schools
from tests.conftest import Harness, World
from tests.documents_data import START, TODAY, make_season
from tests.docx_reader import Docx, read

PERIOD = "01.09.2026-30.11.2026"
END = date(2026, 11, 30)


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> date:
    monkeypatch.setattr(formatting, "today", lambda settings: TODAY)
    return TODAY


@pytest.fixture
async def season(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_season(world, session_factory)


def sent(requests: list[Any]) -> list[str]:
    return [r.text or "" for r in requests if isinstance(r, SendMessage | EditMessageText)]


def filename_of(document: SendDocument) -> str | None:
    assert isinstance(document.document, BufferedInputFile)
    return document.document.filename


def buttons(request: Any) -> list[tuple[str, str]]:
    markup = request.reply_markup
    return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]


def the_document(requests: list[Any]) -> tuple[SendDocument, Docx]:
    (document,) = [r for r in requests if isinstance(r, SendDocument)]
    assert isinstance(document.document, BufferedInputFile)
    return document, read(document.document.data)


async def choose(harness: Harness, user, kind: DocumentKind, period: str = PERIOD):
    await harness.send(user, "/documents")
    await harness.click(user, DocKind(kind=kind).pack())
    return await harness.send(user, period)


async def test_a_coordinator_gets_the_school_report_of_their_school(
    harness: Harness, world: World, season, tg, today, i18n_ru
):
    user = tg.user(world.coordinator.telegram_id)
    first = await harness.send(user, "/documents")
    (menu,) = [r for r in first if isinstance(r, SendMessage)]
    assert menu.text == _("Which document shall I prepare?")
    kinds = [data for _text, data in buttons(menu) if data.startswith("dk:")]
    assert kinds == [
        DocKind(kind=k).pack()
        for k in (DocumentKind.SCHOOL, DocumentKind.ACTIVITIES, DocumentKind.NOTE)
    ]  # no municipal report for a school

    asked = await harness.click(user, DocKind(kind=DocumentKind.SCHOOL).pack())
    assert _("School participation report") in sent(asked)[0]
    requests = await harness.send(user, "01.09.2026 - 30.11.2026")

    period = format_period(START, END)
    assert sent(requests)[0] == _("⏳ Preparing «{document}» for {period}…").format(
        document=_("School participation report"), period=period
    )
    actions = [r for r in requests if isinstance(r, SendChatAction)]
    assert actions and {a.action for a in actions} == {"upload_document"}
    document, doc = the_document(requests)
    assert filename_of(document) == document_filename(DocumentKind.SCHOOL, START, END)
    assert document.caption == _("📄 {document} for {period}\nSchools: {schools}").format(
        document=_("School participation report"), period=period, schools=1
    )
    (table,) = doc.tables
    assert [row[1] for row in table.rows][:2] == ["Проведение самодиагностики", "Знание"]
    assert "МБОУ «СОШ №2»" in doc.paragraphs[0][1]
    # The form is over: the next text is no period.
    assert await harness.dp.fsm.storage.get_state(_key(user.id)) is None


async def test_a_municipal_coordinator_chooses_the_school(
    harness: Harness, world: World, season, tg, today, i18n_ru
):
    user = tg.user(world.municipal.telegram_id)
    picker = await choose(harness, user, DocumentKind.ACTIVITIES)
    (screen,) = [r for r in picker if isinstance(r, SendMessage)]
    options = buttons(screen)
    assert options[0] == (
        _("All my schools ({count})").format(count=2),
        DocScope(scope="all").pack(),
    )
    assert ("СОШ №5", DocScope(scope="school", target_id=world.school_b.id).pack()) in options

    requests = await harness.click(
        user, DocScope(scope="school", target_id=world.school_b.id).pack()
    )
    _document, doc = the_document(requests)
    assert [row[2].split("\n")[0] for row in doc.rows] == ["Урок школы Б"]


async def test_the_municipal_report_is_of_all_schools(
    harness: Harness, world: World, season, tg, today, i18n_ru
):
    user = tg.user(world.municipal.telegram_id)
    picker = await choose(harness, user, DocumentKind.MUNICIPAL, "прошлый месяц")
    (screen,) = [r for r in picker if isinstance(r, SendMessage)]
    assert [data for _text, data in buttons(screen) if data.startswith("dks")] == [
        DocScope(scope="all").pack()
    ]  # one municipality: no single schools for this report
    requests = await harness.click(user, DocScope(scope="all").pack())
    document, doc = the_document(requests)
    assert filename_of(document) == document_filename(
        DocumentKind.MUNICIPAL, date(2026, 11, 1), END
    )
    assert [row[1] for row in doc.tables[0].rows] == ["МБОУ «СОШ №2»", "МБОУ «СОШ №5»"]


async def test_period_buttons_and_a_bad_period(
    harness: Harness, world: World, season, tg, today, i18n_ru
):
    user = tg.user(world.coordinator.telegram_id)
    await harness.send(user, "/documents")
    await harness.click(user, DocKind(kind=DocumentKind.NOTE).pack())
    wrong = await harness.send(user, "<b>вчера</b>")
    assert sent(wrong) == [documents.period_problem(_period_error("<b>вчера</b>"))]
    assert "<b>вчера</b>" not in sent(wrong)[0]
    assert not [r for r in wrong if isinstance(r, SendDocument)]
    too_long = await harness.send(user, "01.01.2025-31.12.2026")
    assert _("The period is too long: at most {days} days.").format(days=366) in sent(too_long)[0]
    sticker = await harness.send(user, None, sticker=None)
    assert sent(sticker) == [documents.period_hint()]

    requests = await harness.click(user, DocPeriod(period="last_month").pack())
    document, doc = the_document(requests)
    assert filename_of(document) == document_filename(DocumentKind.NOTE, date(2026, 11, 1), END)
    assert doc.paragraphs[0] == ("Title", "Аналитическая справка")


def _period_error(text: str):
    from exports.schedule import PeriodError, parse_period

    with pytest.raises(PeriodError) as raised:
        parse_period(text, TODAY)
    return raised.value


async def test_teachers_are_refused_and_curators_get_no_municipal_report(
    harness: Harness, world: World, tg, today, i18n_ru
):
    refused = await harness.send(tg.user(world.teacher.telegram_id), "/documents")
    assert sent(refused) == [
        _("This is not available for your role. /help lists what you can do.")
    ]
    curator = tg.user(world.curator.telegram_id)
    answer = await harness.click(curator, DocKind(kind=DocumentKind.MUNICIPAL).pack())
    alerts = [r for r in answer if isinstance(r, AnswerCallbackQuery)]
    assert [a.text for a in alerts] == [_("This document is not available for your role.")]
    assert await harness.dp.fsm.storage.get_state(_key(curator.id)) is None


async def test_a_curator_can_not_reach_a_school_that_is_not_theirs(
    harness: Harness, world: World, season, tg, today, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        other = School(
            municipality_id=world.municipality.id, name="МБОУ «ООШ №7»", short_name="ООШ №7"
        )
        session.add(other)
        await session.flush()
        await session.execute(
            curator_schools.insert().values(user_id=world.curator.id, school_id=other.id)
        )
    user = tg.user(world.curator.telegram_id)
    picker = await choose(harness, user, DocumentKind.SCHOOL)
    (screen,) = [r for r in picker if isinstance(r, SendMessage)]
    offered = {data for _text, data in buttons(screen)}
    assert DocScope(scope="school", target_id=world.school_b.id).pack() not in offered
    forged = await harness.click(
        user, DocScope(scope="school", target_id=world.school_b.id).pack()
    )
    assert [r.text for r in forged if isinstance(r, AnswerCallbackQuery)] == [
        _("This is not available to you.")
    ]
    assert not [r for r in forged if isinstance(r, SendDocument)]
    foreign_municipality = await harness.click(
        user, DocScope(scope="municipality", target_id=10**6).pack()
    )
    assert not [r for r in foreign_municipality if isinstance(r, SendDocument)]
    # The form is still open: the curator's own schools work.
    requests = await harness.click(user, DocScope(scope="all").pack())
    _document, doc = the_document(requests)
    assert [text for style, text in doc.paragraphs if style == "Title"] == [
        "Отчёт об участии МБОУ «ООШ №7» в проекте «Школа Минпросвещения России»",
        "Отчёт об участии МБОУ «СОШ №2» в проекте «Школа Минпросвещения России»",
    ]


async def test_the_school_list_is_paged(
    harness: Harness, world: World, tg, today, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        session.add_all(
            School(
                municipality_id=world.municipality.id, name=f"Школа {n:02}", short_name=f"Ш{n:02}"
            )
            for n in range(12)
        )
    user = tg.user(world.municipal.telegram_id)
    picker = await choose(harness, user, DocumentKind.NOTE)
    (screen,) = [r for r in picker if isinstance(r, SendMessage)]
    assert ("▶", DocSchoolsPage(page=1).pack()) in buttons(screen)
    turned = await harness.click(user, DocSchoolsPage(page=1).pack())
    (page,) = [r for r in turned if isinstance(r, EditMessageText)]
    labels = [text for text, _data in buttons(page)]
    assert "◀" in labels and "Ш11" in labels and "СОШ №5" not in labels


async def test_an_old_button_after_the_form_is_gone(harness: Harness, world: World, tg, i18n_ru):
    user = tg.user(world.municipal.telegram_id)
    answer = await harness.click(user, DocScope(scope="all").pack())
    texts = [r.text for r in answer if isinstance(r, AnswerCallbackQuery)]
    assert texts == [_("This button is no longer active.")]


async def test_built_through_the_read_session_in_a_thread(
    settings, session_factory, i18n, bot, recorder, world: World, season, tg, today, monkeypatch
):
    opened: list[AsyncSession] = []

    def read_sessions() -> AsyncSession:
        session = session_factory()
        opened.append(session)
        return session

    threads: list[threading.Thread] = []
    render = school_report.render_docx

    def recording(data):
        threads.append(threading.current_thread())
        return render(data)

    monkeypatch.setattr(school_report, "render_docx", recording)
    dp = create_dispatcher(
        settings,
        session_factory,
        i18n,
        read_session_factory=read_sessions,  # type: ignore[arg-type]
    )
    harness = Harness(dp=dp, bot=bot, recorder=recorder, updates=tg())
    requests = await choose(harness, tg.user(world.coordinator.telegram_id), DocumentKind.SCHOOL)
    assert len([r for r in requests if isinstance(r, SendDocument)]) == 1
    assert len(opened) == 1
    assert threads and threads[0] is not threading.main_thread()


async def test_a_failed_build_is_told_to_the_user(
    harness: Harness, world: World, tg, today, monkeypatch: pytest.MonkeyPatch, i18n_ru
):
    async def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(documents, "build_document", broken)
    requests = await choose(harness, tg.user(world.coordinator.telegram_id), DocumentKind.NOTE)
    assert not [r for r in requests if isinstance(r, SendDocument)]
    assert sent(requests)[-1] == _("The document could not be prepared. Please try again later.")


def _key(user_id: int):
    from aiogram.fsm.storage.base import StorageKey

    from tests.telegram import BOT_ID

    return StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)


async def test_cancel_while_choosing_the_period_says_what_was_cancelled(
    harness: Harness, world: World, season, tg, today, i18n_ru
):
    user = tg.user(world.coordinator.telegram_id)
    await harness.send(user, "/documents")
    await harness.click(user, DocKind(kind=DocumentKind.NOTE).pack())
    cancelled = await harness.send(user, "/cancel")
    assert sent(cancelled) == [_("The document is cancelled; nothing was prepared.")]
    assert await harness.dp.fsm.storage.get_state(_key(user.id)) is None
    # A period typed now is no longer taken for one: nothing is built.
    later = await harness.send(user, PERIOD)
    assert not [r for r in later if isinstance(r, SendDocument)]
