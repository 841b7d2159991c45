"""/survey: a coordinator starts a survey of a group, shares its link and QR code, sees results,
closes or extends it and withdraws the link. The new survey's steps travel in the buttons.
"""

from __future__ import annotations

import io
from datetime import timedelta
from html import escape

import segno
from aiogram import Bot
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui import formatting as fmt
from bot.ui import replies
from bot.ui.callbacks import SurveyCard, SurveyManage, SurveyNew, SurveySchool
from bot.ui.markup import Keyboard
from bot.ui.paging import add_pager, clamp
from handlers.surveys.texts import (
    FSM_STATES,
    audience_name,
    form_name,
    group_label,
    result_lines,
    state_label,
)
from models import Role, School, Survey, User
from models import surveys as sv
from models.errors import AccessDenied, InvalidInput, NotFound
from models.invites import invite_link
from models.users import count_visible_schools, school_for, visible_schools

PER_PAGE = 8
CLOSING_DAYS = (3, 7, 14, 30)
EXTEND_DAYS = 7


async def _school(session: AsyncSession, user: User, school_id: int) -> School:
    return await school_for(session, user, school_id)


async def _survey(session: AsyncSession, user: User, survey_id: int) -> Survey:
    survey = await session.get(Survey, survey_id)
    if survey is None:
        raise NotFound()
    await _school(session, user, survey.school_id)
    return survey


async def survey_command(
    message: Message, user: User, session: AsyncSession, settings: Settings
) -> None:
    await sv.purge_closed(session, fmt.today(settings), FSM_STATES)
    if user.role == Role.COORDINATOR:
        if user.school_id is None:
            raise AccessDenied()
        school = await _school(session, user, user.school_id)
        await show_school(message, session, school, settings)
        return
    if await count_visible_schools(session, user) == 1:
        (school,) = await visible_schools(session, user, limit=1)
        await show_school(message, session, school, settings)
        return
    await show_picker(message, session, user, 0)


async def show_picker(
    event: Message | CallbackQuery, session: AsyncSession, user: User, page: int
) -> None:
    total = await count_visible_schools(session, user)
    page = clamp(page, total, PER_PAGE)
    schools = await visible_schools(session, user, offset=page * PER_PAGE, limit=PER_PAGE)
    builder = Keyboard()
    for school in schools:
        builder.button(
            text=fmt.one_line(school.short_name, 40),
            callback_data=SurveySchool(school_id=school.id),
        )
    sizes = [1] * len(schools)
    pager = add_pager(
        builder,
        page=page,
        total=total,
        per_page=PER_PAGE,
        button=lambda n: SurveySchool(school_id=0, page=n),
    )
    if pager:
        sizes.append(pager)
    builder.adjust(*sizes)
    await replies.show(event, _("Anonymous surveys: choose the school."), builder.as_markup())


async def school_pressed(
    query: CallbackQuery,
    callback_data: SurveySchool,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    if callback_data.school_id == 0:
        await show_picker(query, session, user, callback_data.page)
        return
    school = await _school(session, user, callback_data.school_id)
    await show_school(query, session, school, settings)


async def show_school(
    event: Message | CallbackQuery, session: AsyncSession, school: School, settings: Settings
) -> None:
    surveys = await sv.school_surveys(session, school.id)
    lines = [_("<b>Anonymous surveys · {school}</b>").format(school=escape(school.short_name))]
    builder = Keyboard()
    if not surveys:
        lines += [
            "",
            _(
                "No surveys yet. A survey asks pupils, parents or teachers the questions of the "
                "500+ risk profile that they answer, or gives feedback on the project: anyone "
                "with the link answers anonymously."
            ),
        ]
    for survey in surveys:
        label = _("{form} · {group} · {state} · n = {n}").format(
            form=form_name(survey.form),
            group=group_label(survey),
            state=state_label(survey, settings),
            n=survey.responses,
        )
        lines.append("• " + escape(label))
        builder.button(text=fmt.one_line(label, 60), callback_data=SurveyCard(survey_id=survey.id))
    builder.button(text=_("➕ New survey"), callback_data=SurveyNew(school_id=school.id))
    builder.adjust(1)
    await replies.show(event, fmt.fit(lines), builder.as_markup())


# --- a new survey ----------------------------------------------------------------------------


def _grades(mask: int) -> list[int]:
    return [g for g in sv.GRADES if mask & (1 << g)]


async def new_survey(
    query: CallbackQuery,
    callback_data: SurveyNew,
    user: User,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
) -> None:
    data = callback_data
    school = await _school(session, user, data.school_id)
    back = SurveySchool(school_id=school.id)
    builder = Keyboard()
    head = _("<b>New anonymous survey · {school}</b>").format(school=escape(school.short_name))
    if not data.form:
        for form in sv.FORMS:
            builder.button(
                text=form_name(form), callback_data=data.model_copy(update={"form": form})
            )
        builder.button(text=_("← Back"), callback_data=back)
        builder.adjust(1)
        await replies.show(
            query, head + "\n\n" + _("What will the survey ask?"), builder.as_markup()
        )
        return
    if not data.audience or data.audience not in sv.audiences(data.form):
        for audience in sv.audiences(data.form):
            builder.button(
                text=audience_name(audience).capitalize(),
                callback_data=data.model_copy(update={"audience": audience}),
            )
        builder.button(text=_("← Back"), callback_data=data.model_copy(update={"form": ""}))
        builder.adjust(1)
        text = head + "\n" + form_name(data.form) + "\n\n" + _("Who answers it?")
        await replies.show(query, text, builder.as_markup())
        return
    if data.audience == "students" and not data.grades_done:
        for grade in sv.GRADES:
            ticked = bool(data.grades & (1 << grade))
            builder.button(
                text=("✅ " if ticked else "") + str(grade),
                callback_data=data.model_copy(update={"grades": data.grades ^ (1 << grade)}),
            )
        if data.grades:
            builder.button(
                text=_("Next →"), callback_data=data.model_copy(update={"grades_done": True})
            )
        builder.button(text=_("← Back"), callback_data=data.model_copy(update={"audience": ""}))
        builder.adjust(6, 5, 1, 1)
        text = head + "\n\n" + _("Pupils of which grades? Tick them, then press «Next».")
        await replies.show(query, text, builder.as_markup())
        return
    if data.days not in CLOSING_DAYS:
        today = fmt.today(settings)
        for days in CLOSING_DAYS:
            builder.button(
                text=fmt.day(today + timedelta(days=days)),
                callback_data=data.model_copy(update={"days": days}),
            )
        step_back = {"grades_done": False} if data.audience == "students" else {"audience": ""}
        builder.button(text=_("← Back"), callback_data=data.model_copy(update=step_back))
        builder.adjust(2, 2, 1)
        text = head + "\n\n" + _("Answers are taken until the end of which day?")
        await replies.show(query, text, builder.as_markup())
        return
    today = fmt.today(settings)
    created = await sv.create_survey(
        session,
        school=school,
        form=data.form,
        audience=data.audience,
        grades=_grades(data.grades),
        closes_on=today + timedelta(days=data.days),
        today=today,
        created_by=user,
    )
    await show_card(query, session, created.survey, settings)
    await send_link(query, bot, settings, created.survey, created.token)


async def send_link(
    query: CallbackQuery, bot: Bot, settings: Settings, survey: Survey, token: str
) -> None:
    """The deep link as text and as a QR code PNG, to post in a chat or on the school site."""
    username = settings.bot_username or (await bot.me()).username or ""
    link = invite_link(username, token)
    text = _(
        "The survey link ({group}), open until {day}. Send it to the parents' or class chat or "
        "put it on the school site; the QR code below leads to the same place. Anyone with the "
        "link can answer once, anonymously.\n\n{link}"
    ).format(group=escape(group_label(survey)), day=fmt.day(survey.closes_on), link=link)
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=10, border=4)
    chat_id = query.from_user.id
    await bot.send_message(chat_id, text)
    await bot.send_photo(
        chat_id,
        BufferedInputFile(buffer.getvalue(), filename=f"survey-{survey.id}.png"),
        caption=_("QR code of the survey link"),
    )


