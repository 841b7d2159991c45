"""A term of one school's work, for the document tests: roadmap items in and out of the period,
reports with marks, participants and materials, two self-diagnosis runs (and one after the
period), and a second school with a single report and nothing else; and, apart, anonymous
surveys of both schools: shown, still open, too few answers, before the period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exports.documents.build import Document, build_document
from exports.documents.kinds import DocumentKind
from exports.surveys import DEFAULT_MIN_RESPONSES
from models import (
    ActivityReport,
    DiagnosticRun,
    Evidence,
    EvidenceKind,
    Mark,
    Questionnaire,
    ReviewState,
    RoadmapItem,
    RunStatus,
    School,
)
from models import surveys as sv
from models.stats import Schools
from tests.conftest import World

START, END = date(2026, 9, 1), date(2026, 11, 30)
TODAY = date(2026, 12, 10)
TZ = ZoneInfo("Europe/Moscow")
EVIL_TITLE = "=СУММ(1;2) <b>Встреча</b> & родители"
LEVELS = [
    {"code": "below_basic", "title": "ниже базового"},
    {"code": "basic", "title": "базовый"},
    {"code": "medium", "title": "средний"},
    {"code": "high", "title": "высокий"},
]


@dataclass(frozen=True)
class Season:
    """What the tests compare the documents with."""

    reports_a: int  # school A's reports held in the period
    reports_b: int


def _run(
    school_id: int,
    questionnaire_id: int,
    at: datetime,
    level: str,
    deficits: dict[tuple[str, str], list[str]],
) -> DiagnosticRun:
    return DiagnosticRun(
        school_id=school_id,
        questionnaire_id=questionnaire_id,
        status=RunStatus.COMPLETED,
        completed_at=at,
        total_points=30.0 if level == "medium" else 20.0,
        max_points=40.0,
        level=level,
        result={
            "directions": [
                {"code": code, "title": title, "deficits": found}
                for (code, title), found in deficits.items()
            ],
            "estimate": True,
        },
    )


async def make_season(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Season:
    a, b = world.school_a.id, world.school_b.id
    async with session_factory() as session, session.begin():

        def item(n: int, direction: str, title: str, due: date, **extra) -> RoadmapItem:
            return RoadmapItem(
                school_id=a,
                position=n,
                number=f"{n}.",
                direction=direction,
                title=title,
                due_raw=f"до {due:%d.%m.%Y}",
                due_date=due,
                **extra,
            )

        items = {
            "k1": item(1, "knowledge", "Урок цифры", date(2026, 10, 15)),
            "k2": item(2, "knowledge", "Школьная олимпиада", date(2026, 11, 20)),
            "u1": item(3, "upbringing", "Совет родителей", date(2026, 10, 1)),
            "u2": item(4, "upbringing", "Акция «Бессмертный полк»", date(2026, 11, 10)),
            "c1": item(5, "career", "Билет в будущее", date(2026, 9, 20)),
            "t1": item(6, "teacher", "Курсы для педагогов", date(2027, 3, 1)),
            "gone": item(7, "knowledge", "Отменённое", date(2026, 10, 2), is_archived=True),
        }
        session.add_all(items.values())
        await session.flush()

        def report(held: date, title: str, mark: Mark, **extra) -> ActivityReport:
            extra.setdefault("review_state", ReviewState.CONFIRMED)
            return ActivityReport(school_id=a, held_on=held, title=title, mark=mark, **extra)

        k1 = report(
            date(2026, 10, 10),
            "Урок цифры в 5–9 классах",
            Mark.DONE,
            roadmap_item_id=items["k1"].id,
            participants_count=25,
            participants_category="обучающихся 5–9 классов",
            description="Провели урок цифры.\nВторая строка описания.",
        )
        reports = [
            k1,
            report(
                date(2026, 11, 20),
                "Школьная олимпиада по математике",
                Mark.DONE,
                roadmap_item_id=items["k2"].id,
                organizer="Методический совет",
                review_state=ReviewState.SUBMITTED,
            ),
            report(
                date(2026, 9, 30),
                "Совет родителей",
                Mark.PARTIAL,
                roadmap_item_id=items["u1"].id,
                review_state=ReviewState.RETURNED,
            ),
            report(
                date(2026, 11, 9), "Бессмертный полк", Mark.DONE, roadmap_item_id=items["u2"].id
            ),
            report(date(2026, 10, 5), "День здоровья", Mark.DONE, direction="health"),
            report(
                date(2026, 11, 15),
                EVIL_TITLE,
                Mark.NOT_DONE,
                description="Перенесли\x01 на декабрь",
            ),
            # After the period: neither listed nor counted (the career item stays overdue).
            report(
                date(2026, 12, 5), "Билет в будущее", Mark.DONE, roadmap_item_id=items["c1"].id
            ),
        ]
        session.add_all(reports)
        session.add(
            ActivityReport(
                school_id=b,
                held_on=date(2026, 10, 1),
                title="Урок школы Б",
                mark=Mark.PARTIAL,
                direction="knowledge",
                participants_count=12,
            )
        )
        await session.flush()
        session.add_all(
            [
                Evidence(report_id=k1.id, kind=EvidenceKind.LINK, url="https://school.ru/news/1"),
                Evidence(report_id=k1.id, kind=EvidenceKind.LINK, url="javascript:alert(1)"),
                Evidence(report_id=k1.id, kind=EvidenceKind.DOCUMENT, file_name="протокол.pdf"),
            ]
        )
        questionnaire = Questionnaire(
            code="test_levels",
            version="1",
            title="Самодиагностика (тест)",
            kind="levels",
            definition={"levels": LEVELS},
        )
        session.add(questionnaire)
        await session.flush()
        qid = questionnaire.id
        knowledge, health = ("knowledge", "Знание"), ("health", "Здоровье")
        session.add_all(
            [
                _run(
                    a,
                    qid,
                    datetime(2026, 3, 1, 9, tzinfo=UTC),
                    "basic",
                    {knowledge: ["Нет ВСОКО", "Нет программы"]},
                ),
                _run(
                    a,
                    qid,
                    datetime(2026, 10, 20, 9, tzinfo=UTC),
                    "medium",
                    {knowledge: ["Нет программы"], health: ["Нет ШСК"]},
                ),
                # After the period: not the period's level.
                _run(a, qid, datetime(2026, 12, 5, 9, tzinfo=UTC), "high", {}),
            ]
        )
    return Season(reports_a=6, reports_b=1)


# --- anonymous surveys ------------------------------------------------------------------------

MIN_RESPONSES = 5
# Parents of school A, six of them, in the period and closed: its figures are shown.
PARENT_ANSWERS = [[0, 0], [0, 0], [0, 1], [1, 2], [2, 2], [2, 1]]


@dataclass(frozen=True)
class Surveys:
    """The surveys ``make_surveys`` wrote, by what a document must do with them."""

    shown: int  # school A's parents: closed by hand, six answers
    still_open: int  # school A's pupils of grades 5–7 and 9: six answers, open on TODAY
    too_few: int  # school A's teachers (feedback): closed by date with three answers
    before: int  # school A's parents in June: closed before the period
    school_b: int  # school B's parents: closed, five answers, all the least favourable


async def _survey(
    session: AsyncSession,
    school: School,
    *,
    form: str,
    audience: str,
    created: date,
    closes: date,
    answers: list[list[int]],
    grades: tuple[int, ...] = (),
    close: bool = True,
) -> int:
    made = await sv.create_survey(
        session,
        school=school,
        form=form,
        audience=audience,
        grades=grades,
        closes_on=closes,
        today=created,
        created_by=None,
    )
    for number, answer in enumerate(answers):
        await sv.record_response(session, made.survey, f"respondent-{number}", answer, created)
    if close:
        await sv.close_survey(session, made.survey, closes, ())
    return made.survey.id


async def make_surveys(world: World, session_factory: async_sessionmaker[AsyncSession]) -> Surveys:
    students = len(sv.questions("risk500", "students"))
    teachers = len(sv.questions("feedback", "teachers"))
    async with session_factory() as session, session.begin():
        a, b = world.school_a, world.school_b
        return Surveys(
            shown=await _survey(
                session,
                a,
                form="risk500",
                audience="parents",
                created=date(2026, 10, 1),
                closes=date(2026, 10, 15),
                answers=PARENT_ANSWERS,
            ),
            still_open=await _survey(
                session,
                a,
                form="risk500",
                audience="students",
                grades=(5, 6, 7, 9),
                created=date(2026, 11, 20),
                closes=date(2026, 12, 31),
                answers=[[n % 3] * students for n in range(6)],
                close=False,
            ),
            too_few=await _survey(
                session,
                a,
                form="feedback",
                audience="teachers",
                created=date(2026, 9, 10),
                closes=date(2026, 9, 20),
                answers=[[1] * teachers] * 3,
                close=False,  # closes by date
            ),
            before=await _survey(
                session,
                a,
                form="risk500",
                audience="parents",
                created=date(2026, 6, 1),
                closes=date(2026, 6, 10),
                answers=[[0, 0]] * 5,
            ),
            school_b=await _survey(
                session,
                b,
                form="risk500",
                audience="parents",
                created=date(2026, 11, 2),
                closes=date(2026, 11, 9),
                answers=[[2, 2]] * 5,
            ),
        )


async def build(
    session_factory: async_sessionmaker[AsyncSession],
    kind: DocumentKind,
    schools: Schools,
    *,
    min_responses: int = DEFAULT_MIN_RESPONSES,
) -> Document:
    """A document of the term, made on 10.12.2026; surveys shown from ``min_responses`` answers."""
    async with session_factory() as session:
        return await build_document(
            session,
            kind,
            schools=schools,
            start=START,
            end=END,
            today=TODAY,
            tz=TZ,
            now=datetime(2026, 12, 10, 9, tzinfo=UTC),
            survey_min_responses=min_responses,
        )
