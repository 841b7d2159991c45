"""The screens of a run in progress: the school profile (levels, ОВЗ) and the current question;
`present` shows whichever the run needs now, or its result.
"""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _

from bot.ui import replies
from bot.ui.keyboards import diagnostics as kb
from bot.ui.states import DiagnosticsForm
from handlers.diagnostics.results import finish
from handlers.diagnostics.shared import Step, header, num, tr
from handlers.surveys.profile import survey_note, take_survey_answers
from models import School, diagnostics
from models import diagnostic_runs as runs

OPTION_KINDS = frozenset({"yesno", "choice", "scale"})
MAX_TEXT_ANSWER = 500


async def present(step: Step, *, show_hint: bool = False) -> None:
    """Show whatever the run needs now: the profile, the current question, or the result."""
    view = step.view
    if view.profile is None:
        if "levels" in view.asks_profile:
            await ask_levels(step)
        else:
            await ask_ovz(step)
        return
    taken = await take_survey_answers(step.session, view, step.settings)
    if view.current is None:
        await finish(step)
        return
    await ask_question(step, show_hint=show_hint, note=taken)


def profile_question(view: runs.RunView, code: str) -> diagnostics.ProfileQuestion:
    return next(p for p in view.questionnaire.profile if p.code == code)


def profile_lines(view: runs.RunView, code: str) -> list[str]:
    """The header, the profile question in bold and its hint in italics."""
    question = profile_question(view, code)
    lines = [header(view), "", f"<b>{escape(tr(question.text, question.text_en))}</b>"]
    hint = tr(question.hint, question.hint_en)
    if hint:
        lines.append(f"<i>{escape(hint)}</i>")
    return lines


async def draft_levels(step: Step) -> set[str]:
    """The levels ticked so far: the form's draft, else the run's profile, else the school's."""
    run = step.view.run
    data = await step.state.get_data()
    if data.get("run_id") == run.id and "levels" in data:
        return set(data["levels"]) & set(diagnostics.SCHOOL_LEVELS)
    if run.profile:
        return set(run.profile.get("levels", []))
    school = await step.session.get(School, run.school_id)
    return set(runs.profile_of_school(school)[0]) if school is not None else set()


async def ask_levels(step: Step, selected: set[str] | None = None) -> None:
    if selected is None:
        selected = await draft_levels(step)
    run_id = step.view.run.id
    lines = profile_lines(step.view, "levels")
    lines += ["", _("Tick every level the school teaches, then press «Next».")]
    await step.state.set_state(DiagnosticsForm.profile_levels)
    await step.state.set_data({"run_id": run_id, "levels": sorted(selected)})
    await replies.show(
        step.event,
        "\n".join(lines),
        kb.profile_levels(run_id, diagnostics.SCHOOL_LEVELS, selected),
    )


async def ask_ovz(step: Step) -> None:
    view = step.view
    if view.run.profile:
        current: bool | None = bool(view.run.profile.get("ovz"))
    else:
        school = await step.session.get(School, view.run.school_id)
        current = school.has_ovz if school is not None else None
    await step.state.set_state(DiagnosticsForm.profile_ovz)
    await step.state.update_data(run_id=view.run.id)
    await replies.show(
        step.event,
        "\n".join(profile_lines(view, "ovz")),
        kb.profile_ovz(view.run.id, current, can_go_back="levels" in view.asks_profile),
    )


def answer_label(question: diagnostics.Question, value: diagnostics.AnswerValue) -> str:
    if value is diagnostics.UNKNOWN:
        return _("Don't know")
    if question.kind == "number" and isinstance(value, int | float):
        return num(value)
    if question.kind == "text":
        return str(value)
    if isinstance(value, int) and 0 <= value < len(question.options):
        option = question.options[value]
        return tr(option.label, option.label_en)
    return str(value)


async def ask_question(step: Step, *, show_hint: bool = False, note: str = "") -> None:
    view = step.view
    question = view.current
    if question is None:  # callers check; kept for type checkers
        return
    questionnaire = view.questionnaire
    direction = questionnaire.direction(question.direction)
    lines = [
        header(view),
        _("{number} / {total} · {direction}").format(
            number=view.run.position + 1,
            total=view.total,
            direction=escape(tr(direction.title, direction.title_en)),
        ),
        "",
    ]
    respondent = next(
        (r for r in questionnaire.respondents if r.code == question.respondent), None
    )
    if respondent is not None:
        lines.append(
            _("Answered by: {group}").format(
                group=escape(tr(respondent.title, respondent.title_en))
            )
        )
    lines.append(f"<b>{escape(tr(question.text, question.text_en))}</b>")
    figures = await survey_note(step.session, view, question, step.settings)
    lines += [line for line in (figures, note) if line]
    hint = tr(question.hint, question.hint_en)
    if show_hint and hint:
        lines += ["", "💡 " + escape(hint)]
    if question.kind == "number":
        lines += ["", _("Send the number in reply, e.g. 12 or 7,5.")]
    elif question.kind == "text":
        lines += [
            "",
            _("Send a short answer in reply (up to {max} characters).").format(
                max=MAX_TEXT_ANSWER
            ),
        ]
    current = view.answers.get(question.code)
    if current is not None:
        lines += [
            "",
            _("Current answer: {answer}").format(answer=escape(answer_label(question, current))),
        ]
    labels = (
        [tr(option.label, option.label_en) for option in question.options]
        if question.kind in OPTION_KINDS
        else []
    )
    markup = kb.question(
        view.run.id,
        view.question_ids[question.code],
        labels,
        selected=current if isinstance(current, int) and question.kind in OPTION_KINDS else None,
        side_by_side=question.kind == "yesno"
        or (question.kind == "scale" and kb.fits_side_by_side(labels)),
        allow_unknown=question.allow_unknown,
        unknown_selected=current is diagnostics.UNKNOWN,
        hint=bool(hint) and not show_hint,
    )
    shown = await replies.show(step.event, "\n".join(lines), markup)
    await step.state.set_state(DiagnosticsForm.question)
    await step.state.set_data(
        {"run_id": view.run.id, "message_id": shown.message_id if shown is not None else None}
    )
