"""Closing surveys by their date: what could link a respondent to a survey is destroyed.

A survey closed by hand forgets its respondents at once; one that reaches its closing date is
found here (and, between two runs, by the next survey link or /survey that touches it).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.jobs.scheduler import Job, Scheduler
from bot.ui.formatting import today
from bot.ui.states import SURVEY_FSM_STATES
from models import surveys

logger = logging.getLogger(__name__)
SURVEYS_CHECK_SECONDS = 900


def close_due_surveys_job(settings: Settings) -> Job:
    async def job(session: AsyncSession) -> None:
        closed = await surveys.purge_closed(session, today(settings), SURVEY_FSM_STATES)
        if closed:
            logger.info("surveys closed by date: %d", closed)

    return job


def setup(scheduler: Scheduler, settings: Settings) -> None:
    scheduler.every(SURVEYS_CHECK_SECONDS, "surveys_closing", close_due_surveys_job(settings))
