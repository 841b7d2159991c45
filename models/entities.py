"""The whole data model: every table the bot uses, so features add behaviour, not plumbing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TimestampMixin, str_enum, utcnow
from models.enums import EvidenceKind, JobStatus, Mark, Project, ReviewState, Role, RunStatus

curator_schools = Table(
    "curator_schools",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_curator_schools_school_id", "school_id"),
)

invite_schools = Table(
    "invite_schools",
    Base.metadata,
    Column("invite_id", ForeignKey("invites.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True),
)


class Municipality(TimestampMixin, Base):
    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class School(TimestampMixin, Base):
    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("municipality_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    short_name: Mapped[str] = mapped_column(String(100))
    project: Mapped[Project] = mapped_column(str_enum(Project), default=Project.MSH)
    # Profile for self-diagnosis: comma-separated levels (НОО,ООО,СОО) and pupils with ОВЗ.
    levels: Mapped[str | None] = mapped_column(String(20))
    has_ovz: Mapped[bool | None] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    municipality: Mapped[Municipality] = relationship(lazy="raise")


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    locale: Mapped[str | None] = mapped_column(String(8))
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), index=True
    )
    # NULL for a municipal coordinator means every municipality (the ADMIN_IDS of a region).
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    reminders_muted: Mapped[bool] = mapped_column(Boolean, default=False)

    school: Mapped[School | None] = relationship(lazy="raise")
    curated_schools: Mapped[list[School]] = relationship(secondary=curator_schools, lazy="raise")


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only a SHA-256 of the token is kept: a leaked database can't be turned into working links.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    schools: Mapped[list[School]] = relationship(secondary=invite_schools, lazy="raise")


class RoadmapItem(TimestampMixin, Base):
    __tablename__ = "roadmap_items"
    __table_args__ = (Index("ix_roadmap_items_school_due", "school_id", "due_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    section: Mapped[str | None] = mapped_column(Text)
    number: Mapped[str | None] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(String(24))
    expected_result: Mapped[str | None] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(Text)
    external_help: Mapped[str | None] = mapped_column(Text)
    due_raw: Mapped[str | None] = mapped_column(Text)
    due_kind: Mapped[str] = mapped_column(String(16), default="unknown")
    due_start: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    recurrence: Mapped[str | None] = mapped_column(String(16))
    source_row: Mapped[int | None] = mapped_column(Integer)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)


class ActivityReport(TimestampMixin, Base):
    __tablename__ = "activity_reports"
    __table_args__ = (
        Index("ix_activity_reports_school_held", "school_id", "held_on"),
        Index("ix_activity_reports_school_state", "school_id", "review_state"),
        Index("ix_activity_reports_item", "roadmap_item_id"),
        Index("ix_activity_reports_author", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    roadmap_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("roadmap_items.id", ondelete="SET NULL")
    )
    direction: Mapped[str | None] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(Text)
    held_on: Mapped[date] = mapped_column(Date)
    mark: Mapped[Mark] = mapped_column(str_enum(Mark))
    description: Mapped[str | None] = mapped_column(Text)
    participants_count: Mapped[int | None] = mapped_column(Integer)
    participants_category: Mapped[str | None] = mapped_column(Text)
    organizer: Mapped[str | None] = mapped_column(Text)
    review_state: Mapped[ReviewState] = mapped_column(
        str_enum(ReviewState), default=ReviewState.SUBMITTED
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The draft's id: pressing «Отправить» twice, or a retried update, can't store two reports.
    draft_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="report",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="Evidence.id",
    )


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_url", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("activity_reports.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EvidenceKind] = mapped_column(str_enum(EvidenceKind))
    url: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(255))
    file_unique_id: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(127))
    # Over the Bot API's 20 MB getFile limit: kept as a reference the bot can't download.
    too_big: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[ActivityReport] = relationship(back_populates="evidence", lazy="raise")


class Questionnaire(TimestampMixin, Base):
    __tablename__ = "questionnaires"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(24), default="builtin")
    # The full parsed definition, so an old run is always scored against what was asked.
    definition: Mapped[dict[str, Any]]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("questionnaire_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(default=list)
    weight: Mapped[float] = mapped_column(Float, default=1.0)


class DiagnosticRun(TimestampMixin, Base):
    __tablename__ = "diagnostic_runs"
    __table_args__ = (Index("ix_diagnostic_runs_school_done", "school_id", "completed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="RESTRICT")
    )
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus), default=RunStatus.IN_PROGRESS)
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None]
    total_points: Mapped[float | None] = mapped_column(Float)
    max_points: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(24))
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("run_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_runs.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    # {"option": i} | {"number": x} | {"text": s} | {"unknown": true}
    value: Mapped[dict[str, Any]]
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the answer was taken from an anonymous survey of a group (the 500+ profile):
    # the group, n and the day are copied, as the card shows them even if the survey is gone.
    # An answer given by hand clears all four.
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="SET NULL"))
    survey_audience: Mapped[str | None] = mapped_column(String(16))
    survey_n: Mapped[int | None] = mapped_column(Integer)
    survey_on: Mapped[date | None] = mapped_column(Date)


class ExportRun(Base):
    __tablename__ = "export_runs"
    # One row per (chat, period): the unique key is what makes the weekly post exactly-once.
    __table_args__ = (UniqueConstraint("kind", "chat_id", "period_start", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Notification(Base):
    """Outbox for reminders and digests: paced sending that survives restarts without repeats."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "sent_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(BigInteger)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TelegramUpdate(Base):
    """Each update the bot took: received (polling keeps it until handled) and handled once.

    Polling records a batch here before it confirms it to Telegram, so a crash loses nothing:
    rows with a payload and no ``handled_at`` are handled again on start. Every update marks
    its row handled in the same transaction as its own rows, so a redelivery (same
    ``update_id``: a replay, a webhook retry) finds it handled and has no second effect.
    """

    __tablename__ = "telegram_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(index=True)


class FsmRecord(Base):
    """aiogram FSM state and data in the database, so drafts survive a restart without Redis."""

    __tablename__ = "fsm_records"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Survey(Base):
    """An anonymous survey of one group of one school, answered through a deep link.

    Anonymous by construction: no row here or in the two tables below holds a Telegram id, a
    user id of a respondent or a time finer than the day. Answers are only counters.
    """

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_school_closes", "school_id", "closes_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    form: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(16))
    # Pupils' grades the survey is for, comma-separated ("6,9"); None for parents and teachers.
    grades: Mapped[str | None] = mapped_column(String(40))
    # SHA-256 of the link's token, like invites; a new link replaces it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Keys the respondents' one-way digests; set to None when the survey closes.
    salt: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    responses: Mapped[int] = mapped_column(Integer, default=0)
    last_response_on: Mapped[date | None] = mapped_column(Date)


class SurveyRespondent(Base):
    """A keyed digest of a respondent's Telegram id: one response each; deleted at closing."""

    __tablename__ = "survey_respondents"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)


class SurveyCount(Base):
    """How many respondents chose an option: the only trace of an answer."""

    __tablename__ = "survey_counts"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[str] = mapped_column(String(64), primary_key=True)
    option: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
