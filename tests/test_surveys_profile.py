"""The 500+ risk profile takes a group's answers from its anonymous survey, with n and the day."""

from __future__ import annotations

from datetime import date, timedelta

from aiogram.utils.i18n import gettext as _
from sqlalchemy import select, update

from handlers.surveys.profile import survey_note, take_survey_answers
from models import Questionnaire, Survey, SurveyCount
from models import diagnostic_runs as runs
from models import surveys as sv
from tests.conftest import World


async def test_a_run_takes_survey_figures_instead_of_a_guess(
    world: World, session_factory, settings, i18n_ru
):
    today = date.today()
    async with session_factory() as session, session.begin():
        await runs.sync_builtin_questionnaires(session)
        created = await sv.create_survey(
            session,
            school=world.school_a,
            form="risk500",
            audience="parents",
            grades=[],
            closes_on=today + timedelta(days=7),
            today=today,
            created_by=None,
        )
        # Five parents: 1 chose the first option, 4 the last, on every question.
        survey_id = created.survey.id
        for question in sv.questions("risk500", "parents"):
            last = len(question.options) - 1
            for option, count in ((0, 1), (last, 4)):
                await session.execute(
                    update(SurveyCount)
                    .where(
                        SurveyCount.survey_id == survey_id,
                        SurveyCount.question == question.code,
                        SurveyCount.option == option,
                    )
                    .values(count=count)
                )
        await session.execute(
            update(Survey)
            .where(Survey.id == survey_id)
            .values(responses=5, last_response_on=today)
        )
        # Open, its figures are not given out: the run asks the coordinator as usual.
        assert (
            await sv.risk_figures(session, world.school_a.id, min_responses=5, today=today) == {}
        )
        await sv.close_survey(session, await session.get(Survey, survey_id), today, ())
        row = await session.scalar(select(Questionnaire).where(Questionnaire.code == "risk500"))
        run = await runs.start_run(session, school=world.school_a, row=row, actor_id=None)
        view = await runs.load_run(session, run)
        notes = []
        while (current := view.current) is not None:
            if current.respondent == "parents":
                notes.append(await take_survey_answers(session, view, settings))
                continue
            await runs.save_answer(session, view, view.question_ids[current.code], 0)
        parents = sv.questions("risk500", "parents")
        for question in parents:
            assert view.answers[question.code] == len(question.options) - 1
            note = await survey_note(session, view, question, settings)
            assert "n = 5" in note and "80%" in note
        taken = [n for n in notes if n]
        assert taken and _("parents") in taken[0] and "n = 5" in taken[0]


async def test_too_few_responses_are_not_taken(world: World, session_factory, settings):
    today = date.today()
    async with session_factory() as session, session.begin():
        created = await sv.create_survey(
            session,
            school=world.school_a,
            form="risk500",
            audience="parents",
            grades=[],
            closes_on=today + timedelta(days=7),
            today=today,
            created_by=None,
        )
        created.survey.responses = settings.survey_min_responses - 1
        await session.flush()
        figures = await sv.risk_figures(
            session, world.school_a.id, min_responses=settings.survey_min_responses
        )
        assert figures == {}
