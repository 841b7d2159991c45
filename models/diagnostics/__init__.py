"""Self-diagnosis questionnaires kept as data: loading, validation, scoring, comparison, import.

Pure on purpose: no aiogram, no database, no interface text. Every word a user reads comes from
the questionnaire files in ``models/questionnaires/`` or from the bot's catalogs; problems are
reported as stable codes for the bot to translate.

By concern: ``definitions`` (the runtime objects, answers, errors), ``schema`` (the file format
and its validation), ``loading`` (files, built-ins, the stored JSON form), ``scoring`` (scores
and comparison, with the scoring rules), ``xlsx_import`` (questionnaires from a spreadsheet).
"""

from models.diagnostics.definitions import (
    PROFILE_FIELDS,
    QUESTION_KINDS,
    QUESTIONNAIRE_KINDS,
    SCHOOL_LEVELS,
    UNKNOWN,
    AnswerError,
    AnswerValue,
    AppliesTo,
    Band,
    DiagnosticsError,
    Direction,
    ImportProblem,
    Level,
    Option,
    Problem,
    Profile,
    ProfileField,
    ProfileQuestion,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireError,
    QuestionnaireImportError,
    QuestionnaireKind,
    Respondent,
    Threshold,
    Unknown,
    YesNoLabels,
    answer_from_json,
    answer_to_json,
    check_answer,
)
from models.diagnostics.loading import (
    BUILTIN_DIR,
    builtin_questionnaires,
    load_questionnaire,
    questionnaire_to_dict,
)
from models.diagnostics.schema import parse_questionnaire
from models.diagnostics.scoring import (
    Comparison,
    Deficit,
    DiagnosticResult,
    DirectionScore,
    Score,
    ScoreDelta,
    compare,
    score,
)
from models.diagnostics.xlsx_import import questionnaire_from_xlsx

__all__ = [
    "BUILTIN_DIR",
    "PROFILE_FIELDS",
    "QUESTIONNAIRE_KINDS",
    "QUESTION_KINDS",
    "SCHOOL_LEVELS",
    "UNKNOWN",
    "AnswerError",
    "AnswerValue",
    "AppliesTo",
    "Band",
    "Comparison",
    "Deficit",
    "DiagnosticResult",
    "DiagnosticsError",
    "Direction",
    "DirectionScore",
    "ImportProblem",
    "Level",
    "Option",
    "Problem",
    "Profile",
    "ProfileField",
    "ProfileQuestion",
    "Question",
    "QuestionKind",
    "Questionnaire",
    "QuestionnaireError",
    "QuestionnaireImportError",
    "QuestionnaireKind",
    "Respondent",
    "Score",
    "ScoreDelta",
    "Threshold",
    "Unknown",
    "YesNoLabels",
    "answer_from_json",
    "answer_to_json",
    "builtin_questionnaires",
    "check_answer",
    "compare",
    "load_questionnaire",
    "parse_questionnaire",
    "questionnaire_from_xlsx",
    "questionnaire_to_dict",
    "score",
]
