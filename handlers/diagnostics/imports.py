"""Questionnaires uploaded as XLSX by coordinators and municipal coordinators."""

from __future__ import annotations

from html import escape
from pathlib import PurePath

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ui.states import DiagnosticsForm
from handlers.diagnostics.shared import chunks, send
from models import User, diagnostics
from models import diagnostic_runs as runs

MAX_XLSX_BYTES = 5 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 30


async def import_start(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(DiagnosticsForm.import_file)
    await state.set_data({})
    await send(
        query,
        _(
            "Send the questionnaire as an .xlsx file: one question per row, with the columns "
            "«Направление», «Вопрос», «Тип», «Варианты» (and, if needed, «Код», «Подсказка», "
            "«Дефицит», «Вес»). Options are written as «нет=0; частично=1; да=2». The caption "
            "(or the file name) becomes the title. /cancel leaves."
        ),
    )


def problem_text(problem: diagnostics.ImportProblem) -> str:
    value = escape(str(problem.params.get("value", "")))
    column = str(problem.params.get("column", ""))
    texts = {
        "header_missing": _("no header row with the column «Вопрос»"),
        "kind_unknown": _("unknown type «{value}»"),
        "options_unparsable": _("cannot read the option «{value}»: write «label=points»"),
        "options_missing": _("the answer options are missing"),
        "options_unexpected": _("a text question takes no options"),
        "options_too_few": _("at least two options are needed"),
        "options_yesno_count": _("a yes/no question needs exactly two options"),
        "label_duplicate": _("two options have the same label"),
        "scale_unordered": _("the points of a scale must go up or down in order"),
        "points_invalid": _("points must not be negative: «{value}»"),
        "band_empty": _("empty number range «{value}»"),
        "bands_overlap": _("the number ranges overlap"),
        "text_empty": _("the question text is empty"),
        "direction_empty": _("the direction is empty"),
        "direction_unknown": _("unknown direction «{value}»"),
        "weight_invalid": _("invalid weight «{value}»"),
        "code_invalid": _("invalid code «{value}»: Latin letters, digits and _ only"),
        "code_duplicate": _("the code «{value}» is used twice"),
        "questions_missing": _("no questions below the header"),
        "file_invalid": _("this is not a readable .xlsx file"),
    }
    columns = {
        "direction": _("the column «Направление» is missing"),
        "text": _("the column «Вопрос» is missing"),
        "kind": _("the column «Тип» is missing"),
        "options": _("the column «Варианты» is missing"),
    }
    if problem.code == "column_missing":
        text = columns.get(column, _("a required column is missing"))
    else:
        text = texts.get(problem.code, _("problem «{code}»")).format(
            value=value, code=escape(problem.code)
        )
    if problem.row > 0:
        return _("Row {row}: {problem}").format(row=problem.row, problem=text)
    return _("File: {problem}").format(problem=text)


async def import_file(
    message: Message, state: FSMContext, user: User, session: AsyncSession, bot: Bot
) -> None:
    document = message.document
    if document is None:  # the filter lets only documents in
        return
    name = document.file_name or ""
    if not name.lower().endswith(".xlsx"):
        await message.answer(_("Please send an .xlsx file (Excel 2007 or newer)."))
        return
    if document.file_size is not None and document.file_size > MAX_XLSX_BYTES:
        await message.answer(
            _("The file is too big: at most {size} MB.").format(size=MAX_XLSX_BYTES // 2**20)
        )
        return
    downloaded = await bot.download(document)
    data = downloaded.read() if downloaded is not None else b""
    title = " ".join((message.caption or PurePath(name).stem).split())[:200]
    if not title:
        title = PurePath(name).stem or "xlsx"
    try:
        row = await runs.import_questionnaire(session, data, title=title, user=user)
    except diagnostics.QuestionnaireImportError as error:
        problems = list(error.problems)
        lines = [_("Nothing was imported. Fix these rows and send the file again:")]
        lines += [problem_text(p) for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(_("… and {count} more.").format(count=len(problems) - MAX_PROBLEMS_SHOWN))
        for part in chunks(lines):
            await message.answer(part)
        return
    await state.clear()
    questionnaire = runs.definition_of(row)
    await message.answer(
        _(
            "Imported «{title}», version {version}: {questions} questions. "
            "It is offered in /diagnostics."
        ).format(
            title=escape(row.title),
            version=escape(row.version),
            questions=len(questionnaire.questions),
        )
    )


async def import_fallback(message: Message) -> None:
    await message.answer(_("Please send the questionnaire as an .xlsx file, or /cancel."))