# --- one survey ------------------------------------------------------------------------------


async def show_card(
    event: Message | CallbackQuery, session: AsyncSession, survey: Survey, settings: Settings
) -> None:
    today = fmt.today(settings)
    lines = [
        _("<b>Anonymous survey: {form}</b>").format(form=escape(form_name(survey.form))),
        _("Who answers: {group}").format(group=escape(group_label(survey))),
        _("Started {day} · {state}").format(
            day=fmt.day(survey.created_on), state=state_label(survey, settings)
        ),
        "",
    ]
    results = await sv.survey_results(
        session, survey, min_responses=settings.survey_min_responses, today=today
    )
    lines += result_lines(results, settings)
    builder = Keyboard()
    if not sv.is_closed(survey, today):
        builder.button(
            text=_("+{days} days").format(days=EXTEND_DAYS),
            callback_data=SurveyManage(survey_id=survey.id, action="extend"),
        )
        builder.button(
            text=_("Close now"), callback_data=SurveyManage(survey_id=survey.id, action="close")
        )
        if not survey.revoked:
            builder.button(
                text=_("Withdraw the link"),
                callback_data=SurveyManage(survey_id=survey.id, action="revoke"),
            )
        builder.button(
            text=_("New link"), callback_data=SurveyManage(survey_id=survey.id, action="new_link")
        )
    builder.button(text=_("← Surveys"), callback_data=SurveySchool(school_id=survey.school_id))
    builder.adjust(2, 2, 1)
    markup: InlineKeyboardMarkup = builder.as_markup()
    await replies.show(event, fmt.fit(lines), markup)


async def card_pressed(
    query: CallbackQuery,
    callback_data: SurveyCard,
    user: User,
    session: AsyncSession,
    settings: Settings,
) -> None:
    survey = await _survey(session, user, callback_data.survey_id)
    await show_card(query, session, survey, settings)


async def manage(
    query: CallbackQuery,
    callback_data: SurveyManage,
    user: User,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
) -> None:
    survey = await _survey(session, user, callback_data.survey_id)
    today = fmt.today(settings)
    action = callback_data.action
    if sv.is_closed(survey, today):
        await query.answer(_("This survey is already closed."), show_alert=True)
        await show_card(query, session, survey, settings)
        return
    if action == "close":
        builder = Keyboard()
        builder.button(
            text=_("Yes, close it"),
            callback_data=SurveyManage(survey_id=survey.id, action="close_yes"),
        )
        builder.button(text=_("← Back"), callback_data=SurveyCard(survey_id=survey.id))
        builder.adjust(1)
        text = _(
            "Close the survey now? Nobody will be able to answer any more, and this can't be "
            "undone: the record of who has already answered is destroyed."
        )
        await replies.show(query, text, builder.as_markup())
        return
    token = None
    if action == "close_yes":
        await sv.close_survey(session, survey, today, FSM_STATES)
    elif action == "extend":
        try:
            sv.extend(survey, EXTEND_DAYS, today)
        except InvalidInput:
            await query.answer(_("This survey is already closed."), show_alert=True)
    elif action == "revoke":
        survey.revoked = True
    else:
        token = await sv.new_link(session, survey)
    await session.flush()
    await show_card(query, session, survey, settings)
    if token is not None:
        await send_link(query, bot, settings, survey, token)
