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
