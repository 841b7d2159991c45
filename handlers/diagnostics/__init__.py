"""Self-diagnosis in the chat: a school coordinator answers a questionnaire one question per
message; curators and municipal coordinators see the latest results of their schools.

The run and its answers live in the database (models/diagnostic_runs.py), so «Пауза», /cancel or
a restart of the bot lose nothing: /diagnostics offers to continue. FSM state only routes typed
answers and keeps the draft of the profile step. Every id from a button is checked again.

    start.py      /diagnostics: the menu, the school list; choosing, continuing, starting over
    screens.py    the profile and question screens; `present` shows what the run needs now
    answering.py  profile buttons, answers (buttons and typed), hint, back, pause, fallbacks
    results.py    the result card, the comparison, deficits to the roadmap
    imports.py    questionnaires uploaded as XLSX
    shared.py     texts, numbers and dates, chunks, Step and the re-check of a run's button
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from bot.ui import callbacks as cb
from bot.ui.access import OVERSIGHT, allow
from bot.ui.states import DiagnosticsForm
from handlers.diagnostics import answering, imports, results, start
from models import Role

COORDINATOR = allow(Role.COORDINATOR)
VIEWERS = allow(Role.COORDINATOR, OVERSIGHT)
IMPORTERS = allow(Role.COORDINATOR, Role.MUNICIPAL)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    # A teacher is told who fills it in, instead of «not available for your role».
    router.message.register(
        start.diagnostics_for_teachers,
        Command("diagnostics"),
        start.is_teacher,
        flags=allow(Role.TEACHER),
    )
    router.message.register(start.diagnostics_command, Command("diagnostics"), flags=VIEWERS)

    buttons = router.callback_query
    buttons.register(start.choose_questionnaire, cb.DiagStart.filter(), flags=COORDINATOR)
    buttons.register(start.continue_run, cb.DiagContinue.filter(), flags=COORDINATOR)
    buttons.register(start.restart_run, cb.DiagRestart.filter(), flags=COORDINATOR)
    buttons.register(start.other_questionnaire, cb.DiagOther.filter(), flags=COORDINATOR)
    buttons.register(answering.toggle_level, cb.DiagLevel.filter(), flags=COORDINATOR)
    buttons.register(answering.levels_done, cb.DiagLevelsDone.filter(), flags=COORDINATOR)
    buttons.register(answering.choose_ovz, cb.DiagOvz.filter(), flags=COORDINATOR)
    buttons.register(answering.profile_back, cb.DiagProfileBack.filter(), flags=COORDINATOR)
    buttons.register(answering.answer_option, cb.DiagAnswer.filter(), flags=COORDINATOR)
    buttons.register(answering.answer_unknown, cb.DiagUnknown.filter(), flags=COORDINATOR)
    buttons.register(answering.show_hint, cb.DiagHint.filter(), flags=COORDINATOR)
    buttons.register(answering.go_back, cb.DiagBack.filter(), flags=COORDINATOR)
    buttons.register(answering.pause, cb.DiagPause.filter(), flags=COORDINATOR)
    buttons.register(results.add_to_roadmap, cb.DiagToRoadmap.filter(), flags=COORDINATOR)
    buttons.register(results.view_run, cb.DiagView.filter(), flags=VIEWERS)
    buttons.register(results.view_school, cb.DiagSchool.filter(), flags=VIEWERS)
    buttons.register(
        start.schools_page_turned, cb.DiagSchoolsPage.filter(), flags=allow(OVERSIGHT)
    )
    buttons.register(imports.import_start, cb.DiagImport.filter(), flags=IMPORTERS)

    messages = router.message
    form = DiagnosticsForm
    messages.register(answering.typed_answer, form.question, F.text, flags=COORDINATOR)
    messages.register(answering.question_fallback, form.question, flags=COORDINATOR)
    messages.register(
        answering.profile_fallback,
        StateFilter(form.profile_levels, form.profile_ovz),
        flags=COORDINATOR,
    )
    messages.register(imports.import_file, form.import_file, F.document, flags=IMPORTERS)
    messages.register(imports.import_fallback, form.import_file, flags=IMPORTERS)
    return router
