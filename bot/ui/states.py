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


class ReportForm(StatesGroup):
    resume = State()
    activity = State()
    other_direction = State()
    other_title = State()
    mark = State()
    description = State()
    evidence = State()
    summary = State()
    edit_field = State()
    edit_date = State()
    edit_participants = State()
    edit_organizer = State()


class EvidenceForm(StatesGroup):
    collect = State()


class DiagnosticsForm(StatesGroup):
    """Routes messages during a self-diagnosis; the run itself lives in the database."""

    profile_levels = State()
    profile_ovz = State()
    question = State()
    import_file = State()


class ReviewForm(StatesGroup):
    comment = State()
    batch = State()  # the reports listed for «confirm all» are in the form data


class RoadmapImport(StatesGroup):
    """Between the preview of a roadmap file and «Импортировать» / «Отмена»."""

    confirm = State()


class RoadmapItemEdit(StatesGroup):
    """A coordinator typing an activity's deadline or responsible; the item id is in the data."""

    due = State()
    responsible = State()


class SurveyAnswering(StatesGroup):
    """A respondent in the middle of an anonymous survey; the answers are in the form data."""

    question = State()


# Form states that hold a respondent's unfinished answers: closing a survey deletes them.
SURVEY_FSM_STATES: tuple[str, ...] = (str(SurveyAnswering.question.state),)


class DocumentsForm(StatesGroup):
    """/documents after the document is chosen: the period, then the schools."""

    period = State()
    scope = State()
