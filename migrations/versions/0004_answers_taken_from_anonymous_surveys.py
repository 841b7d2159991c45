"""answers taken from anonymous surveys: the survey, its group, n and day on the answer

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:47:24.673772
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("survey_audience", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("survey_n", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("survey_on", sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_answers_survey_id_surveys"),
            "surveys",
            ["survey_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_answers_survey_id_surveys"), type_="foreignkey")
        batch_op.drop_column("survey_on")
        batch_op.drop_column("survey_n")
        batch_op.drop_column("survey_audience")
        batch_op.drop_column("survey_id")
