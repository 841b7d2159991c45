"""Roadmap import through the chat and the CLI, re-import that keeps reports, /roadmap."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import GetFile, SendMessage
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

import main
from bot.config import Settings
from bot.ui.callbacks import Cancel, RoadmapImportConfirm, RoadmapPage
from handlers.roadmap import PAGE_SIZE
from models import ActivityReport, FsmRecord, Mark, RoadmapItem, User
from models.enums import Role
from tests.conftest import Harness, World
from tests.roadmap_files import (
    FIXTURES,
    ROADMAP,
    FileServingSession,
    alerts,
    import_fixture,
    items_of,
    key,
    send_file,
    texts,
    xlsx,
)

EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
EXPECTED_ROADMAP = EXPECTED["files"]["roadmap_001.xlsx"]


@pytest.fixture
def recorder() -> FileServingSession:
    return FileServingSession()


def assert_as_expected(item: RoadmapItem, expected: dict[str, Any]) -> None:
    """A stored activity against expected.json (whitespace folded)."""
    assert item.number == expected["number"]
    assert norm(item.title) == norm(expected["title"])
    assert norm(item.due_raw) == norm(expected["due"])
    assert norm(item.responsible) == norm(expected["responsible"])
    assert norm(item.expected_result) == norm(expected["result"])


def norm(text: str | None) -> str | None:
    return " ".join(text.split()) if text is not None else None


async def test_roadmap_file_through_the_chat_creates_the_expected_items(
    harness: Harness, world: World, tg, recorder, session_factory, settings: Settings, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    data = ROADMAP.read_bytes()
    (preview,) = texts(await send_file(harness, coordinator, recorder, ROADMAP.name, data))

    count = EXPECTED["counts"]["roadmap_001.xlsx"]
    assert (
        _("Activities found: {count}. Sections: {sections}.").format(
            count=count, sections=EXPECTED_ROADMAP["section_count"]
        )
        in preview
    )
    assert "«до 04.10.2022 г.» → " + _("by {date}").format(date="04.10.2022") in preview
    assert len(preview) < 4096
    assert await items_of(session_factory, world.school_a.id) == []
    # Between preview and confirmation only a reference to the file waits in the FSM row.
    async with session_factory() as session:
        (record,) = (await session.scalars(select(FsmRecord))).all()
    assert record.state == "RoadmapImport:confirm"
    assert set(record.data) == {"school_id", "file_id", "file_name", "sha"}
    assert len(json.dumps(record.data)) < 300

    (outcome,) = texts(
        await harness.click(coordinator, RoadmapImportConfirm(school_id=world.school_a.id).pack())
    )

    assert outcome == _(
        "The roadmap of {school} is imported: new {created}, updated {updated}, unchanged "
        "{unchanged}, moved to the archive {archived}. /roadmap shows it."
    ).format(school="СОШ №2", created=count, updated=0, unchanged=0, archived=0)
    items = await items_of(session_factory, world.school_a.id)
    assert len(items) == count
    for item, expected in zip(items, EXPECTED_ROADMAP["activities"], strict=True):
        assert_as_expected(item, expected)
        assert item.section == expected["section"]
        assert not item.is_archived
    by_number = {item.number: item for item in items}
    assert (by_number["1"].due_kind, by_number["1"].due_date) == ("date", date(2022, 10, 4))
    assert (by_number["5"].due_kind, by_number["5"].due_start, by_number["5"].due_date) == (
        "period",
        date(2022, 9, 1),
        date(2023, 5, 31),
    )
    assert (by_number["20"].due_kind, by_number["20"].recurrence) == (
        "recurring",
        "per_schedule",
    )
    assert (by_number["10"].due_raw, by_number["10"].due_kind) == (None, "unknown")
    # Downloaded twice through the configured Bot API server, never kept in the FSM data.
    assert len(recorder.downloads) == 2
    assert all(u.startswith(f"{settings.telegram_api_url}/file/bot") for u in recorder.downloads)
    async with session_factory() as session:
        assert (await session.scalars(select(FsmRecord))).all() == []


def _modified_roadmap() -> bytes:
    """The fixture with item 2 renamed, item 3 re-dated, item 27 gone and an item 28 added."""
    workbook = load_workbook(ROADMAP)
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    assert [sheet[cell].value for cell in ("A4", "A5", "A29")] == [2, 3, 27]
    sheet["B4"] = str(sheet["B4"].value).rstrip(".") + " и социальных партнёров ОО."
    sheet["D5"] = "до 15.11.2022 г."
    for column in "ABCDE":
        sheet[f"{column}29"] = None
    sheet["A30"], sheet["B30"], sheet["D30"] = 28, "Итоговый педсовет", "до 30.08.2023 г."
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_reimport_updates_items_keeps_reports_and_archives_removed_ones(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    await import_fixture(harness, world, tg, recorder, ROADMAP.read_bytes(), ROADMAP.name)
    before = {i.number: i for i in await items_of(session_factory, world.school_a.id)}
    async with session_factory() as session, session.begin():
        for number in ("2", "27"):
            session.add(
                ActivityReport(
                    school_id=world.school_a.id,
                    author_id=world.coordinator.id,
                    roadmap_item_id=before[number].id,
                    title=before[number].title,
                    held_on=date(2022, 9, 28),
                    mark=Mark.DONE,
                )
            )

    preview, _done = await import_fixture(
        harness, world, tg, recorder, _modified_roadmap(), "roadmap_v2.xlsx"
    )

    (preview_text,) = texts(preview)
    assert (
        _(
            "If imported: new {created}, updated {updated}, unchanged {unchanged}, "
            "moved to the archive {archived}."
        ).format(created=1, updated=2, unchanged=24, archived=1)
        in preview_text
    )
    assert _("Reports stay with their activities.") in preview_text
    after = await items_of(session_factory, world.school_a.id)
    live = {i.number: i for i in after if not i.is_archived}
    assert len(live) == 27 and len(after) == 28
    assert {n: i.id for n, i in live.items() if n != "28"} == {
        n: i.id for n, i in before.items() if n != "27"
    }
    assert live["2"].title.endswith("и социальных партнёров ОО.")
    assert (live["3"].due_raw, live["3"].due_date) == ("до 15.11.2022 г.", date(2022, 11, 15))
    assert live["28"].due_date == date(2023, 8, 30)
    (gone,) = [i for i in after if i.is_archived]
    assert gone.id == before["27"].id
    async with session_factory() as session:
        reports = {
            r.title: r.roadmap_item_id for r in await session.scalars(select(ActivityReport))
        }
    assert reports == {before["2"].title: before["2"].id, before["27"].title: before["27"].id}

    # The same file once more changes nothing.
    preview, _done = await import_fixture(
        harness, world, tg, recorder, _modified_roadmap(), "roadmap_v3.xlsx"
    )
    assert (
        _(
            "If imported: new {created}, updated {updated}, unchanged {unchanged}, "
            "moved to the archive {archived}."
        ).format(created=0, updated=0, unchanged=27, archived=0)
        in texts(preview)[0]
    )
    assert [(i.id, i.is_archived) for i in await items_of(session_factory, world.school_a.id)] == [
        (i.id, i.is_archived) for i in after
    ]


def _zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


OLE = bytes.fromhex("d0cf11e0a1b11ae1")
NOT_READABLE = (
    "This is not a roadmap file the bot can read. Send the roadmap as a Word document "
    "(.docx), an Excel or LibreOffice workbook (.xlsx, .xls, .ods) or CSV."
)
DAMAGED = (
    "The file is damaged and can't be read. Open it in Word, Excel or LibreOffice, save it "
    "again and send it once more."
)
LOCKED = (
    "The file is protected with a password. Remove the password (Word, Excel: File → Info → "
    "Protect → Encrypt with Password, clear the field; LibreOffice: File → Save As without "
    "«Save with password») and send the file again."
)
NO_HEADER = (
    "No roadmap table found. The file needs a header row with columns such as "
    "«№», «Мероприятие», «Срок проведения», «Ответственные исполнители»."
)
EMPTY_FILE = (
    "The file is empty: there is no table in it. Send the file with the roadmap table "
    "(columns such as «№», «Мероприятие», «Срок проведения»)."
)
TOO_LARGE = (
    "The file is too large: at most {size} MB. A roadmap is usually much smaller — "
    "is this the right file?"
)


def broken_files() -> list[tuple[str, bytes, dict[str, Any], str, bool]]:
    """(file name, content, document fields, expected answer msgid, downloaded?)."""
    return [
        (
            "protocol.pdf",
            b"%PDF-1.4\n...",
            {},
            "This is a PDF. The roadmap is needed as the file the PDF was made from: a Word "
            "document (.docx), an Excel or LibreOffice workbook (.xlsx, .xls, .ods) or CSV.",
            False,
        ),
        ("scan.jpg", b"\xff\xd8\xff\xe0", {}, NOT_READABLE, False),
        (
            "roadmap.doc",
            (FIXTURES / "roadmap_old.doc").read_bytes(),
            {},
            "This is an old Word document (.doc), which the bot can't read. Open it in Word and "
            "choose File → Save As → «Документ Word (*.docx)» (in LibreOffice: «Word 2007–365 "
            "(.docx)»), then send the .docx file.",
            True,
        ),
        ("locked.docx", (FIXTURES / "roadmap_locked.docx").read_bytes(), {}, LOCKED, True),
        (
            "plan.docx",
            (FIXTURES / "roadmap_no_table.docx").read_bytes(),
            {},
            "The document has no table. The roadmap has to be a table with columns such as "
            "«№», «Мероприятие», «Срок проведения», «Ответственные исполнители» (in Word: "
            "Insert → Table).",
            True,
        ),
        ("class.docx", (FIXTURES / "roadmap_no_header.docx").read_bytes(), {}, NO_HEADER, True),
        ("broken.docx", (FIXTURES / "roadmap_damaged.docx").read_bytes(), {}, DAMAGED, True),
        ("huge.docx", b"PK", {"file_size": 25 * 1024 * 1024}, TOO_LARGE, False),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00garbage" * 50, {}, DAMAGED, True),
        (
            "locked.xlsx",
            OLE + b"\x00" * 512 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64,
            {},
            LOCKED,
            True,
        ),
        ("old.xls", OLE + b"\x00" * 512, {}, DAMAGED, True),
        (
            "people.xlsx",
            xlsx([["Фамилия", "Имя"], ["Иванова", "Мария"], ["Петров", "Пётр"]]),
            {},
            NO_HEADER,
            True,
        ),
        (
            "empty.csv",
            "№;Мероприятие;Срок проведения\n".encode(),
            {},
            "The table has a header but no activities under it.",
            True,
        ),
        ("huge.xlsx", b"PK", {"file_size": 25 * 1024 * 1024}, TOO_LARGE, False),
        # Issue 17.18: an empty workbook is not «a header without activities», and a file
        # named as a workbook with nothing readable inside is damaged, not «not a table».
        ("empty.xlsx", xlsx([]), {}, EMPTY_FILE, True),
        ("garbled.xlsx", b"\x00\x13\x88garbage" * 40, {}, DAMAGED, True),
        ("stripped.xlsx", _zip_of({"readme.txt": b"x"}), {}, DAMAGED, True),
    ]


async def test_broken_files_get_their_answer_and_change_nothing(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    async with session_factory() as session, session.begin():
        session.add(RoadmapItem(school_id=world.school_a.id, title="Уже было", number="1"))
    before = [
        (i.id, i.title, i.updated_at) for i in await items_of(session_factory, world.school_a.id)
    ]
    coordinator = tg.user(world.coordinator.telegram_id)
    for name, data, extra, msgid, downloaded in broken_files():
        recorder.downloads.clear()
        sent = await send_file(harness, coordinator, recorder, name, data, **extra)
        assert texts(sent) == [_(msgid).format(size=10)], name
        assert any(isinstance(r, GetFile) for r in sent) == downloaded, name
        assert bool(recorder.downloads) == downloaded, name
        assert await harness.dp.fsm.storage.get_state(key(coordinator.id)) is None, name
    assert [
        (i.id, i.title, i.updated_at) for i in await items_of(session_factory, world.school_a.id)
    ] == before
    async with session_factory() as session:
        assert len((await session.scalars(select(RoadmapItem))).all()) == 1


def _imported(created: int, unchanged: int, archived: int) -> str:
    return _(
        "The roadmap of {school} is imported: new {created}, updated {updated}, unchanged "
        "{unchanged}, moved to the archive {archived}. /roadmap shows it."
    ).format(school="СОШ №2", created=created, updated=0, unchanged=unchanged, archived=archived)


async def test_word_roadmap_through_the_chat_matches_the_xlsx_in_every_format(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    word = FIXTURES / "roadmap_001.docx"
    count = EXPECTED["counts"]["roadmap_001.xlsx"]
    (preview,) = texts(
        await send_file(harness, coordinator, recorder, word.name, word.read_bytes())
    )
    assert (
        _("Activities found: {count}. Sections: {sections}.").format(count=count, sections=0)
        in preview
    )
    assert "«до 04.10.2022 г.» → " + _("by {date}").format(date="04.10.2022") in preview
    assert await items_of(session_factory, world.school_a.id) == []

    done = await harness.click(
        coordinator, RoadmapImportConfirm(school_id=world.school_a.id).pack()
    )

    assert texts(done) == [_imported(created=count, unchanged=0, archived=0)]
    items = await items_of(session_factory, world.school_a.id)
    for item, expected in zip(items, EXPECTED_ROADMAP["activities"], strict=True):
        assert_as_expected(item, expected)
    ids = [item.id for item in items]
    # The same roadmap kept in LibreOffice, old Excel or Excel changes nothing.
    for name in ("roadmap_001.ods", "roadmap_001.xls", "roadmap_001.xlsx"):
        _preview, again = await import_fixture(
            harness, world, tg, recorder, (FIXTURES / name).read_bytes(), name
        )
        assert texts(again) == [_imported(created=0, unchanged=count, archived=0)], name
        assert [item.id for item in await items_of(session_factory, world.school_a.id)] == ids
    # A row deleted in Word: that activity goes to the archive, the others keep their ids.
    _preview, shorter = await import_fixture(
        harness,
        world,
        tg,
        recorder,
        (FIXTURES / "roadmap_001_shorter.docx").read_bytes(),
        "roadmap_v2.docx",
    )
    assert texts(shorter) == [_imported(created=0, unchanged=count - 1, archived=1)]
    after = await items_of(session_factory, world.school_a.id)
    assert [item.id for item in after] == ids
    assert [item.number for item in after if item.is_archived] == ["27"]


async def test_a_teacher_cannot_import_a_roadmap(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    sent = await send_file(harness, teacher, recorder, ROADMAP.name, ROADMAP.read_bytes())
    assert texts(sent) == [
        _("Only the school coordinator uploads the roadmap. To report an activity, send /report.")
    ]
    assert not any(isinstance(r, GetFile) for r in sent)
    # Even inside the confirmation step (forged state and data), the role is checked.
    storage = harness.dp.fsm.storage
    await storage.set_state(key(teacher.id), "RoadmapImport:confirm")
    await storage.set_data(
        key(teacher.id), {"school_id": world.school_a.id, "file_id": f"file-{ROADMAP.name}"}
    )
    forged = await harness.click(teacher, RoadmapImportConfirm(school_id=world.school_a.id).pack())
    assert alerts(forged) == [
        _("This is not available for your role. /help lists what you can do.")
    ]
    assert await items_of(session_factory, world.school_a.id) == []


async def test_a_coordinator_cannot_import_into_another_school(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    await send_file(harness, coordinator, recorder, ROADMAP.name, ROADMAP.read_bytes())
    sent = await harness.click(
        coordinator, RoadmapImportConfirm(school_id=world.school_b.id).pack()
    )
    assert alerts(sent) == [_("This is not available to you.")]
    async with session_factory() as session:
        assert (await session.scalars(select(RoadmapItem))).all() == []
    # A municipal coordinator's document is not an import either.
    municipal = tg.user(world.municipal.telegram_id)
    sent = await send_file(harness, municipal, recorder, "m.xlsx", ROADMAP.read_bytes())
    assert texts(sent) == [_("This is not available for your role. /help lists what you can do.")]


async def test_cancel_and_stray_messages_during_the_preview(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    await send_file(harness, coordinator, recorder, ROADMAP.name, ROADMAP.read_bytes())
    (hint,) = texts(await harness.send(coordinator, "да"))
    assert hint == _("Press «Import» or «Cancel» under the preview above, or send another file.")
    (cancelled,) = texts(await harness.click(coordinator, Cancel().pack()))
    assert cancelled == _("The import is cancelled; the roadmap is unchanged.")
    stale = await harness.click(
        coordinator, RoadmapImportConfirm(school_id=world.school_a.id).pack()
    )
    assert alerts(stale) == [_("This button is no longer active.")]
    assert await items_of(session_factory, world.school_a.id) == []


async def test_roadmap_command_pages_items_with_raw_deadline_and_status(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    (empty,) = texts(await harness.send(coordinator, "/roadmap"))
    assert empty == _(
        "The roadmap of {school} is empty. To upload it, send the roadmap file "
        "(Word .docx, Excel .xlsx or .xls, LibreOffice .ods or CSV) to this chat."
    ).format(school="СОШ №2")
    await import_fixture(harness, world, tg, recorder, ROADMAP.read_bytes(), ROADMAP.name)

    sent = await harness.send(coordinator, "/roadmap")
    (text,) = texts(sent)
    assert "«до 04.10.2022 г.»" in text and _("⚠ overdue") in text and _("no report") in text
    assert "В течение учебного года" in text
    first = sent[0]
    assert isinstance(first, SendMessage) and isinstance(first.reply_markup, InlineKeyboardMarkup)
    buttons = [b.callback_data for row in first.reply_markup.inline_keyboard for b in row]
    assert RoadmapPage(school_id=world.school_a.id, page=1).pack() in buttons
    (page2,) = texts(
        await harness.click(coordinator, RoadmapPage(school_id=world.school_a.id, page=1).pack())
    )
    assert f"<b>{PAGE_SIZE + 1}. </b>" in page2 and "<b>1. </b>" not in page2

    # A curator following one school sees it at once; another school's page is refused.
    curator = tg.user(world.curator.telegram_id)
    (seen,) = texts(await harness.send(curator, "/roadmap"))
    assert "«до 04.10.2022 г.»" in seen
    refused = await harness.click(curator, RoadmapPage(school_id=world.school_b.id, page=0).pack())
    assert alerts(refused) == [_("This is not available to you.")]


async def test_cli_import_and_reimport(
    world: World, session_factory, database_url: str, monkeypatch, tmp_path: Path, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = ["roadmap", "import", "--school", str(world.school_a.id), str(ROADMAP)]

    assert await asyncio.to_thread(main.main, [*args[:-1], "--dry-run", args[-1]]) == 0
    assert await items_of(session_factory, world.school_a.id) == []
    assert await asyncio.to_thread(main.main, args) == 0
    first = [i.id for i in await items_of(session_factory, world.school_a.id)]
    assert len(first) == EXPECTED["counts"]["roadmap_001.xlsx"]
    assert await asyncio.to_thread(main.main, args) == 0
    assert [i.id for i in await items_of(session_factory, world.school_a.id)] == first
    out = capsys.readouterr().out
    assert "created 27" in out and "unchanged 27" in out

    missing = ["roadmap", "import", "--school", "999", str(ROADMAP)]
    assert await asyncio.to_thread(main.main, missing) == 1
    not_a_table = tmp_path / "notes.pdf"
    not_a_table.write_bytes(b"%PDF-1.4")
    bad = ["roadmap", "import", "--school", str(world.school_a.id), str(not_a_table)]
    assert await asyncio.to_thread(main.main, bad) == 1
    assert "not_spreadsheet" in capsys.readouterr().err


async def test_cli_imports_word_and_old_excel_and_refuses_a_doc(
    world: World, session_factory, database_url: str, monkeypatch, tmp_path: Path, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    school = ["roadmap", "import", "--school", str(world.school_a.id)]

    assert await asyncio.to_thread(main.main, [*school, str(FIXTURES / "roadmap_001.docx")]) == 0
    ids = [i.id for i in await items_of(session_factory, world.school_a.id)]
    assert len(ids) == EXPECTED["counts"]["roadmap_001.xlsx"]
    for name in ("roadmap_001.xls", "roadmap_001.ods"):
        assert await asyncio.to_thread(main.main, [*school, str(FIXTURES / name)]) == 0
    assert [i.id for i in await items_of(session_factory, world.school_a.id)] == ids
    out = capsys.readouterr().out
    assert out.count("unchanged 27") == 2 and "created 27" in out

    assert await asyncio.to_thread(main.main, [*school, str(FIXTURES / "roadmap_old.doc")]) == 1
    assert "not_spreadsheet {'format': 'doc'}" in capsys.readouterr().err
    assert [i.id for i in await items_of(session_factory, world.school_a.id)] == ids


async def test_a_coordinator_demoted_after_the_preview_cannot_import(
    harness: Harness, world: World, tg, recorder, session_factory, i18n_ru
):
    """The role is read from the database on every update, not remembered from the preview."""
    coordinator = tg.user(world.coordinator.telegram_id)
    await send_file(harness, coordinator, recorder, ROADMAP.name, ROADMAP.read_bytes())
    async with session_factory() as session, session.begin():
        user = await session.get(User, world.coordinator.id)
        user.role = Role.TEACHER
    sent = await harness.click(
        coordinator, RoadmapImportConfirm(school_id=world.school_a.id).pack()
    )
    assert alerts(sent) == [_("This is not available for your role. /help lists what you can do.")]
    assert await items_of(session_factory, world.school_a.id) == []


async def test_preview_lists_the_deadlines_it_did_not_understand(
    harness: Harness, world: World, tg, recorder, i18n_ru
):
    data = xlsx(
        [
            ["№", "Мероприятие", "Срок проведения", "Ответственные исполнители"],
            [1, "Совещание", "до 04.10.2022", "Директор"],
            [2, "Экскурсия", "по погоде", "Классные руководители"],
            [3, "Линейка", "когда соберёмся", "Завуч"],
        ]
    )
    (preview,) = texts(
        await send_file(harness, tg.user(world.coordinator.telegram_id), recorder, "p.xlsx", data)
    )
    assert _("Deadline not recognised: {count}.").format(count=2) in preview
    assert "• 2. Экскурсия: «по погоде»" in preview
    assert "• 3. Линейка: «когда соберёмся»" in preview
    assert "Совещание: «" not in preview
