"""The school's roadmap: import from the files schools keep (imports), /roadmap (screens), an
activity's card where the coordinator sets its direction, deadline and responsible (items),
/mute and the reminder buttons (reminders). One router for all of them."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from bot.ui.access import EVERY_ROLE, SCHOOL_STAFF, allow
from bot.ui.callbacks import (
    ReminderMute,
    ReminderReport,
    RoadmapImportConfirm,
    RoadmapItemAction,
    RoadmapItemDirection,
    RoadmapPage,
)
from bot.ui.states import RoadmapImport, RoadmapItemEdit
from handlers.roadmap.imports import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    import_confirmed,
    import_fallback,
    roadmap_document,
)
from handlers.roadmap.items import (
    direction_chosen,
    due_given,
    item_action,
    item_edit_fallback,
    responsible_given,
)
from handlers.roadmap.reminders import mute_button, mute_command, reminder_report, unmute_command
from handlers.roadmap.screens import PAGE_SIZE, roadmap_command, roadmap_page_chosen
from models import Role

__all__ = ["MAX_FILE_BYTES", "MAX_ROWS", "PAGE_SIZE", "create_router"]

STAFF = allow(SCHOOL_STAFF)
COORDINATOR = allow(Role.COORDINATOR)
EVERYONE = allow(EVERY_ROLE)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    r = router.message.register
    c = router.callback_query.register
    r(roadmap_command, Command("roadmap"), flags=EVERYONE)
    c(roadmap_page_chosen, RoadmapPage.filter(), flags=EVERYONE)
    r(mute_command, Command("mute"), flags=EVERYONE)
    r(unmute_command, Command("unmute"), flags=EVERYONE)
    c(mute_button, ReminderMute.filter(), flags=EVERYONE)
    c(reminder_report, ReminderReport.filter(), flags=STAFF)
    r(roadmap_document, StateFilter(None, RoadmapImport.confirm), F.document, flags=STAFF)
    c(import_confirmed, RoadmapImport.confirm, RoadmapImportConfirm.filter(), flags=COORDINATOR)
    r(import_fallback, RoadmapImport.confirm, flags=COORDINATOR)
    c(item_action, RoadmapItemAction.filter(), flags=COORDINATOR)
    c(direction_chosen, RoadmapItemDirection.filter(), flags=COORDINATOR)
    r(due_given, RoadmapItemEdit.due, F.text, flags=COORDINATOR)
    r(responsible_given, RoadmapItemEdit.responsible, F.text, flags=COORDINATOR)
    r(item_edit_fallback, StateFilter(RoadmapItemEdit), flags=COORDINATOR)
    return router
