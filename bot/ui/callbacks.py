"""Typed callback data: one class per action, short stable prefixes. Never trusted as is.

Closed sets are enums or literals: a forged or outdated value («rm:maybe») fails the filter,
so the press falls through to «Эта кнопка уже не действует» (handlers/fallback.py) and no
handler has to check the value again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from exports.documents.kinds import DocumentKind
from models.enums import Direction, Mark, Project, Role

# Ids and page numbers in buttons: never negative, and small enough for a 64-bit column, so a
# forged «st:999…9» fails the filter (a polite «button no longer active») instead of the query.
Id = Annotated[int, Field(ge=0, le=2**53)]


# A report form's buttons carry its form id (the draft key's first 8 characters), so a button
# of an earlier form is told apart from the current one. "" is a button of no particular form.
FormId = Annotated[str, Field(max_length=8)]


class FormAction(StrEnum):
    """The navigation buttons of the report form."""

    BACK = "back"
    SUBMIT = "submit"
    EDIT = "edit"
    DONE = "done"
    RESUME = "resume"
    RESTART = "restart"
    NO_PARTICIPANTS = "no_participants"
    SCHOOL_ORGANIZER = "school_organizer"


class FormField(StrEnum):
    """A field of the report card that «✏ Изменить» goes back to."""

    ACTIVITY = "activity"
    DATE = "date"
    MARK = "mark"
    DESCRIPTION = "description"
    PARTICIPANTS = "participants"
    ORGANIZER = "organizer"
    EVIDENCE = "evidence"


class ReportAction(StrEnum):
    """/my actions on one report."""

    EDIT = "edit"
    DELETE = "delete"
    DELETE_YES = "delete_yes"
    EVIDENCE = "evidence"


class Verdict(StrEnum):
    """A curator's action on a report under review."""

    CONFIRM = "confirm"
    RETURN = "return"
    FILES = "files"
    BATCH = "batch"  # «confirm all of this school…»: the list to confirm
    BATCH_YES = "batch_yes"  # confirm the listed reports


class Cancel(CallbackData, prefix="x"):
    form: FormId = ""


class LangChoice(CallbackData, prefix="lang"):
    code: Literal["ru", "en"]


class ProjectChoice(CallbackData, prefix="prj"):
    value: Project


class MunicipalityPick(CallbackData, prefix="mun"):
    municipality_id: Id


class InviteRole(CallbackData, prefix="ir"):
    role: Role


class InviteSchool(CallbackData, prefix="isc"):
    school_id: Id


class InviteDone(CallbackData, prefix="idn"):
    pass


class SchoolsPage(CallbackData, prefix="spg"):
    """Paging of a school list; `purpose` says which list (the invite picker)."""

    purpose: Literal["invite"]
    page: Id


class InviteForSchool(CallbackData, prefix="inv1"):
    school_id: Id


# --- reporting (/report, /my, /evidence) ---------------------------------------------------


class ReportItem(CallbackData, prefix="ri"):
    """A roadmap item chosen for the report; 0 means «Другое мероприятие»."""

    item_id: Id
    form: FormId = ""


class ReportPage(CallbackData, prefix="rp"):
    page: Id
    form: FormId = ""


class ReportDirection(CallbackData, prefix="rd"):
    code: Direction
    form: FormId = ""


class ReportDate(CallbackData, prefix="rdt"):
    days_ago: Id
    form: FormId = ""


class ReportMark(CallbackData, prefix="rm"):
    mark: Mark
    form: FormId = ""


class ReportNav(CallbackData, prefix="rn"):
    action: FormAction
    form: FormId = ""


class ReportField(CallbackData, prefix="rf"):
    name: FormField
    form: FormId = ""


class MyReport(CallbackData, prefix="rmy"):
    action: ReportAction
    report_id: Id


class MyPage(CallbackData, prefix="rmp"):
    page: Id


# --- self-diagnosis (handlers/diagnostics/) ------------------------------------------------


class DiagStart(CallbackData, prefix="dq"):
    questionnaire_id: Id


class DiagContinue(CallbackData, prefix="dc"):
    run_id: Id


class DiagRestart(CallbackData, prefix="dn"):
    run_id: Id


class DiagOther(CallbackData, prefix="do"):
    pass


class DiagLevel(CallbackData, prefix="dl"):
    run_id: Id
    index: Id


class DiagLevelsDone(CallbackData, prefix="dld"):
    run_id: Id


class DiagOvz(CallbackData, prefix="dz"):
    run_id: Id
    value: Id


class DiagProfileBack(CallbackData, prefix="dpb"):
    run_id: Id


class DiagAnswer(CallbackData, prefix="da"):
    run_id: Id
    question_id: Id
    option: Id


class DiagUnknown(CallbackData, prefix="du"):
    run_id: Id
    question_id: Id


