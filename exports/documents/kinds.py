"""The documents the bot writes (issue 20); the values are stable: buttons and the CLI use them."""

from enum import StrEnum


class DocumentKind(StrEnum):
    SCHOOL = "school"  # «Отчёт об участии школы в проекте»
    ACTIVITIES = "activities"  # «Отчёт о проведённых мероприятиях»
    MUNICIPAL = "municipal"  # «Отчёт муниципалитета»
    NOTE = "note"  # «Аналитическая справка»
