"""Typed callback data: one class per action, short stable prefixes. Never trusted as is."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Ids and page numbers in buttons: never negative, and small enough for a 64-bit column, so a
# forged «st:999…9» fails the filter (a polite «button no longer active») instead of the query.
Id = Annotated[int, Field(ge=0, le=2**53)]


# A report form's buttons carry its form id (the draft key's first 8 characters), so a button
# of an earlier form is told apart from the current one. "" is a button of no particular form.
FormId = Annotated[str, Field(max_length=8)]


class Cancel(CallbackData, prefix="x"):
    form: FormId = ""


class LangChoice(CallbackData, prefix="lang"):
    code: str


class ProjectChoice(CallbackData, prefix="prj"):
    value: str


class MunicipalityPick(CallbackData, prefix="mun"):
    municipality_id: Id


class InviteRole(CallbackData, prefix="ir"):
    role: str


class InviteSchool(CallbackData, prefix="isc"):
    school_id: Id


class InviteDone(CallbackData, prefix="idn"):
    pass


class SchoolsPage(CallbackData, prefix="spg"):
    """Paging of a school list; `purpose` says which list (invite picker, /schools)."""

    purpose: str
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
    code: str
    form: FormId = ""


class ReportDate(CallbackData, prefix="rdt"):
    days_ago: Id
    form: FormId = ""


class ReportMark(CallbackData, prefix="rm"):
    mark: str
    form: FormId = ""


class ReportNav(CallbackData, prefix="rn"):
    """Form navigation: back, submit, edit, evidence, done, no_evidence, resume, restart."""

    action: str
    form: FormId = ""


class ReportField(CallbackData, prefix="rf"):
    name: str
    form: FormId = ""


class MyReport(CallbackData, prefix="rmy"):
    """/my actions on one report: edit, delete, delete_yes, evidence."""

    action: str
    report_id: Id


class MyPage(CallbackData, prefix="rmp"):
    page: Id


# --- self-diagnosis (handlers/diagnostics.py) ------------------------------------------------


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
    """confirm | return | files, on one report."""

    action: str
    report_id: Id


class ReviewSkip(CallbackData, prefix="vs"):
    offset: Id


# --- roadmap import, /roadmap and reminders (handlers/roadmap.py) ----------------------------


class RoadmapImportConfirm(CallbackData, prefix="mri"):
    """«Импортировать» under a preview; the school is re-checked, the file re-read from FSM."""

    school_id: Id


class RoadmapPage(CallbackData, prefix="mrp"):
    school_id: Id
    page: Id


class ReminderReport(CallbackData, prefix="mrr"):
    """«Отчитаться» under a reminder digest: starts /report."""


class ReminderMute(CallbackData, prefix="mmu"):
    """action: mute | unmute."""

    action: str


# --- status (/status) -------------------------------------------------------------------------


class StatusSchool(CallbackData, prefix="st"):
    school_id: Id


class StatusPage(CallbackData, prefix="stp"):
    page: Id
