"""The export's «Опросы» sheet: what the schools' anonymous surveys found.

A row per school, survey, question and answer option: how many chose it and their share. A
survey whose figures are not shown (still open, or closed with too few answers: exports/
surveys.py) gets one row saying why, with its number of answers and no counts. Surveys are
few (a handful per school and year), so they are read a school chunk at a time in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from exports.schedule import format_period
from exports.surveys import State, SurveyFacts, group_name, load_surveys, percent, status_key
from exports.xlsx_layout import Column
from exports.xlsx_writer import Sheet

SURVEY_COLUMNS: Final = (
    Column("Школа", 14),
    Column("Опрос", 18),
    Column("Группа", 15),
    Column("Период", 12),
    Column("Статус", 12),
    Column("Ответили", 10),
    Column("Вопрос", 36),
    Column("Вариант ответа", 14),
    Column("Число ответов", 9),
    Column("Доля, %", 8),
)
ONE_GRADE: Final = "{group} {grades} класса"
GRADES: Final = "{group} {grades} классов"
STATUSES: Final = {
    "closed": "закрыт {day:%d.%m.%Y}",
    "open": "открыт до {day:%d.%m.%Y}",
    "revoked": "ссылка отозвана, до {day:%d.%m.%Y}",
}
AFTER_CLOSING: Final = "Итоги — после закрытия опроса"
TOO_FEW: Final = "Меньше {min} ответов — не показано, чтобы никого нельзя было узнать"
SHARE_DIGITS: Final = 1
_SCHOOLS_AT_A_TIME: Final = 100  # schools whose surveys are held at once


def status(survey: SurveyFacts) -> str:
    return STATUSES[status_key(survey)].format(day=survey.ends_on)


async def write_surveys(
    session: AsyncSession,
    sheet: Sheet,
    schools: Sequence[tuple[int, str]],
    *,
    today: date,
    min_responses: int,
) -> int:
    """Rows for the surveys of ``schools`` (id, short name), in the order given."""
    rows = 0
    for first in range(0, len(schools), _SCHOOLS_AT_A_TIME):
        chunk = schools[first : first + _SCHOOLS_AT_A_TIME]
        found = await load_surveys(
            session, [i for i, _ in chunk], min_responses=min_responses, today=today
        )
        for school_id, short_name in chunk:
            for survey in found[school_id]:
                head = [
                    short_name,
                    survey.title,
                    group_name(survey, one_grade=ONE_GRADE, grades=GRADES),
                    format_period(survey.created_on, survey.ends_on),
                    status(survey),
                    survey.n,
                ]
                if survey.state != State.SHOWN:
                    reason = (
                        AFTER_CLOSING
                        if survey.state == State.OPEN
                        else TOO_FEW.format(min=min_responses)
                    )
                    sheet.append([*head, reason, None, None, None])
                    rows += 1
                    continue
                for question in survey.questions:
                    for option in question.options:
                        sheet.append(
                            [
                                *head,
                                question.question.text,
                                option.label,
                                option.count,
                                percent(option.share, SHARE_DIGITS),
                            ]
                        )
                        rows += 1
    return rows
