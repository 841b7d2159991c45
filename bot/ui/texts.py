"""Translated names of enum values, shared by handlers and keyboards."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from models.enums import Direction, Mark, Project, Role


def role_name(role: Role) -> str:
    return {
        Role.TEACHER: _("teacher"),
        Role.COORDINATOR: _("school coordinator"),
        Role.CURATOR: _("curator"),
        Role.MUNICIPAL: _("municipal coordinator"),
    }[role]


def project_name(project: Project) -> str:
    return {
        Project.MSH: _("«School of the Ministry of Education of Russia»"),
        Project.P500: _("«500+»"),
        Project.BOTH: _("both projects"),
    }[project]


def direction_name(code: str | None) -> str:
    names = {
        Direction.KNOWLEDGE: _("Knowledge"),
        Direction.UPBRINGING: _("Upbringing"),
        Direction.HEALTH: _("Health"),
        Direction.CREATIVITY: _("Creativity"),
        Direction.CAREER: _("Career guidance"),
        Direction.TEACHER: _("Teacher. School team"),
        Direction.CLIMATE: _("School climate"),
        Direction.ENVIRONMENT: _("Educational environment"),
    }
    if code is None:
        return "—"
    try:
        return names[Direction(code)]
    except ValueError:
        return "—"


def mark_name(mark: str | None) -> str:
    return {
        Mark.DONE.value: _("Done"),
        Mark.PARTIAL.value: _("Partly done"),
        Mark.NOT_DONE.value: _("Not done"),
    }.get(mark or "", "—")


def review_state_name(state: str) -> str:
    return {
        "submitted": _("awaiting review"),
        "confirmed": _("confirmed"),
        "returned": _("returned for revision"),
    }.get(state, state)


def input_problem(code: str, params: dict[str, object]) -> str:
    """Translated hint for a models.errors.InvalidInput code from a form step."""
    texts = {
        "date_format": _("Write the date as dd.mm.yyyy, e.g. 05.11.2026, or use the buttons."),
        "date_future": _("The date can't be in the future."),
        "date_too_old": _("The date is too far in the past."),
        "text_empty": _("Please write a few words."),
        "text_too_long": _("That's too long: at most {max} characters. Please shorten it."),
        "participants_too_many": _("That number of participants looks wrong."),
        "too_many_links": _("At most {max} links per report."),
        "too_many_files": _("At most {max} files per report."),
        "link_scheme": _(
            "Only web links (http:// or https://) can be evidence; «{scheme}:» links can't."
        ),
        "link_not_url": _("That doesn't look like a link. Send a web address like https://…"),
        "link_too_long": _("That link is too long."),
        "report_locked": _("This report is confirmed by the curator and can't be changed."),
        "draft_incomplete": _("Some fields are still empty."),
        "direction_unknown": _("Choose a direction with the buttons."),
    }
    template = texts.get(code, _("That did not work. Please check and try again."))
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def level_name(code: str | None) -> str:
    """Self-diagnosis levels (msh) and risk levels (500+) by their codes in the data files."""
    names = {
        "below_basic": _("below basic"),
        "basic": _("basic"),
        "medium": _("medium"),
        "high": _("high"),
    }
    return names.get(code or "", code or "—")