class DiagHint(CallbackData, prefix="dh"):
    run_id: Id
    question_id: Id


class DiagBack(CallbackData, prefix="db"):
    run_id: Id
    question_id: Id


class DiagPause(CallbackData, prefix="dp"):
    run_id: Id


class DiagView(CallbackData, prefix="dv"):
    run_id: Id


class DiagSchool(CallbackData, prefix="ds"):
    school_id: Id


class DiagSchoolsPage(CallbackData, prefix="dsp"):
    page: Id


class DiagToRoadmap(CallbackData, prefix="dm"):
    """A deficit of a completed run by its place in the stored result."""

    run_id: Id
    direction: Id
    item: Id


class DiagImport(CallbackData, prefix="di"):
    pass


# --- review (/review) -------------------------------------------------------------------------


class ReviewAction(CallbackData, prefix="va"):
    """On one report of the queue; `offset` is its place in the queue and `school` the
    school the queue is narrowed to (0: all), so the queue goes on where it was."""

    action: Verdict
    report_id: Id
    offset: Id = 0
    school: Id = 0


class ReviewSkip(CallbackData, prefix="vs"):
    offset: Id
    school: Id = 0


class ReviewSchool(CallbackData, prefix="vsc"):
    """/review <name> matched several schools: this one's queue."""

    school_id: Id


# --- roadmap import, /roadmap and reminders (handlers/roadmap/) -----------------------------


class RoadmapImportConfirm(CallbackData, prefix="mri"):
    """«Импортировать» under a preview; the school is re-checked, the file re-read from FSM."""

    school_id: Id


class RoadmapPage(CallbackData, prefix="mrp"):
    school_id: Id
    page: Id


class ReminderReport(CallbackData, prefix="mrr"):
    """«Отчитаться» under a reminder digest: starts /report."""


class ReminderMute(CallbackData, prefix="mmu"):
    action: Literal["mute", "unmute"]


# --- status (/status) -------------------------------------------------------------------------


class StatusSchool(CallbackData, prefix="st"):
    school_id: Id


class StatusPage(CallbackData, prefix="stp"):
    page: Id


# --- a roadmap activity's card (handlers/roadmap/items.py) ------------------------------------


class ItemAction(StrEnum):
    """The buttons of a roadmap activity's card, and «✏ n» in /roadmap (OPEN)."""

    OPEN = "open"
    DIRECTION = "direction"  # the directions to choose from
    NO_DIRECTION = "no_direction"
    DUE = "due"  # ask for the deadline
    RESPONSIBLE = "responsible"  # ask for the responsible
    LIST = "list"  # back to the /roadmap page that holds the activity


class RoadmapItemAction(CallbackData, prefix="mia"):
    """On one roadmap activity; the item's school is re-checked in the database."""

    action: ItemAction
    item_id: Id


class RoadmapItemDirection(CallbackData, prefix="mid"):
    item_id: Id
    code: Direction


# --- anonymous surveys (handlers/surveys) -----------------------------------------------------

# "" while the new survey's step has not been chosen yet.
SurveyForm = Literal["", "risk500", "feedback"]
SurveyAudience = Literal["", "students", "parents", "teachers"]


class SurveySchool(CallbackData, prefix="svs"):
    """/survey: a school's surveys (a municipal coordinator picks the school first)."""

    school_id: Id
    page: Id = 0


class SurveyNew(CallbackData, prefix="svn"):
    """The steps of a new survey, carried in the button: form, group, grades, closing."""

    school_id: Id
    form: SurveyForm = ""
    audience: SurveyAudience = ""
    grades: Id = 0  # bit g set = grade g
    grades_done: bool = False
    days: Id = 0  # one of the offered closing days; anything else asks again


class SurveyCard(CallbackData, prefix="svc"):
    survey_id: Id


class SurveyManage(CallbackData, prefix="svm"):
    survey_id: Id
    action: Literal["close", "close_yes", "extend", "revoke", "new_link"]


class SurveyAnswer(CallbackData, prefix="sva"):
    """A respondent's button: the question's position and the option chosen."""

    survey_id: Id
    position: Id
    option: Id


class SurveyBack(CallbackData, prefix="svb"):
    survey_id: Id
    position: Id


# --- documents (/documents) -------------------------------------------------------------------


class DocKind(CallbackData, prefix="dk"):
    """The document chosen under /documents; the user's role is re-checked for it."""

    kind: DocumentKind


class DocPeriod(CallbackData, prefix="dkp"):
    """A period button: the same words as /export (``exports.schedule.parse_period``)."""

    period: Literal["week", "last_week", "month", "last_month"]


class DocScope(CallbackData, prefix="dks"):
    """Which schools: all the user sees, one municipality or one school (re-checked)."""

    scope: Literal["all", "municipality", "school"]
    target_id: Id = 0


class DocSchoolsPage(CallbackData, prefix="dkg"):
    page: Id
