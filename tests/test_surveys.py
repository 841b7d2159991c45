"""Anonymous surveys through the real dispatcher: start and share, answer, close, anonymity."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import EditMessageText, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, inspect, select, text

from bot.jobs.surveys import close_due_surveys_job
from bot.ui.callbacks import SurveyAnswer, SurveyBack, SurveyCard, SurveyManage, SurveyNew
from handlers.surveys.respond import thanks_text
from handlers.surveys.texts import FSM_STATES
from models import FsmRecord, Survey, SurveyCount, SurveyRespondent, User
from models import surveys as sv
from models.errors import InvalidInput
from models.invites import create_invite
from tests.conftest import TG_IDS, Harness, World
from tests.telegram import inline_keyboard

COORDINATOR = TG_IDS["coordinator"]


def texts(requests: list[Any]) -> list[str]:
    return [str(r.text) for r in requests if isinstance(r, SendMessage | EditMessageText)]


def labels(request: Any) -> list[str]:
    return [button.text for row in inline_keyboard(request) for button in row]


def link_token(text: str) -> str:
    found = re.search(r"start=([\w-]+)", text)
    assert found is not None
    return found.group(1)


async def new_survey(
    session_factory, world: World, audience: str = "parents", form: str = "risk500", days: int = 7
) -> tuple[int, str]:
    async with session_factory() as session, session.begin():
        today = date.today()
        created = await sv.create_survey(
            session,
            school=world.school_a,
            form=form,
            audience=audience,
            grades=[6, 9] if audience == "students" else [],
            closes_on=today + timedelta(days=days),
            today=today,
            created_by=world.coordinator,
        )
    return created.survey.id, created.token


async def answer_all(harness: Harness, person, survey_id: int, token: str, option: int = 0):
    sent = await harness.send(person, f"/start {token}")
    count = len(sv.questions("risk500", "parents"))
    for position in range(count):
        sent = await harness.click(
            person, SurveyAnswer(survey_id=survey_id, position=position, option=option).pack()
        )
    return sent


async def test_coordinator_starts_a_survey_and_gets_a_link_and_qr(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    me = tg.user(COORDINATOR)
    sent = await harness.send(me, "/survey")
    assert _("No surveys yet.") in texts(sent)[0] or "500+" in texts(sent)[0]
    step = SurveyNew(school_id=world.school_a.id)
    await harness.click(me, step.pack())
    step = step.model_copy(update={"form": "risk500"})
    await harness.click(me, step.pack())
    step = step.model_copy(update={"audience": "students"})
    sent = await harness.click(me, step.pack())
    assert _("Pupils of which grades? Tick them, then press «Next».") in texts(sent)[0]
    step = step.model_copy(update={"grades": (1 << 6) | (1 << 9), "grades_done": True})
    await harness.click(me, step.pack())
    sent = await harness.click(me, step.model_copy(update={"days": 14}).pack())

    links = [t for t in texts(sent) if "https://t.me/school_reports_bot?start=" in t]
    assert len(links) == 1
    photos = [r for r in sent if isinstance(r, SendPhoto)]
    photo = photos[0].photo
    assert len(photos) == 1 and isinstance(photo, BufferedInputFile)
    assert photo.data.startswith(b"\x89PNG")
    token = link_token(links[0])
    async with session_factory() as session:
        survey = await session.scalar(select(Survey))
        assert survey.audience == "students" and survey.grades == "6,9"
        assert survey.closes_on - survey.created_on == timedelta(days=14)
        assert survey.token_hash != token and await sv.by_token(session, token) is not None
        counts = await session.scalar(select(func.count()).select_from(SurveyCount))
        questions = sv.questions("risk500", "students")
        assert counts == sum(len(q.options) for q in questions)


async def test_a_stranger_answers_with_back_and_only_counters_remain(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    survey_id, token = await new_survey(session_factory, world)
    person = tg.user(777001)
    sent = await harness.send(person, f"/start {token}")
    assert "СОШ №2" in texts(sent)[0] and "1" in texts(sent)[0]
    await harness.click(person, SurveyAnswer(survey_id=survey_id, position=0, option=2).pack())
    sent = await harness.click(person, SurveyBack(survey_id=survey_id, position=1).pack())
    assert _("Question {number} of {total}").format(number=1, total=2) in texts(sent)[0]
    await harness.click(person, SurveyAnswer(survey_id=survey_id, position=0, option=1).pack())
    # A typed message in the middle: told to use the buttons, the question comes again.
    sent = await harness.send(person, "не знаю")
    assert _("Please answer with the buttons under the question.") in texts(sent)
    sent = await harness.click(
        person, SurveyAnswer(survey_id=survey_id, position=1, option=0).pack()
    )
    assert texts(sent)[-1] == thanks_text()

    async with session_factory() as session:
        counts = {
            (c.question, c.option): c.count
            for c in await session.scalars(select(SurveyCount).where(SurveyCount.count > 0))
        }
        first, second = sv.questions("risk500", "parents")
        assert counts == {(first.code, 1): 1, (second.code, 0): 1}
        assert (await session.get(Survey, survey_id)).responses == 1
        assert await session.scalar(select(func.count()).select_from(FsmRecord)) == 0
        assert await session.scalar(select(User).where(User.telegram_id == 777001)) is None

    # Once only; a second person is fine.
    sent = await harness.send(person, f"/start {token}")
    assert texts(sent) == [_("You have already answered this survey. Thank you!")]
    await answer_all(harness, tg.user(777002), survey_id, token)
    async with session_factory() as session:
        assert (await session.get(Survey, survey_id)).responses == 2


async def test_invite_links_still_register(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    await new_survey(session_factory, world)
    async with session_factory() as session, session.begin():
        created = await create_invite(
            session, role=world.teacher.role, school_ids=[world.school_a.id]
        )
    await harness.send(tg.user(5050), f"/start {created.token}")
    async with session_factory() as session:
        assert await session.scalar(select(User).where(User.telegram_id == 5050)) is not None


async def test_closed_or_withdrawn_survey_is_polite_and_stores_nothing(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    survey_id, token = await new_survey(session_factory, world)
    person = tg.user(777010)
    await harness.send(person, f"/start {token}")
    await harness.click(person, SurveyAnswer(survey_id=survey_id, position=0, option=0).pack())

    me = tg.user(COORDINATOR)
    await harness.click(me, SurveyManage(survey_id=survey_id, action="revoke").pack())
    sent = await harness.send(tg.user(777011), f"/start {token}")
    assert texts(sent) == [
        _("This survey link is no longer valid. Ask the school for the current link.")
    ]
    await harness.click(me, SurveyManage(survey_id=survey_id, action="close_yes").pack())
    sent = await harness.click(
        person, SurveyAnswer(survey_id=survey_id, position=1, option=0).pack()
    )
    sent = await harness.send(tg.user(777012), f"/start {token}")
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert survey.responses == 0 and survey.closed_on is not None and survey.salt is None
        assert await session.scalar(select(func.sum(SurveyCount.count))) == 0
        assert await session.scalar(select(func.count()).select_from(FsmRecord)) == 0


async def test_extend_and_new_link(harness: Harness, world: World, tg, session_factory, i18n_ru):
    survey_id, token = await new_survey(session_factory, world, days=3)
    me = tg.user(COORDINATOR)
    await harness.click(me, SurveyManage(survey_id=survey_id, action="extend").pack())
    sent = await harness.click(me, SurveyManage(survey_id=survey_id, action="new_link").pack())
    new_token = link_token(" ".join(texts(sent)))
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert survey.closes_on == date.today() + timedelta(days=10)
        assert await sv.by_token(session, token) is None
        assert await sv.by_token(session, new_token) is not None
    # Another school's coordinator can't touch it: the teacher of school B has no /survey.
    sent = await harness.send(tg.user(TG_IDS["teacher_b"]), "/survey")
    assert texts(sent) == [_("This is not available for your role. /help lists what you can do.")]


async def test_results_only_after_closing_and_from_the_minimum_n(
    harness: Harness, world: World, tg, session_factory, settings, i18n_ru
):
    """While open only n is shown (no differencing between two looks); closed, the figures."""
    minimum = settings.survey_min_responses
    survey_id, token = await new_survey(session_factory, world)
    for n in range(minimum):
        await answer_all(harness, tg.user(778000 + n), survey_id, token, option=n % 3)
    me = tg.user(COORDINATOR)
    sent = await harness.send(me, "/survey")
    sent = await harness.click(me, SurveyCard(survey_id=survey_id).pack())
    card = texts(sent)[0]
    assert _("Responses so far: {n}.").format(n=minimum) in card
    assert "%" not in card and _("Close now") in labels(sent[0])
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        hidden = await sv.survey_results(
            session, survey, min_responses=minimum, today=date.today()
        )
        assert (hidden.shown, hidden.hidden, hidden.n, hidden.questions) == (
            False,
            "open",
            minimum,
            (),
        )
        assert await sv.risk_figures(session, world.school_a.id, min_responses=minimum) == {}
        by_school = await sv.school_survey_results(
            session, [world.school_a.id], min_responses=minimum
        )
        assert not by_school[world.school_a.id][0].shown
    sent = await harness.send(tg.user(TG_IDS["curator"]), "/status СОШ №2")
    assert any(f"n = {minimum}" in t and _("results after closing") in t for t in texts(sent))

    sent = await harness.click(me, SurveyManage(survey_id=survey_id, action="close_yes").pack())
    card = texts(sent)[0]
    assert f"n = {minimum}" in card
    assert "%" in card and _("Close now") not in labels(sent[0])
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        shown = await sv.survey_results(session, survey, min_responses=minimum)
        assert shown.shown and shown.hidden == "" and shown.n == minimum
        assert all(q.n == shown.n for q in shown.questions)
        assert sum(o.share for o in shown.questions[0].options) == 1.0
        by_school = await sv.school_survey_results(
            session, [world.school_a.id], min_responses=minimum
        )
        assert by_school[world.school_a.id][0].shown
        assert by_school[world.school_a.id][0].n == shown.n
    sent = await harness.send(tg.user(TG_IDS["curator"]), "/status СОШ №2")
    line = next(t for t in texts(sent) if f"n = {minimum}" in t)
    assert _("results after closing") not in line and _("too few to show") not in line


async def test_a_closed_survey_below_the_minimum_stays_hidden(
    harness: Harness, world: World, tg, session_factory, settings, i18n_ru
):
    minimum = settings.survey_min_responses
    survey_id, token = await new_survey(session_factory, world)
    for n in range(minimum - 1):
        await answer_all(harness, tg.user(778200 + n), survey_id, token)
    me = tg.user(COORDINATOR)
    sent = await harness.click(me, SurveyManage(survey_id=survey_id, action="close_yes").pack())
    card = texts(sent)[0]
    assert "%" not in card and f"{minimum - 1}" in card
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        hidden = await sv.survey_results(session, survey, min_responses=minimum)
        assert not hidden.shown and hidden.hidden == "few" and hidden.questions == ()


async def test_closed_by_date_shows_results_given_the_day(world: World, session_factory):
    """Past its closing day a survey can't move: with the region's day its figures are shown,
    and without it only once purge_closed has marked it closed."""
    survey_id, _token = await new_survey(session_factory, world, days=1)
    async with session_factory() as session, session.begin():
        survey = await session.get(Survey, survey_id)
        survey.responses = 5
        survey.closes_on = date.today() - timedelta(days=1)
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert (await sv.survey_results(session, survey, min_responses=5)).hidden == "open"
        given = await sv.survey_results(session, survey, min_responses=5, today=date.today())
        assert given.shown and given.questions
        with pytest.raises(InvalidInput):  # no reopening what may have been shown
            sv.extend(survey, 7, date.today())


async def test_nothing_in_the_database_leads_back_to_a_respondent(
    harness: Harness, world: World, tg, session_factory, engine, i18n_ru
):
    survey_id, token = await new_survey(session_factory, world)
    ids = [990001, 990002, 990003]
    for telegram_id in ids:
        await answer_all(harness, tg.user(telegram_id), survey_id, token)
    # One who stopped half-way: their unfinished answers go too when the survey closes.
    await harness.send(tg.user(990004), f"/start {token}")
    await harness.click(
        tg.user(990004), SurveyAnswer(survey_id=survey_id, position=0, option=0).pack()
    )
    async with session_factory() as session:
        digests = list(await session.scalars(select(SurveyRespondent.digest)))
        assert len(digests) == 3
    await harness.click(
        tg.user(COORDINATOR), SurveyManage(survey_id=survey_id, action="close_yes").pack()
    )

    dump: list[str] = []
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        for table in tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
            dump += [f"{table}: {row!r}" for row in rows]
        survey_columns = await connection.run_sync(
            lambda c: {
                t: [col["type"] for col in inspect(c).get_columns(t)]
                for t in ("surveys", "survey_counts", "survey_respondents")
            }
        )
    blob = "\n".join(dump)
    for telegram_id in [*ids, 990004]:
        assert str(telegram_id) not in blob
    for digest in digests:
        assert digest not in blob
    assert not [line for line in dump if line.startswith("survey_respondents")]
    assert not [line for line in dump if line.startswith("fsm_records")]
    # Survey tables keep dates only; telegram_updates keep neither the user nor the payload.
    for columns in survey_columns.values():
        assert not any(
            "DATETIME" in str(t).upper() or "TIMESTAMP" in str(t).upper() for t in columns
        )
    assert all("None" in line for line in dump if line.startswith("telegram_updates"))
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert survey.salt is None and survey.responses == 3
        assert not await session.scalar(
            select(func.count()).select_from(FsmRecord).where(FsmRecord.state.in_(FSM_STATES))
        )


async def test_survey_closed_by_date_forgets_digests(world: World, session_factory):
    survey_id, _token = await new_survey(session_factory, world, days=1)
    async with session_factory() as session, session.begin():
        survey = await session.get(Survey, survey_id)
        session.add(SurveyRespondent(survey_id=survey_id, digest="x" * 64))
        survey.closes_on = date.today() - timedelta(days=1)
    async with session_factory() as session, session.begin():
        assert await sv.purge_closed(session, date.today(), FSM_STATES) == 1
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert survey.salt is None and survey.closed_on == survey.closes_on
        assert await session.scalar(select(func.count()).select_from(SurveyRespondent)) == 0


def test_no_survey_table_has_a_time_of_day():
    for table in (Survey, SurveyCount, SurveyRespondent):
        for column in table.__table__.columns:
            assert column.type.python_type is not datetime, (table, column.name)


def test_questions_come_from_data():
    assert [q.code for q in sv.questions("risk500", "parents")] == [
        q.code for q in sv.questionnaire("risk500").questions if q.respondent == "parents"
    ]
    assert sv.audiences("risk500") == ["students", "parents", "teachers"]
    assert sv.questionnaire("feedback").code == "feedback"
    assert sv.audiences("feedback") == ["students", "parents", "teachers"]


async def test_the_scheduled_job_closes_surveys_by_date(world: World, session_factory, settings):
    """Closing by date doesn't wait for someone to touch the survey: a scheduler job does it."""
    survey_id, _token = await new_survey(session_factory, world, days=1)
    async with session_factory() as session, session.begin():
        survey = await session.get(Survey, survey_id)
        session.add(SurveyRespondent(survey_id=survey_id, digest="y" * 64))
        survey.closes_on = date.today() - timedelta(days=2)
    async with session_factory() as session, session.begin():
        await close_due_surveys_job(settings)(session)
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        assert survey.salt is None and survey.closed_on == survey.closes_on
        assert await session.scalar(select(func.count()).select_from(SurveyRespondent)) == 0
