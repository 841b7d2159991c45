"""Translated names of enum values, shared by handlers and keyboards."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from models.enums import Project, Role


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
