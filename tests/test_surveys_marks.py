"""Answers the 500+ risk profile took from an anonymous survey carry its mark (group, n, day)
on the question and on the result card; an answer given by hand clears it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiogram.utils.i18n import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ui import formatting as fmt
from bot.ui.callbacks import DiagAnswer, DiagBack, DiagStart, DiagView, SurveyManage
from handlers.surveys.profile import source_mark
from models import Answer, Question, RunStatus, Survey, SurveyCount, diagnostics
from models import diagnostic_runs as runs
from models import surveys as sv
from tests.conftest import TG_IDS, Harness, World
from tests.test_diagnostics_chat import RISK, button, questionnaire_id, texts, the_run
from tests.test_surveys import answer_all, new_survey

COORDINATOR = TG_IDS["coordinator"]
QUESTIONS = RISK.questions_for(diagnostics.Profile.full())


GROUPS = {"students": "учеников", "parents": "родителей", "teachers": "учителей"}


def mark(audience: str, n: int, day: date | None) -> str:
    """The mark as a Russian-speaking coordinator must read it (written out, not the bot's own
    function: a mix-up of groups in the bot must fail here)."""
    shown = day.strftime("%d.%m.%Y") if day else "—"
    return f"📊 по опросу {GROUPS[audience]}: n = {n}, {shown}"


def test_the_mark_says_whose_survey_it_was(i18n_ru) -> None:
    day = date(2026, 12, 1)
    for audience in GROUPS:
        assert source_mark(runs.SurveySource(None, audience, 12, day)) == mark(audience, 12, day)


async def start_risk(harness: Harness, user: Any, factory: async_sessionmaker[AsyncSession]):
    sent = await harness.send(user, "/diagnostics")
    risk_id = await questionnaire_id(factory, "risk500")
    return await harness.click(user, button(sent, DiagStart, questionnaire_id=risk_id))


async def answer_on(
    harness: Harness,
    user: Any,
    factory: async_sessionmaker[AsyncSession],
    school_id: int,
    sent: list[Any],
    *,
    until: int | None = None,
) -> list[Any]:
    """Answer as a person would (first option, or 1 typed) until the run ends or reaches a
    position; survey-answered questions are skipped by the bot itself."""
    while True:
        run = await the_run(factory, school_id)
        if run.status != RunStatus.IN_PROGRESS or run.position == until:
            return sent
        question = QUESTIONS[run.position]
        if question.kind == "number":
            sent = await harness.send(user, "1")
        else:
            sent = await harness.click(user, button(sent, DiagAnswer, run_id=run.id, option=0))


async def closed_survey(
    factory: async_sessionmaker[AsyncSession], world: World, audience: str, n: int
) -> tuple[int, date]:
    """A closed survey of a group: one person chose the first option, the rest the last."""
    today = date.today()
    async with factory() as session, session.begin():
        await runs.sync_builtin_questionnaires(session)
        created = await sv.create_survey(
            session,
            school=world.school_a,
            form="risk500",
            audience=audience,
            grades=[],
            closes_on=today + timedelta(days=7),
            today=today,
            created_by=None,
        )
        survey = created.survey
        for question in sv.questions("risk500", audience):
            for option, count in ((0, 1), (len(question.options) - 1, n - 1)):
                await session.execute(
                    update(SurveyCount)
                    .where(
                        SurveyCount.survey_id == survey.id,
                        SurveyCount.question == question.code,
                        SurveyCount.option == option,
                    )
                    .values(count=count)
                )
        survey.responses = n
        survey.last_response_on = today
        await sv.close_survey(session, survey, today, ())
    return survey.id, today


async def marks_of(factory: async_sessionmaker[AsyncSession]) -> dict[str, tuple[Any, ...]]:
    async with factory() as session:
        rows = await session.execute(
            select(
                Question.code,
                Answer.survey_id,
                Answer.survey_audience,
                Answer.survey_n,
                Answer.survey_on,
            ).join(Question, Question.id == Answer.question_id)
        )
        return {code: tuple(rest) for code, *rest in rows}


async def test_the_card_marks_answers_taken_from_a_parents_survey(
    harness: Harness, world: World, tg, session_factory, settings, i18n_ru
):
    # Five parents answer through the link; the coordinator closes the survey.
    survey_id, token = await new_survey(session_factory, world)
    for number in range(5):
        await answer_all(harness, tg.user(779000 + number), survey_id, token, option=2)
    me = tg.user(COORDINATOR)
    await harness.click(me, SurveyManage(survey_id=survey_id, action="close_yes").pack())
    async with session_factory() as session:
        day = (await session.get(Survey, survey_id)).last_response_on

    sent = await start_risk(harness, me, session_factory)
    sent = await answer_on(harness, me, session_factory, world.school_a.id, sent)
    card = "\n".join(texts(sent))
    parents = sv.questions("risk500", "parents")
    assert _("<b>Answers from anonymous surveys: {count}</b>").format(count=2) in card
    assert card.count(mark("parents", 5, day)) == len(parents)
    marks = await marks_of(session_factory)
    for question in parents:
        assert marks[question.code] == (survey_id, "parents", 5, day)
    assert sum(1 for m in marks.values() if m != (None, None, None, None)) == len(parents)

    # The survey's figures are frozen on the answer: gone with the survey, the mark stays.
    run = await the_run(session_factory, world.school_a.id)
    async with session_factory() as session, session.begin():
        await session.execute(delete(Survey).where(Survey.id == survey_id))
    assert (await marks_of(session_factory))[parents[0].code] == (None, "parents", 5, day)
    sent = await harness.click(me, DiagView(run_id=run.id).pack())
    assert "\n".join(texts(sent)).count(mark("parents", 5, day)) == len(parents)


async def test_an_answer_changed_by_hand_loses_the_mark(
    harness: Harness, world: World, tg, session_factory, settings, i18n_ru
):
    survey_id, day = await closed_survey(session_factory, world, "teachers", 6)
    teachers = [q.code for q in sv.questions("risk500", "teachers")]
    first = next(i for i, q in enumerate(QUESTIONS) if q.code == teachers[0])
    me = tg.user(COORDINATOR)
    sent = await start_risk(harness, me, session_factory)
    # Answering the question before it takes the teachers' answer and moves past it.
    assert QUESTIONS[first + 1].respondent != "teachers"
    sent = await answer_on(harness, me, session_factory, world.school_a.id, sent, until=first + 1)
    taken_line = _("{group}: n = {n}, {day}").format(group=_("teachers"), n=6, day=fmt.day(day))
    assert taken_line in texts(sent)[-1]
    run = await the_run(session_factory, world.school_a.id)
    assert run.position == first + 1
    marks = await marks_of(session_factory)
    assert marks[teachers[0]] == (survey_id, "teachers", 6, day)

    # Back to it: the question says where its answer came from; a tap replaces it.
    sent = await harness.click(me, button(sent, DiagBack, run_id=run.id))
    screen = texts(sent)[-1]
    assert mark("teachers", 6, day) in screen
    sent = await harness.click(me, button(sent, DiagAnswer, run_id=run.id, option=0))
    marks = await marks_of(session_factory)
    assert marks[teachers[0]] == (None, None, None, None)

    sent = await answer_on(harness, me, session_factory, world.school_a.id, sent)
    card = "\n".join(texts(sent))
    taken = len(teachers) - 1
    assert _("<b>Answers from anonymous surveys: {count}</b>").format(count=taken) in card
    assert card.count(mark("teachers", 6, day)) == taken
    marks = await marks_of(session_factory)
    assert marks[teachers[0]] == (None, None, None, None)
    assert all(marks[code] == (survey_id, "teachers", 6, day) for code in teachers[1:])
