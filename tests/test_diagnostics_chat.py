"""Self-diagnosis end to end in the chat: runs, resume after restart, results, access checks."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator
from datetime import date
from html import escape
from typing import Any

import openpyxl
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import InlineKeyboardMarkup, Sticker
from aiogram.utils.i18n import gettext as _
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_session_factory
from bot.dispatcher import create_bot, create_dispatcher
from bot.ui.callbacks import (
    DiagAnswer,
    DiagBack,
    DiagContinue,
    DiagHint,
    DiagImport,
    DiagLevel,
    DiagLevelsDone,
    DiagOvz,
    DiagPause,
    DiagRestart,
    DiagSchool,
    DiagStart,
    DiagToRoadmap,
    DiagUnknown,
    DiagView,
    ItemAction,
    RoadmapItemAction,
)
from models import (
    Answer,
    DiagnosticRun,
    Question,
    Questionnaire,
    RoadmapItem,
    RunStatus,
    School,
    User,
    diagnostics,
)
from models import diagnostic_runs as runs
from tests.conftest import Harness, World
from tests.telegram import RecordingSession, UpdateFactory
from tests.test_diagnostics_scoring import FULL, KUZNETSK_RISKS, answer_all

MSH = diagnostics.builtin_questionnaires()["msh"]
RISK = diagnostics.builtin_questionnaires()["risk500"]
NOT_FOR_ROLE = "This is not available for your role. /help lists what you can do."


# --- helpers ---------------------------------------------------------------------------------


def texts(requests: list[Any]) -> list[str]:
    found = []
    for request in requests:
        if isinstance(request, SendMessage | EditMessageText):
            assert request.text is not None, request  # the bot never edits a message to no text
            found.append(request.text)
    return found


def alerts(requests: list[Any]) -> list[str]:
    return [r.text for r in requests if isinstance(r, AnswerCallbackQuery) and r.text]


def buttons(requests: list[Any]) -> list[tuple[str, str]]:
    """(text, callback data) of every inline button sent or edited in, in order."""
    found = []
    for request in requests:
        markup = getattr(request, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            for row in markup.inline_keyboard:
                found += [(b.text, b.callback_data or "") for b in row]
    return found


def button(requests: list[Any], kind: type[CallbackData], **fields: Any) -> str:
    """The callback data of the shown button of ``kind`` whose fields match."""
    for _text, data in buttons(requests):
        try:
            parsed = kind.unpack(data)
        except (TypeError, ValueError):
            continue
        if all(getattr(parsed, name) == value for name, value in fields.items()):
            return data
    raise AssertionError(f"no {kind.__name__} button {fields} in {buttons(requests)}")


async def questionnaire_id(factory: async_sessionmaker[AsyncSession], code: str) -> int:
    async with factory() as session:
        found = await session.scalar(
            select(Questionnaire.id).where(
                Questionnaire.code == code, Questionnaire.is_active.is_(True)
            )
        )
    assert found is not None, code
    return found


async def the_run(factory: async_sessionmaker[AsyncSession], school_id: int) -> DiagnosticRun:
    async with factory() as session:
        run = await session.scalar(
            select(DiagnosticRun)
            .where(DiagnosticRun.school_id == school_id)
            .order_by(DiagnosticRun.id.desc())
            .limit(1)
        )
    assert run is not None, school_id
    return run


async def count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def start_msh(harness: Harness, user: Any, factory: async_sessionmaker[AsyncSession]):
    sent = await harness.send(user, "/diagnostics")
    msh_id = await questionnaire_id(factory, "msh")
    return await harness.click(user, button(sent, DiagStart, questionnaire_id=msh_id))


async def set_full_profile(harness: Harness, user: Any, run_id: int, sent: list[Any]) -> list[Any]:
    for index, level in enumerate(diagnostics.SCHOOL_LEVELS):
        data = DiagLevel(run_id=run_id, index=index).pack()
        if ("✅ " + level, data) not in buttons(sent):
            sent = await harness.click(user, data)
    sent = await harness.click(user, button(sent, DiagLevelsDone, run_id=run_id))
    return await harness.click(user, button(sent, DiagOvz, run_id=run_id, value=1))


async def answer_current(
    harness: Harness, user: Any, sent: list[Any], run: DiagnosticRun, value: Any
) -> list[Any]:
    """Answer the question on screen like a person would: tap its button or type."""
    if isinstance(value, float):
        return await harness.send(user, f"{value:g}")
    return await harness.click(user, button(sent, DiagAnswer, run_id=run.id, option=value))


async def complete_run(
    factory: async_sessionmaker[AsyncSession],
    school_id: int,
    code: str,
    profile: diagnostics.Profile,
    answers: dict[str, diagnostics.AnswerValue],
) -> int:
    """A completed run made through the query functions, as an earlier self-diagnosis."""
    async with factory() as session, session.begin():
        await runs.sync_builtin_questionnaires(session)
    row_id = await questionnaire_id(factory, code)
    async with factory() as session, session.begin():
        school = await session.get(School, school_id)
        row = await session.get(Questionnaire, row_id)
        assert school is not None and row is not None
        run = await runs.start_run(session, school=school, row=row, actor_id=None)
        view = await runs.load_run(session, run)
        if view.profile is None:
            await runs.set_profile(session, view, profile.levels, profile.ovz)
        while (question := view.current) is not None:
            await runs.save_answer(
                session, view, view.question_ids[question.code], answers[question.code]
            )
        await runs.finish_run(session, view, actor_id=None)
        return run.id


# --- the whole run through the chat ----------------------------------------------------------


async def test_seed_school_answers_in_the_chat_reproduce_its_risk_list(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await start_msh(harness, coordinator, session_factory)
    run = await the_run(session_factory, world.school_a.id)
    sent = await set_full_profile(harness, coordinator, run.id, sent)

    answers = answer_all(MSH, FULL, set(KUZNETSK_RISKS.values()))
    questions = MSH.questions_for(FULL)
    for step in range(len(questions)):
        run = await the_run(session_factory, world.school_a.id)
        question = questions[run.position]
        assert run.position == step
        (shown,) = texts(sent)[-1:]
        assert escape(question.text) in shown
        assert f"{step + 1} / {len(questions)}" in shown
        sent = await answer_current(harness, coordinator, sent, run, answers[question.code])

    card = "\n".join(texts(sent))
    expected = [MSH.question(code).deficit for code in KUZNETSK_RISKS.values()]
    for deficit in expected:
        assert escape(deficit) in card
    assert _("<b>Deficits: {count}</b>").format(count=10) in card
    assert _("<b>Overall: {points} of {max} points — {level}</b>").split("{")[0].strip() in card
    assert f"— {MSH.level('medium').title}</b>" in card

    run = await the_run(session_factory, world.school_a.id)
    assert run.status == RunStatus.COMPLETED and run.completed_at is not None
    assert run.level == "medium"
    assert run.result is not None
    assert set(run.result) == {"directions", "overall", "unknown", "estimate"}
    assert set(run.result["overall"]) == {"points", "max_points", "level"}
    for direction in run.result["directions"]:
        assert set(direction) == {"code", "title", "points", "max_points", "level", "deficits"}
    stored = [d for item in run.result["directions"] for d in item["deficits"]]
    assert sorted(stored) == sorted(expected)
    assert run.result["unknown"] == [] and run.result["estimate"] is True
    assert (run.total_points, run.max_points) == (
        run.result["overall"]["points"],
        run.result["overall"]["max_points"],
    )
    async with session_factory() as session:
        school = await session.get(School, world.school_a.id)
        assert (school.levels, school.has_ovz) == ("НОО,ООО,СОО", True)
        assert await session.scalar(
            select(func.count()).select_from(Answer).where(Answer.run_id == run.id)
        ) == len(questions)

    # One tap puts a deficit on the roadmap; a second tap does not duplicate it.
    upbringing = next(
        i for i, d in enumerate(run.result["directions"]) if d["code"] == "upbringing"
    )
    add = button(sent, DiagToRoadmap, run_id=run.id, direction=upbringing, item=0)
    added = await harness.click(coordinator, add)
    again = await harness.click(coordinator, add)
    assert alerts(again) == [_("The school's roadmap already has this item.")]
    async with session_factory() as session:
        (item,) = (await session.scalars(select(RoadmapItem))).all()
    assert item.school_id == world.school_a.id
    assert item.title == run.result["directions"][upbringing]["deficits"][0]
    assert item.direction == "upbringing"
    assert item.section == _("From the self-diagnosis")
    assert item.due_raw is None
    # It comes without a deadline or a responsible: the message leads to the activity's card,
    # where the coordinator sets them (issue 17.19).
    (told,) = [r for r in added if isinstance(r, SendMessage)]
    assert _("It has no deadline and no responsible yet.") in told.text
    assert isinstance(told.reply_markup, InlineKeyboardMarkup)
    (card_button,) = [b.callback_data for row in told.reply_markup.inline_keyboard for b in row]
    assert card_button == RoadmapItemAction(action=ItemAction.OPEN, item_id=item.id).pack()
    await harness.click(
        coordinator, RoadmapItemAction(action=ItemAction.DUE, item_id=item.id).pack()
    )
    await harness.send(coordinator, "до 15.03.2027")
    async with session_factory() as session:
        item = await session.get(RoadmapItem, item.id)
    assert item.due_raw == "до 15.03.2027" and item.due_date == date(2027, 3, 15)


async def test_profile_is_prefilled_from_the_school_and_a_restart_resumes_the_run(
    harness: Harness, world: World, tg, session_factory, settings, i18n, i18n_ru
):
    async with session_factory() as session, session.begin():
        school = await session.get(School, world.school_a.id)
        school.levels, school.has_ovz = "НОО", False
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await start_msh(harness, coordinator, session_factory)
    run = await the_run(session_factory, world.school_a.id)
    assert ("✅ НОО", DiagLevel(run_id=run.id, index=0).pack()) in buttons(sent)
    assert ("▫️ ООО", DiagLevel(run_id=run.id, index=1).pack()) in buttons(sent)
    sent = await harness.click(coordinator, button(sent, DiagLevelsDone, run_id=run.id))
    assert ("✅ " + _("No"), DiagOvz(run_id=run.id, value=0).pack()) in buttons(sent)
    sent = await harness.click(coordinator, button(sent, DiagOvz, run_id=run.id, value=0))

    # Hint on demand, «не знаю», then one real answer.
    first = MSH.questions_for(diagnostics.Profile(frozenset({"НОО"}), ovz=False))[0]
    assert escape(first.hint) not in texts(sent)[-1]
    sent = await harness.click(coordinator, button(sent, DiagHint, run_id=run.id))
    assert escape(first.hint) in texts(sent)[-1]
    sent = await harness.click(coordinator, button(sent, DiagUnknown, run_id=run.id))
    sent = await harness.click(coordinator, button(sent, DiagAnswer, run_id=run.id, option=1))
    before_restart = texts(sent)[-1]
    sent = await harness.click(coordinator, button(sent, DiagPause, run_id=run.id))
    assert "3 / " in texts(sent)[-1]

    # A new process: another engine, Dispatcher and bot over the same database file.
    engine = create_engine(settings.database_url)
    try:
        recorder = RecordingSession()
        restarted = Harness(
            dp=create_dispatcher(settings, create_session_factory(engine), i18n),
            bot=create_bot(settings, session=recorder),
            recorder=recorder,
            updates=UpdateFactory(),
        )
        sent = await restarted.send(coordinator, "/diagnostics")
        sent = await restarted.click(coordinator, button(sent, DiagContinue, run_id=run.id))
        assert texts(sent) == [before_restart]
        run = await the_run(session_factory, world.school_a.id)
        assert run.position == 2 and run.status == RunStatus.IN_PROGRESS
        assert run.profile == {"levels": ["НОО"], "ovz": False}
        async with session_factory() as session:
            values = (await session.scalars(select(Answer.value).order_by(Answer.id))).all()
        assert values == [{"unknown": True}, {"option": 1}]

        # «Начать заново» sets the run aside and starts at the profile again.
        sent = await restarted.send(coordinator, "/diagnostics")
        sent = await restarted.click(coordinator, button(sent, DiagRestart, run_id=run.id))
        new = await the_run(session_factory, world.school_a.id)
        assert new.id != run.id and new.profile == {} and new.status == RunStatus.IN_PROGRESS
        async with session_factory() as session:
            assert (await session.get(DiagnosticRun, run.id)).status == RunStatus.ABANDONED
        assert button(sent, DiagLevel, run_id=new.id, index=0)
    finally:
        await engine.dispose()


async def test_typed_answers_and_fallbacks_keep_the_run(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await start_msh(harness, coordinator, session_factory)
    run = await the_run(session_factory, world.school_a.id)
    sent = await set_full_profile(harness, coordinator, run.id, sent)

    sticker = Sticker(
        file_id="s", file_unique_id="s", type="regular", width=1, height=1,
        is_animated=False, is_video=False,
    )  # fmt: skip
    (hint,) = texts(await harness.send(coordinator, sticker=sticker))
    assert hint == _(
        "Please answer with the buttons under the question. «Pause» stops for now; "
        "/diagnostics continues later."
    )
    number_at = next(i for i, q in enumerate(MSH.questions_for(FULL)) if q.kind == "number")
    async with session_factory() as session, session.begin():
        (await session.get(DiagnosticRun, run.id)).position = number_at
    (hint,) = texts(await harness.send(coordinator, "много"))
    assert hint == _("Please send a number, digits only, e.g. 12 or 7,5.")
    # An option index is a valid number too: a forged button must not answer a number question.
    async with session_factory() as session:
        number_id = await session.scalar(
            select(Question.id).where(Question.code == MSH.questions_for(FULL)[number_at].code)
        )
    forged = DiagAnswer(run_id=run.id, question_id=number_id, option=0).pack()
    assert alerts(await harness.click(coordinator, forged)) == [
        _("This button is no longer active.")
    ]
    assert await count(session_factory, Answer) == 0
    # A share is 0-100 %, as the questionnaire says (issue 17.20): 150 is refused, not stored.
    share = MSH.questions_for(FULL)[number_at]
    assert (share.range_min, share.range_max) == (0, 100)
    (hint,) = texts(await harness.send(coordinator, "150"))
    assert hint == _("Please send a number from {min} to {max}.").format(min=0, max=100)
    (hint,) = texts(await harness.send(coordinator, "-3"))
    assert hint == _("Please send a number from {min} to {max}.").format(min=0, max=100)
    assert await count(session_factory, Answer) == 0

    sent = await harness.send(coordinator, "12,5")
    async with session_factory() as session:
        (answer,) = (await session.scalars(select(Answer))).all()
        run = await session.get(DiagnosticRun, run.id)
    assert answer.value == {"number": 12.5}
    assert run.position == number_at + 1
    assert escape(MSH.questions_for(FULL)[number_at + 1].text) in texts(sent)[-1]

    # «Назад» from the first question returns to the profile, which keeps what was chosen.
    async with session_factory() as session, session.begin():
        (await session.get(DiagnosticRun, run.id)).position = 0
    sent = await harness.send(coordinator, "/diagnostics")
    sent = await harness.click(coordinator, button(sent, DiagContinue, run_id=run.id))
    sent = await harness.click(coordinator, button(sent, DiagBack, run_id=run.id))
    assert ("✅ СОО", DiagLevel(run_id=run.id, index=2).pack()) in buttons(sent)


# --- access and forged callback data ---------------------------------------------------------


async def test_teacher_cannot_start_a_self_diagnosis(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    teacher = tg.user(world.teacher.telegram_id)
    # Told who fills it in (issue 17.20), by name, instead of «not for your role».
    async with session_factory() as session:
        coordinator = await session.get(User, world.coordinator.id)
        name = coordinator.full_name
    assert texts(await harness.send(teacher, "/diagnostics")) == [
        _(
            "The self-diagnosis is filled in by your school's coordinator: {names}. "
            "Curators and the municipal coordinator see its results."
        ).format(names=escape(name))
    ]
    # A school without a coordinator in the bot: the teacher learns whom to ask.
    teacher_b = tg.user(world.teacher_b.telegram_id)
    assert texts(await harness.send(teacher_b, "/diagnostics")) == [
        _(
            "The self-diagnosis is filled in by your school's coordinator; your school has "
            "none in the bot yet. Ask your municipal coordinator for an invite for them."
        )
    ]
    async with session_factory() as session, session.begin():
        await runs.sync_builtin_questionnaires(session)
    msh_id = await questionnaire_id(session_factory, "msh")
    sent = await harness.click(teacher, DiagStart(questionnaire_id=msh_id).pack())
    assert alerts(sent) == [_(NOT_FOR_ROLE)]
    assert await count(session_factory, DiagnosticRun) == 0


async def test_forged_callback_data_is_refused_and_changes_nothing(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await start_msh(harness, coordinator, session_factory)
    run = await the_run(session_factory, world.school_a.id)
    sent = await set_full_profile(harness, coordinator, run.id, sent)
    msh_id = await questionnaire_id(session_factory, "msh")
    async with session_factory() as session:
        ids = dict(
            (
                await session.execute(
                    select(Question.code, Question.id).where(Question.questionnaire_id == msh_id)
                )
            ).all()
        )
    questions = MSH.questions_for(FULL)
    current, later = ids[questions[0].code], ids[questions[3].code]
    async with session_factory() as session, session.begin():
        school_b = await session.get(School, world.school_b.id)
        row = await session.get(Questionnaire, msh_id)
        foreign = await runs.start_run(session, school=school_b, row=row, actor_id=None)
        foreign_id = foreign.id

    inactive = _("This button is no longer active.")
    moved_on = _(
        "This question is no longer current: the self-diagnosis has moved on. "
        "Send /diagnostics to continue."
    )
    cases: list[tuple[str | CallbackData, str]] = [
        (DiagAnswer(run_id=run.id, question_id=later, option=0), moved_on),
        (DiagHint(run_id=run.id, question_id=later), moved_on),
        (DiagAnswer(run_id=run.id, question_id=current, option=99), inactive),
        (f"da:{run.id}:{current}:-1", inactive),  # can't be built: forged by hand
        (DiagAnswer(run_id=99_999, question_id=current, option=0),
         _("This item no longer exists or is not available to you.")),
        (DiagAnswer(run_id=foreign_id, question_id=current, option=0),
         _("This is not available to you.")),
        (DiagUnknown(run_id=foreign_id, question_id=current), _("This is not available to you.")),
        (DiagLevel(run_id=run.id, index=7), inactive),
        (DiagToRoadmap(run_id=run.id, direction=0, item=0), inactive),
        (DiagView(run_id=foreign_id), _("This is not available to you.")),
    ]  # fmt: skip
    for data, expected in cases:
        sent = await harness.click(coordinator, data if isinstance(data, str) else data.pack())
        (alert,) = alerts(sent)
        assert texts(sent) == [], data
        assert alert == expected, data
    async with session_factory() as session:
        assert (await session.scalars(select(Answer))).all() == []
        assert (await session.get(DiagnosticRun, run.id)).position == 0
        assert (await session.get(DiagnosticRun, foreign_id)).profile == {}
    assert await count(session_factory, RoadmapItem) == 0

    # The real button still works afterwards.
    sent = await harness.click(
        coordinator, DiagAnswer(run_id=run.id, question_id=current, option=0).pack()
    )
    assert (await the_run(session_factory, world.school_a.id)).position == 1


# --- results for curators and municipal coordinators -----------------------------------------


async def test_curator_sees_only_assigned_schools_and_the_risk_estimate_is_labelled(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    await complete_run(
        session_factory,
        world.school_a.id,
        "msh",
        FULL,
        answer_all(MSH, FULL, set(KUZNETSK_RISKS.values())),
    )
    risk_answers = answer_all(RISK, FULL, {q.code for q in RISK.questions})
    risk_answers.update({"discipline_noise": 2, "discipline_time_lost": 2})
    await complete_run(session_factory, world.school_b.id, "risk500", FULL, risk_answers)

    curator = tg.user(world.curator.telegram_id)
    (listing,) = texts(await harness.send(curator, "/diagnostics"))
    assert "СОШ №2" in listing and "СОШ №5" not in listing
    assert MSH.level("medium").title in listing
    sent = await harness.click(curator, DiagSchool(school_id=world.school_b.id).pack())
    assert texts(sent) == [] and alerts(sent) == [_("This is not available to you.")]
    sent = await harness.click(curator, DiagSchool(school_id=world.school_a.id).pack())
    (card,) = texts(sent)
    assert escape(MSH.question("upbringing_anthem").deficit) in card
    # Only the school's coordinator adds to its roadmap.
    assert not [data for _text, data in buttons(sent) if data.startswith("dm:")]

    municipal = tg.user(world.municipal.telegram_id)
    (listing,) = texts(await harness.send(municipal, "/diagnostics"))
    assert "СОШ №2" in listing and "СОШ №5" in listing
    (card,) = texts(await harness.click(municipal, DiagSchool(school_id=world.school_b.id).pack()))
    assert (
        _(
            "<i>This is the bot's own estimate from your answers, not the official FIOKO "
            "risk profile.</i>"
        )
        in card
    )
    assert escape(RISK.direction("discipline").title) in card
    # A risk profile is titled as one (issue 17.20), the self-diagnosis as itself.
    assert card.startswith(_("<b>Risk profile result</b> · {title}").split("{")[0])
    assert _("<b>Self-diagnosis result</b> · {title}").split(" · ")[0] not in card
    (card,) = texts(await harness.click(municipal, DiagSchool(school_id=world.school_a.id).pack()))
    assert card.startswith(_("<b>Self-diagnosis result</b> · {title}").split("{")[0])


async def test_the_card_compares_with_the_previous_run(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    absent = set(KUZNETSK_RISKS.values())
    await complete_run(
        session_factory, world.school_a.id, "msh", FULL, answer_all(MSH, FULL, absent)
    )
    closed = {"upbringing_adviser", "upbringing_first_movement"}
    latest = await complete_run(
        session_factory, world.school_a.id, "msh", FULL, answer_all(MSH, FULL, absent - closed)
    )
    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await harness.send(coordinator, "/diagnostics")
    sent = await harness.click(coordinator, button(sent, DiagView, run_id=latest))
    (card,) = texts(sent)
    assert _("Deficits closed: {closed}; new: {new}.").format(closed=2, new=0) in card
    assert (
        _("Overall: {delta} points, level unchanged ({level})").format(
            delta="+4", level=MSH.level("medium").title
        )
        in card
    )
    assert (
        _("• {title}: {delta}, {before} → {after}").format(
            title=MSH.direction("upbringing").title,
            delta="+4",
            before=MSH.level("below_basic").title,
            after=MSH.level("medium").title,
        )
        in card
    )
    # Eight deficits remain, each with its own roadmap button.
    assert len([data for _text, data in buttons(sent) if data.startswith("dm:")]) == 8


async def test_builtin_questionnaires_sync_once(session_factory):
    async with session_factory() as session, session.begin():
        assert await runs.sync_builtin_questionnaires(session) == 2
        assert await runs.sync_builtin_questionnaires(session) == 0
    async with session_factory() as session:
        rows = (await session.scalars(select(Questionnaire))).all()
        assert {(r.code, r.version) for r in rows} == {
            ("msh", MSH.version),
            ("risk500", RISK.version),
        }
        for row in rows:
            assert (
                diagnostics.parse_questionnaire(row.definition)
                == diagnostics.builtin_questionnaires()[row.code]
            )
        assert await session.scalar(select(func.count()).select_from(Question)) == len(
            MSH.questions
        ) + len(RISK.questions)


# --- XLSX questionnaires ---------------------------------------------------------------------


def sheet(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    active = workbook.active
    assert isinstance(active, Worksheet)
    active.append(["Направление", "Вопрос", "Тип", "Варианты"])
    for row in rows:
        active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def serve_file(recorder: RecordingSession, content: bytes) -> None:
    """The next getFile answers with a path, and the download yields ``content``."""
    recorder.add_result({"file_id": "f", "file_unique_id": "u", "file_path": "documents/q.xlsx"})

    async def stream_content(*args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield content

    recorder.stream_content = stream_content  # type: ignore[method-assign]


async def test_xlsx_with_bad_rows_imports_nothing_and_a_good_one_is_offered(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    municipal = tg.user(world.municipal.telegram_id)
    await harness.send(municipal, "/diagnostics")
    builtins = await count(session_factory, Questionnaire)
    await harness.click(municipal, DiagImport().pack())

    serve_file(harness.recorder, sheet([
        ["Знание", "Сетевая форма?", "да/нет", None],
        ["Знание", "Вопрос 2", "слайдер", None],  # row 3
        ["Астрономия", "Вопрос 3", "да/нет", None],  # row 4
    ]))  # fmt: skip
    sent = await harness.feed(harness.updates.document(municipal, file_name="анкета.xlsx"))
    report = "\n".join(texts(sent))
    assert (
        _("Row {row}: {problem}").format(
            row=3, problem=_("unknown type «{value}»").format(value="слайдер")
        )
        in report
    )
    assert (
        _("Row {row}: {problem}").format(
            row=4, problem=_("unknown direction «{value}»").format(value="Астрономия")
        )
        in report
    )
    assert await count(session_factory, Questionnaire) == builtins

    serve_file(harness.recorder, sheet([
        ["Знание", "Сетевая форма?", "да/нет", None],
        ["Воспитание", "Гимн школы", "выбор", "нет=0; частично=1; да=2"],
    ]))  # fmt: skip
    await harness.feed(
        harness.updates.document(municipal, file_name="x.xlsx", caption="Региональная")
    )
    async with session_factory() as session:
        row = await session.scalar(
            select(Questionnaire).where(Questionnaire.title == "Региональная")
        )
    assert row.source == f"xlsx:m{world.municipality.id}" and row.version == "1"

    coordinator = tg.user(world.coordinator.telegram_id)
    sent = await harness.send(coordinator, "/diagnostics")
    assert button(sent, DiagStart, questionnaire_id=row.id)
    sent = await harness.click(coordinator, DiagStart(questionnaire_id=row.id).pack())
    assert "Сетевая форма?" in texts(sent)[-1]
