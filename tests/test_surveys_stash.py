"""A survey link opened in the middle of another form keeps that form: it comes back, with all
its data, however the survey ends (answered, closed under the person, cancelled)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiogram.utils.i18n import gettext as _
from sqlalchemy import delete, func, select

from bot.ui.callbacks import (
    Cancel,
    ReportItem,
    ReportMark,
    ReportNav,
    SurveyAnswer,
    SurveyManage,
)
from handlers.surveys.respond import kept_text, thanks_text
from models import ActivityReport, FsmRecord, Mark, RoadmapItem, Role, Survey, SurveyCount, User
from models import surveys as sv
from models.invites import create_invite
from tests.conftest import TG_IDS, Harness, World
from tests.test_surveys import new_survey, texts

DESCRIPTION = "Не провели: карантин в 5А"


async def roadmap_item(session_factory, world: World) -> int:
    async with session_factory() as session, session.begin():
        item = RoadmapItem(
            school_id=world.school_a.id,
            number="1",
            title="Методический семинар",
            due_raw="до 01.10.2026",
            due_date=date.today() - timedelta(days=30),
            position=1,
        )
        session.add(item)
    return item.id


async def report_up_to_the_description(harness: Harness, teacher: Any, item_id: int) -> None:
    await harness.send(teacher, "/report")
    await harness.click(teacher, ReportItem(item_id=item_id).pack())
    await harness.click(teacher, ReportMark(mark="not_done").pack())


async def finish_report(harness: Harness, teacher: Any) -> None:
    """The description, then «Готово» and «Отправить»: only works if the draft is intact."""
    await harness.send(teacher, DESCRIPTION)
    await harness.click(teacher, ReportNav(action="done").pack())
    await harness.click(teacher, ReportNav(action="submit").pack())


async def the_report(session_factory) -> ActivityReport:
    async with session_factory() as session:
        (report,) = (await session.scalars(select(ActivityReport))).all()
        return report


async def counted(session_factory, survey_id: int) -> tuple[int, int]:
    async with session_factory() as session:
        survey = await session.get(Survey, survey_id)
        total = await session.scalar(
            select(func.sum(SurveyCount.count)).where(SurveyCount.survey_id == survey_id)
        )
        return survey.responses, total or 0


async def fsm_rows(session_factory) -> list[FsmRecord]:
    async with session_factory() as session:
        return list((await session.scalars(select(FsmRecord))).all())


async def test_a_survey_in_the_middle_of_a_report_gives_the_report_back(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    item_id = await roadmap_item(session_factory, world)
    survey_id, token = await new_survey(session_factory, world, audience="teachers")
    teacher = tg.user(world.teacher.telegram_id)
    await report_up_to_the_description(harness, teacher, item_id)

    sent = await harness.send(teacher, f"/start {token}")
    assert _("Question {number} of {total}").format(
        number=1, total=len(sv.questions("risk500", "teachers"))
    ) in "\n".join(texts(sent))
    # Typed text during the survey is the survey's, not the report's description.
    sent = await harness.send(teacher, "что-то не то")
    assert _("Please answer with the buttons under the question.") in texts(sent)
    # Another command would start its own form over the survey and the kept report: it is
    # told how to go on instead, and nothing changes.
    before = [(r.state, r.data) for r in await fsm_rows(session_factory)]
    for command in ("/report", "/diagnostics", "/survey"):
        sent = await harness.send(teacher, command)
        assert texts(sent)[0] == _(
            "You are in the middle of an anonymous survey. Answer it with the buttons under "
            "the question, or send /cancel to leave it; then the command will work."
        )
        assert [(r.state, r.data) for r in await fsm_rows(session_factory)] == before
    for position in range(len(sv.questions("risk500", "teachers"))):
        sent = await harness.click(
            teacher, SurveyAnswer(survey_id=survey_id, position=position, option=1).pack()
        )
    told = texts(sent)
    assert told[-2:] == [thanks_text(), kept_text("ReportForm:description")]
    assert "/report" in told[-1]
    assert await counted(session_factory, survey_id) == (
        1,
        len(sv.questions("risk500", "teachers")),
    )
    # What is left in the form state is the report's own, nothing of the survey.
    (row,) = await fsm_rows(session_factory)
    assert row.state == "ReportForm:description" and "survey" not in row.data
    assert "answers" not in row.data and "stash" not in row.data
    # The link again: already answered, and the report is still there.
    sent = await harness.send(teacher, f"/start {token}")
    assert texts(sent) == [
        _("You have already answered this survey. Thank you!"),
        kept_text("ReportForm:description"),
    ]

    await finish_report(harness, teacher)
    report = await the_report(session_factory)
    assert report.roadmap_item_id == item_id and report.mark == Mark.NOT_DONE
    assert report.description == DESCRIPTION and report.author_id == world.teacher.id
    assert await fsm_rows(session_factory) == []


async def test_closing_the_survey_under_a_teacher_gives_the_report_back(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    item_id = await roadmap_item(session_factory, world)
    survey_id, token = await new_survey(session_factory, world, audience="teachers")
    teacher = tg.user(world.teacher.telegram_id)
    await report_up_to_the_description(harness, teacher, item_id)
    await harness.send(teacher, f"/start {token}")
    await harness.click(teacher, SurveyAnswer(survey_id=survey_id, position=0, option=0).pack())
    await harness.click(
        tg.user(TG_IDS["coordinator"]),
        SurveyManage(survey_id=survey_id, action="close_yes").pack(),
    )
    (row,) = await fsm_rows(session_factory)
    assert row.state == "ReportForm:description" and "survey" not in row.data
    assert await counted(session_factory, survey_id) == (0, 0)

    await finish_report(harness, teacher)
    report = await the_report(session_factory)
    assert report.roadmap_item_id == item_id and report.description == DESCRIPTION


async def test_cancel_during_a_survey_keeps_nothing_of_it(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    """A stranger's /cancel in the middle: a translated answer, no answers left anywhere."""
    survey_id, token = await new_survey(session_factory, world)
    person = tg.user(777300)
    await harness.send(person, f"/start {token}")
    await harness.click(person, SurveyAnswer(survey_id=survey_id, position=0, option=0).pack())
    sent = await harness.send(person, "/cancel")
    assert texts(sent) == [_("The survey is cancelled; nothing of your answers was kept.")]
    assert await fsm_rows(session_factory) == []
    assert await counted(session_factory, survey_id) == (0, 0)
    # The link still works from the start.
    sent = await harness.send(person, f"/start {token}")
    assert _("Question {number} of {total}").format(number=1, total=2) in texts(sent)[0]


