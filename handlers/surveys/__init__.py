"""Anonymous surveys: /survey for coordinators, the survey link for everyone else."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command

from bot.ui.access import allow, public
from bot.ui.callbacks import (
    SurveyAnswer,
    SurveyBack,
    SurveyCard,
    SurveyManage,
    SurveyNew,
    SurveySchool,
)
from bot.ui.states import SurveyAnswering
from handlers.surveys import manage, respond
from models import Role

MANAGERS = allow(Role.COORDINATOR, Role.MUNICIPAL)


def create_router() -> Router:
    """A fresh router per Dispatcher."""
    router = Router(name=__name__)
    router.message.register(manage.survey_command, Command("survey"), flags=MANAGERS)
    router.callback_query.register(manage.school_pressed, SurveySchool.filter(), flags=MANAGERS)
    router.callback_query.register(manage.new_survey, SurveyNew.filter(), flags=MANAGERS)
    router.callback_query.register(manage.card_pressed, SurveyCard.filter(), flags=MANAGERS)
    router.callback_query.register(manage.manage, SurveyManage.filter(), flags=MANAGERS)
    router.callback_query.register(respond.answer, SurveyAnswer.filter(), flags=public())
    router.callback_query.register(respond.back, SurveyBack.filter(), flags=public())
    router.message.register(
        respond.typed, SurveyAnswering.question, ~F.text.startswith("/"), flags=public()
    )
    return router
