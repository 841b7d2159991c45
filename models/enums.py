"""Domain enumerations stored as their string values."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    TEACHER = "teacher"
    COORDINATOR = "coordinator"
    CURATOR = "curator"
    MUNICIPAL = "municipal"


class Project(StrEnum):
    MSH = "msh"  # «Школа Минпросвещения России»
    P500 = "500plus"
    BOTH = "both"


class Mark(StrEnum):
    DONE = "done"
    PARTIAL = "partial"
    NOT_DONE = "not_done"


class ReviewState(StrEnum):
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    RETURNED = "returned"


class EvidenceKind(StrEnum):
    LINK = "link"
    DOCUMENT = "document"
    PHOTO = "photo"


class RunStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Direction(StrEnum):
    """Components of «Школа Минпросвещения России» (domain.md); also used for free activities."""

    KNOWLEDGE = "knowledge"
    UPBRINGING = "upbringing"
    HEALTH = "health"
    CREATIVITY = "creativity"
    CAREER = "career"
    TEACHER = "teacher"
    CLIMATE = "climate"
    ENVIRONMENT = "environment"


# The components' official names, as roadmaps and questionnaires spell them: the export writes
# them; the chat names directions through the catalogs (bot/ui/texts.py, the same words in ru).
DIRECTION_NAMES: Final[Mapping[str, str]] = {
    Direction.KNOWLEDGE: "Знание",
    Direction.UPBRINGING: "Воспитание",
    Direction.HEALTH: "Здоровье",
    Direction.CREATIVITY: "Творчество",
    Direction.CAREER: "Профориентация",
    Direction.TEACHER: "Учитель. Школьная команда",
    Direction.CLIMATE: "Школьный климат",
    Direction.ENVIRONMENT: "Образовательная среда",
}
