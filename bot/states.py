"""FSM states of every form."""

from aiogram.fsm.state import State, StatesGroup


class AddSchool(StatesGroup):
    municipality = State()
    name = State()
    short_name = State()
    project = State()


class InviteForm(StatesGroup):
    role = State()
    municipality = State()
    schools = State()