async def test_cancel_during_a_survey_gives_the_report_back(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    item_id = await roadmap_item(session_factory, world)
    survey_id, token = await new_survey(session_factory, world, audience="teachers")
    teacher = tg.user(world.teacher.telegram_id)
    await report_up_to_the_description(harness, teacher, item_id)
    await harness.send(teacher, f"/start {token}")
    await harness.click(teacher, SurveyAnswer(survey_id=survey_id, position=0, option=0).pack())
    sent = await harness.send(teacher, "/cancel")
    assert kept_text("ReportForm:description") in texts(sent)[-1]
    assert await counted(session_factory, survey_id) == (0, 0)
    await finish_report(harness, teacher)
    report = await the_report(session_factory)
    assert report.roadmap_item_id == item_id and report.description == DESCRIPTION


async def _teacher_in_a_survey_over_a_report(
    harness: Harness, world: World, tg, session_factory
) -> tuple[Any, int, int]:
    item_id = await roadmap_item(session_factory, world)
    survey_id, token = await new_survey(session_factory, world, audience="teachers")
    teacher = tg.user(world.teacher.telegram_id)
    await report_up_to_the_description(harness, teacher, item_id)
    await harness.send(teacher, f"/start {token}")
    await harness.click(teacher, SurveyAnswer(survey_id=survey_id, position=0, option=0).pack())
    return teacher, item_id, survey_id


async def _delete(session_factory, survey_id: int) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(delete(Survey).where(Survey.id == survey_id))


async def _the_report_goes_out(harness: Harness, teacher: Any, session_factory, item_id: int):
    """The kept report, finished: it was intact."""
    await finish_report(harness, teacher)
    report = await the_report(session_factory)
    assert report.roadmap_item_id == item_id and report.description == DESCRIPTION


async def _leave_the_survey_and_send_the_report(
    harness: Harness, teacher: Any, session_factory, item_id: int
) -> None:
    """Still in the survey; /cancel leaves it, brings the kept report back, and it goes out."""
    (row,) = await fsm_rows(session_factory)
    assert row.state == "SurveyAnswering:question"
    sent = await harness.send(teacher, "/cancel")
    assert kept_text("ReportForm:description") in texts(sent)[-1]
    await _the_report_goes_out(harness, teacher, session_factory, item_id)


async def test_an_old_cancel_button_during_a_survey_keeps_the_survey_and_the_report(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    """«✖ Cancel» / «Keep it» left under an earlier screen, pressed mid-survey: it would have
    cleared the survey and the report kept inside it."""
    teacher, item_id, _survey = await _teacher_in_a_survey_over_a_report(
        harness, world, tg, session_factory
    )
    alert = await harness.click(teacher, Cancel().pack())
    assert any(
        getattr(m, "text", None)
        == _("This button belongs to an earlier form; the one in progress is kept as it is.")
        for m in alert
    )
    await _leave_the_survey_and_send_the_report(harness, teacher, session_factory, item_id)


async def test_an_invite_link_during_a_survey_waits_for_the_survey(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    """An invite opened mid-survey would have dropped the survey and the report kept in it."""
    teacher, item_id, _survey = await _teacher_in_a_survey_over_a_report(
        harness, world, tg, session_factory
    )
    async with session_factory() as session, session.begin():
        invite = await create_invite(session, role=Role.TEACHER, school_ids=[world.school_b.id])
    sent = await harness.send(teacher, f"/start {invite.token}")
    assert texts(sent)[0] == _(
        "You are in the middle of an anonymous survey. Answer it with the buttons under "
        "the question, or send /cancel to leave it; then the command will work."
    )
    async with session_factory() as session:
        user = await session.scalar(
            select(User).where(User.telegram_id == world.teacher.telegram_id)
        )
        assert user is not None and user.school_id == world.school_a.id  # not moved meanwhile
    await _leave_the_survey_and_send_the_report(harness, teacher, session_factory, item_id)


async def test_a_survey_deleted_under_a_button_gives_the_report_back(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    teacher, item_id, survey_id = await _teacher_in_a_survey_over_a_report(
        harness, world, tg, session_factory
    )
    await _delete(session_factory, survey_id)
    sent = await harness.click(
        teacher, SurveyAnswer(survey_id=survey_id, position=1, option=0).pack()
    )
    assert kept_text("ReportForm:description") in texts(sent)
    await _the_report_goes_out(harness, teacher, session_factory, item_id)


async def test_text_typed_after_the_survey_was_deleted_gives_the_report_back(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    teacher, item_id, survey_id = await _teacher_in_a_survey_over_a_report(
        harness, world, tg, session_factory
    )
    await _delete(session_factory, survey_id)
    sent = await harness.send(teacher, "где вопрос?")
    assert texts(sent)[-1] == kept_text("ReportForm:description")
    await _the_report_goes_out(harness, teacher, session_factory, item_id)


async def test_a_second_survey_link_keeps_the_first_kept_form(
    harness: Harness, world: World, tg, session_factory, i18n_ru
):
    teacher, item_id, _first = await _teacher_in_a_survey_over_a_report(
        harness, world, tg, session_factory
    )
    _second, token = await new_survey(session_factory, world, audience="teachers", form="feedback")
    await harness.send(teacher, f"/start {token}")
    sent = await harness.send(teacher, "/cancel")
    # The report comes back, not the first survey.
    assert kept_text("ReportForm:description") in texts(sent)[-1]
    await _the_report_goes_out(harness, teacher, session_factory, item_id)
