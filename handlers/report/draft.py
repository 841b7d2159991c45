"""The draft in the FSM data: loading and saving it, the filter that hands it to the step
handlers, and what the form says when it is gone or when a button is an earlier form's.

The database storage keeps the FSM data across restarts; the draft is its «draft» key.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import BaseFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.ui import replies
from bot.ui.callbacks import (
    ReportDate,
    ReportDirection,
    ReportField,
    ReportItem,
    ReportMark,
    ReportNav,
    ReportPage,
)
from models.base import utcnow
from models.reports import Draft


async def load_draft(state: FSMContext) -> Draft | None:
    data = await state.get_data()
    raw = data.get("draft")
    return Draft.from_dict(raw) if isinstance(raw, dict) else None


async def save_draft(state: FSMContext, draft: Draft, **extra: Any) -> None:
    await state.update_data(draft=draft.to_dict(), touched=utcnow().isoformat(), **extra)


class HasDraft(BaseFilter):
    """Passes when the form has its draft, and gives it to the handler as `draft: Draft`.

    Without a draft (an old form, or its data lost) the update goes on to the next handler:
    `form_no_longer_active`, registered after the steps for the same states.
    """

    async def __call__(
        self, event: Message | CallbackQuery, state: FSMContext
    ) -> bool | dict[str, Any]:
        draft = await load_draft(state)
        return False if draft is None else {"draft": draft}


has_draft = HasDraft()


async def form_no_longer_active(event: Message | CallbackQuery, state: FSMContext) -> None:
    """A step of the form without its draft: say so and leave the form."""
    await state.clear()
    text = _("This form is no longer active. Start again: /report")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    else:
        await event.answer(text)


async def refuse_if_drafting(event: Message | CallbackQuery, state: FSMContext) -> bool:
    """True (and says why) when an unsent report draft is in progress."""
    current = await state.get_state()
    if not (current and current.startswith("ReportForm")) or await load_draft(state) is None:
        return False
    text = _("You have an unsent report draft. Finish it (/report) or drop it (/cancel) first.")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    else:
        await event.answer(text)
    return True


async def remember_answer(state: FSMContext, field: str, message: Message) -> None:
    """Which message answered which field: an edit of that message changes the field."""
    answers = (await state.get_data()).get("answers")
    await state.update_data(
        answers={**(answers if isinstance(answers, dict) else {}), field: message.message_id}
    )


async def album_count(state: FSMContext, album: str) -> int:
    """How many files of this album have arrived, this one included."""
    seen = (await state.get_data()).get("album")
    if isinstance(seen, dict) and seen.get("id") == album:
        return int(seen.get("count", 0)) + 1
    return 1


# --- buttons of an earlier form --------------------------------------------------------------

FORM_BUTTONS: dict[str, type[CallbackData]] = {
    button.__prefix__: button
    for button in (
        ReportItem,
        ReportPage,
        ReportDirection,
        ReportDate,
        ReportMark,
        ReportNav,
        ReportField,
    )
}


def form_button(query: CallbackQuery) -> bool:
    """A filter: a button of the report form (of this form or of an earlier one)."""
    return (query.data or "").split(":", 1)[0] in FORM_BUTTONS


def button_form(data: str | None) -> str:
    """The form id a report form's button carries; "" for any other button."""
    button = FORM_BUTTONS.get((data or "").split(":", 1)[0])
    if button is None:
        return ""
    try:
        return str(getattr(button.unpack(data or ""), "form", ""))
    except (TypeError, ValueError):
        return ""


async def of_an_earlier_form(query: CallbackQuery, state: FSMContext) -> bool:
    """A filter: the button carries a form id, and a different form is now in progress."""
    form = button_form(query.data)
    if not form:
        return False
    draft = await load_draft(state)
    return draft is not None and draft.form != form


async def earlier_form_button(query: CallbackQuery) -> None:
    # The current draft stays as it is; the old message only loses its buttons.
    await query.answer(
        _("This button belongs to an earlier form; the one in progress is kept as it is."),
        show_alert=True,
    )
    if isinstance(query.message, Message):
        await replies.edit_markup(query.message, None)
