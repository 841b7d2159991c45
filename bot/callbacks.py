"""Typed callback data: one class per action, short stable prefixes. Never trusted as is."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class Cancel(CallbackData, prefix="x"):
    pass


class LangChoice(CallbackData, prefix="lang"):
    code: str


class ProjectChoice(CallbackData, prefix="prj"):
    value: str


class MunicipalityPick(CallbackData, prefix="mun"):
    municipality_id: int


class InviteRole(CallbackData, prefix="ir"):
    role: str


class InviteSchool(CallbackData, prefix="isc"):
    school_id: int


class InviteDone(CallbackData, prefix="idn"):
    pass


class SchoolsPage(CallbackData, prefix="spg"):
    """Paging of a school list; `purpose` says which list (invite picker, /schools)."""

    purpose: str
    page: int


class InviteForSchool(CallbackData, prefix="inv1"):
    school_id: int


# --- reporting (/report, /my, /evidence) ---------------------------------------------------


class ReportItem(CallbackData, prefix="ri"):
    """A roadmap item chosen for the report; 0 means «Другое мероприятие»."""

    item_id: int


class ReportPage(CallbackData, prefix="rp"):
    page: int


class ReportDirection(CallbackData, prefix="rd"):
    code: str


class ReportDate(CallbackData, prefix="rdt"):
    days_ago: int


class ReportMark(CallbackData, prefix="rm"):
    mark: str


class ReportNav(CallbackData, prefix="rn"):
    """Form navigation: back, submit, edit, evidence, done, no_evidence, resume, restart."""

    action: str


class ReportField(CallbackData, prefix="rf"):
    name: str


class MyReport(CallbackData, prefix="rmy"):
    """/my actions on one report: edit, delete, delete_yes, evidence."""

    action: str
    report_id: int


class MyPage(CallbackData, prefix="rmp"):
    page: int


# --- self-diagnosis (handlers/diagnostics.py) ------------------------------------------------


class DiagStart(CallbackData, prefix="dq"):
    questionnaire_id: int


class DiagContinue(CallbackData, prefix="dc"):
    run_id: int


class DiagRestart(CallbackData, prefix="dn"):
    run_id: int


class DiagOther(CallbackData, prefix="do"):
    pass


class DiagLevel(CallbackData, prefix="dl"):
    run_id: int
    index: int


class DiagLevelsDone(CallbackData, prefix="dld"):
    run_id: int


class DiagOvz(CallbackData, prefix="dz"):
    run_id: int
    value: int


class DiagProfileBack(CallbackData, prefix="dpb"):
    run_id: int


class DiagAnswer(CallbackData, prefix="da"):
    run_id: int
    question_id: int
    option: int


class DiagUnknown(CallbackData, prefix="du"):
    run_id: int
    question_id: int


class DiagHint(CallbackData, prefix="dh"):
    run_id: int
    question_id: int


class DiagBack(CallbackData, prefix="db"):
    run_id: int
    question_id: int


class DiagPause(CallbackData, prefix="dp"):
    run_id: int


class DiagView(CallbackData, prefix="dv"):
    run_id: int


class DiagSchool(CallbackData, prefix="ds"):
    school_id: int


class DiagSchoolsPage(CallbackData, prefix="dsp"):
    page: int


class DiagToRoadmap(CallbackData, prefix="dm"):
    """A deficit of a completed run by its place in the stored result."""

    run_id: int
    direction: int
    item: int


class DiagImport(CallbackData, prefix="di"):
    pass


# --- review (/review) -------------------------------------------------------------------------


class ReviewAction(CallbackData, prefix="va"):
    """confirm | return | files, on one report."""

    action: str
    report_id: int


class ReviewSkip(CallbackData, prefix="vs"):
    offset: int


# --- roadmap import, /roadmap and reminders (handlers/roadmap.py) ----------------------------


class RoadmapImportConfirm(CallbackData, prefix="mri"):
    """«Импортировать» under a preview; the school is re-checked, the file re-read from FSM."""

    school_id: int


class RoadmapPage(CallbackData, prefix="mrp"):
    school_id: int
    page: int


class ReminderReport(CallbackData, prefix="mrr"):
    """«Отчитаться» under a reminder digest: starts /report."""


class ReminderMute(CallbackData, prefix="mmu"):
    """action: mute | unmute."""

    action: str


# --- status (/status) -------------------------------------------------------------------------


class StatusSchool(CallbackData, prefix="st"):
    school_id: int


class StatusPage(CallbackData, prefix="stp"):
    page: int
