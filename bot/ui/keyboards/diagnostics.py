"""Keyboards of the self-diagnosis: they take what they show as parameters and do no queries."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.ui import callbacks as cb
from bot.ui.formatting import trim
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager

BUTTON_TEXT = 60
SHORT_OPTION = 14
CHECKED = "✅ "
UNCHECKED = "▫️ "


def menu(
    questionnaires: Sequence[tuple[int, str]],
    results: Sequence[tuple[int, str]] = (),
    *,
    can_import: bool = False,
) -> InlineKeyboardMarkup:
    """Questionnaires to start (id, title), latest results to open (run id, title)."""
    builder = Keyboard()
    for questionnaire_id, title in questionnaires:
        builder.button(
            text=trim("▶ " + title, BUTTON_TEXT),
            callback_data=cb.DiagStart(questionnaire_id=questionnaire_id),
        )
    for run_id, title in results:
        builder.button(
            text=trim(_("Result: {title}").format(title=title), BUTTON_TEXT),
            callback_data=cb.DiagView(run_id=run_id),
        )
    if can_import:
        builder.button(text=_("Upload a questionnaire (XLSX)"), callback_data=cb.DiagImport())
    builder.adjust(1)
    return builder.as_markup()


def resume_offer(run_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=_("▶ Continue"), callback_data=cb.DiagContinue(run_id=run_id))
    builder.button(text=_("↺ Start over"), callback_data=cb.DiagRestart(run_id=run_id))
    builder.button(text=_("Another questionnaire"), callback_data=cb.DiagOther())
    builder.adjust(2, 1)
    return builder.as_markup()


def profile_levels(
    run_id: int, levels: Sequence[str], selected: Collection[str]
) -> InlineKeyboardMarkup:
    """Multi-select of the school levels, by index; then «Next»."""
    builder = Keyboard()
    for index, level in enumerate(levels):
        mark = CHECKED if level in selected else UNCHECKED
        builder.button(text=mark + level, callback_data=cb.DiagLevel(run_id=run_id, index=index))
    builder.button(text=_("Next →"), callback_data=cb.DiagLevelsDone(run_id=run_id))
    builder.button(text=_("⏸ Pause"), callback_data=cb.DiagPause(run_id=run_id))
    builder.adjust(len(levels), 1, 1)
    return builder.as_markup()


def profile_ovz(run_id: int, selected: bool | None, *, can_go_back: bool) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for value, label in ((1, _("Yes")), (0, _("No"))):
        mark = CHECKED if selected is not None and int(selected) == value else ""
        builder.button(text=mark + label, callback_data=cb.DiagOvz(run_id=run_id, value=value))
    sizes = [2]
    if can_go_back:
        builder.button(text=_("← Back"), callback_data=cb.DiagProfileBack(run_id=run_id))
    builder.button(text=_("⏸ Pause"), callback_data=cb.DiagPause(run_id=run_id))
    sizes.append(2 if can_go_back else 1)
    builder.adjust(*sizes)
    return builder.as_markup()


def question(
    run_id: int,
    question_id: int,
    options: Sequence[str],
    *,
    selected: int | None = None,
    side_by_side: bool = False,
    allow_unknown: bool = False,
    unknown_selected: bool = False,
    hint: bool = False,
) -> InlineKeyboardMarkup:
    """Answer options (none for typed answers), then «Не знаю», «Подсказка», «Назад», «Пауза»."""
    builder = Keyboard()
    for index, label in enumerate(options):
        mark = CHECKED if selected == index else ""
        builder.button(
            text=trim(mark + label, BUTTON_TEXT),
            callback_data=cb.DiagAnswer(run_id=run_id, question_id=question_id, option=index),
        )
    sizes = [len(options)] if side_by_side and options else [1] * len(options)
    extra = 0
    if allow_unknown:
        mark = CHECKED if unknown_selected else ""
        builder.button(
            text=mark + _("Don't know"),
            callback_data=cb.DiagUnknown(run_id=run_id, question_id=question_id),
        )
        extra += 1
    if hint:
        builder.button(
            text=_("💡 Hint"), callback_data=cb.DiagHint(run_id=run_id, question_id=question_id)
        )
        extra += 1
    if extra:
        sizes.append(extra)
    builder.button(
        text=_("← Back"), callback_data=cb.DiagBack(run_id=run_id, question_id=question_id)
    )
    builder.button(text=_("⏸ Pause"), callback_data=cb.DiagPause(run_id=run_id))
    sizes.append(2)
    builder.adjust(*sizes)
    return builder.as_markup()


def fits_side_by_side(labels: Sequence[str]) -> bool:
    return 0 < len(labels) <= 4 and all(len(label) <= SHORT_OPTION for label in labels)


def result_actions(
    run_id: int, deficits: Sequence[tuple[int, int, int, str]], added: Collection[int]
) -> InlineKeyboardMarkup | None:
    """One «add to the roadmap» button per deficit: (number, direction, item, wording)."""
    if not deficits:
        return None
    builder = Keyboard()
    for number, direction, item, text in deficits:
        label = (_("✅ {number}. {text}") if number in added else _("➕ {number}. {text}")).format(
            number=number, text=text
        )
        builder.button(
            text=trim(label, BUTTON_TEXT),
            callback_data=cb.DiagToRoadmap(run_id=run_id, direction=direction, item=item),
        )
    builder.adjust(1)
    return builder.as_markup()


def schools(
    items: Sequence[tuple[int, str]],
    *,
    page: int,
    total: int,
    page_size: int,
    can_import: bool = False,
) -> InlineKeyboardMarkup:
    """Schools (id, name) whose cards can be opened, with paging."""
    builder = Keyboard()
    for school_id, name in items:
        builder.button(
            text=trim(name, BUTTON_TEXT), callback_data=cb.DiagSchool(school_id=school_id)
        )
    sizes = [1] * len(items)
    nav = add_pager(
        builder,
        page=page,
        total=total,
        per_page=page_size,
        button=lambda number: cb.DiagSchoolsPage(page=number),
    )
    if nav:
        sizes.append(nav)
    if can_import:
        builder.button(text=_("Upload a questionnaire (XLSX)"), callback_data=cb.DiagImport())
        sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup()
