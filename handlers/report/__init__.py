"""Activity reporting from a phone: /report, the summary card, evidence, /my and /evidence.

    draft.py    the draft in the FSM data, the HasDraft filter, buttons of an earlier form
    card.py     what each step shows (SCREENS), the card, the form message's bookkeeping
    form.py     /report: start, resume, the four steps
    summary.py  the card: send, «✏ Change», edited answers, «◀ Back», the fallbacks
    my.py       /my          evidence.py  /evidence, and the evidence helpers of the form

The draft lives in the FSM data, which the database storage keeps across restarts. Every step
has a validating handler and a fallback that explains what is expected and keeps the draft;
a step whose draft is gone says the form is no longer active (`form_no_longer_active`).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter

from bot.ui.access import SCHOOL_STAFF, allow
from bot.ui.callbacks import (
    FormAction,
    MyPage,
    MyReport,
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from bot.ui.keyboards import report as kb
from bot.ui.states import EvidenceForm, ReportForm
from handlers.report.draft import (
    earlier_form_button,
    form_button,
    form_no_longer_active,
    has_draft,
    of_an_earlier_form,
)
from handlers.report.evidence import (
    collect_done,
    collect_fallback,
    collect_file,
    collect_links,
    evidence_command,
)
from handlers.report.form import (
    activity_chosen,
    activity_page,
    activity_search,
    description_given,
    evidence_done,
    evidence_file,
    evidence_links,
    mark_chosen,
    other_direction,
    other_title,
    report_start,
    resume_choice,
)
from handlers.report.my import my_action, my_page, my_reports
from handlers.report.summary import (
    TYPED_FIELDS,
    answer_edited,
    back,
    date_button,
    default_value,
    edit_menu,
    fallback_activity,
    fallback_buttons_expected,
    fallback_evidence,
    fallback_summary,
    fallback_text_expected,
    field_chosen,
    field_typed,
    submit,
)

__all__ = ["create_router", "report_start"]

STAFF = allow(SCHOOL_STAFF)


def _nav(action: FormAction) -> CallbackQueryFilter:
    return ReportNav.filter(F.action == action)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    r = router.message.register
    c = router.callback_query.register
    form = StateFilter(ReportForm)

    r(report_start, Command("report"), flags=STAFF)
    r(report_start, kb.menu_button("report"), flags=STAFF)
    r(my_reports, Command("my"), flags=STAFF)
    r(my_reports, kb.menu_button("my"), flags=STAFF)
    r(evidence_command, Command("evidence"), flags=STAFF)
    c(earlier_form_button, of_an_earlier_form, flags=STAFF)
    c(my_page, MyPage.filter(), flags=STAFF)
    c(my_action, MyReport.filter(), flags=STAFF)

    # The steps: each gets the draft from `has_draft`, the last filter.
    restart = ReportNav.filter(F.action.in_({FormAction.RESUME, FormAction.RESTART}))
    c(resume_choice, ReportForm.resume, restart, flags=STAFF)
    c(activity_page, ReportForm.activity, ReportPage.filter(), has_draft, flags=STAFF)
    c(activity_chosen, ReportForm.activity, ReportItem.filter(), has_draft, flags=STAFF)
    r(activity_search, ReportForm.activity, F.text, has_draft, flags=STAFF)
    c(
        other_direction,
        ReportForm.other_direction,
        ReportDirection.filter(),
        has_draft,
        flags=STAFF,
    )
    r(other_title, ReportForm.other_title, F.text, has_draft, flags=STAFF)
    c(mark_chosen, ReportForm.mark, ReportMark.filter(), has_draft, flags=STAFF)
    r(description_given, ReportForm.description, F.text, has_draft, flags=STAFF)
    r(evidence_links, ReportForm.evidence, F.text, has_draft, flags=STAFF)
    r(evidence_file, ReportForm.evidence, F.document | F.photo, has_draft, flags=STAFF)
    c(evidence_done, ReportForm.evidence, _nav(FormAction.DONE), has_draft, flags=STAFF)
    c(submit, ReportForm.summary, _nav(FormAction.SUBMIT), has_draft, flags=STAFF)
    c(edit_menu, ReportForm.summary, _nav(FormAction.EDIT), has_draft, flags=STAFF)
    card_or_fields = StateFilter(ReportForm.summary, ReportForm.edit_field)
    c(field_chosen, card_or_fields, ReportField.filter(), has_draft, flags=STAFF)
    # Only «Today» and «Yesterday» exist; another number is a forged button (fallback.py).
    days_ago = ReportDate.filter(F.days_ago.in_({0, 1}))
    c(date_button, ReportForm.edit_date, days_ago, has_draft, flags=STAFF)
    r(field_typed, StateFilter(*TYPED_FIELDS), F.text, has_draft, flags=STAFF)
    no_one = _nav(FormAction.NO_PARTICIPANTS)
    c(default_value, ReportForm.edit_participants, no_one, has_draft, flags=STAFF)
    school = _nav(FormAction.SCHOOL_ORGANIZER)
    c(default_value, ReportForm.edit_organizer, school, has_draft, flags=STAFF)
    c(back, form, _nav(FormAction.BACK), has_draft, flags=STAFF)
    # An edit without a draft is not taken: fallback.py says so.
    router.edited_message.register(answer_edited, form, has_draft, flags=STAFF)

    # No draft (an old form): say so and leave the form, before the fallbacks that keep it.
    c(form_no_longer_active, form, form_button, ~has_draft, flags=STAFF)
    r(form_no_longer_active, form, ~has_draft, flags=STAFF)

    r(fallback_evidence, ReportForm.evidence, flags=STAFF)
    r(fallback_summary, ReportForm.summary, flags=STAFF)
    r(fallback_activity, ReportForm.activity, flags=STAFF)
    typed = StateFilter(
        ReportForm.other_title,
        ReportForm.description,
        ReportForm.edit_date,
        ReportForm.edit_participants,
        ReportForm.edit_organizer,
    )
    r(fallback_text_expected, typed, flags=STAFF)
    r(fallback_buttons_expected, form, flags=STAFF)

    c(collect_done, EvidenceForm.collect, _nav(FormAction.DONE), flags=STAFF)
    r(collect_links, EvidenceForm.collect, F.text, flags=STAFF)
    r(collect_file, EvidenceForm.collect, F.document | F.photo, flags=STAFF)
    r(collect_fallback, EvidenceForm.collect, flags=STAFF)
    return router
