"""display conditions: a question shown only when earlier answers call for it, and the answer row
that records a question the respondent was not shown (structurally missing, not 不了解, not skipped)

``question.show_if`` holds the condition as JSON (NULL: always shown); its shape and meaning are
documented in ``survey.services.questionnaires.conditions``. ``answer.not_shown`` marks the one
row stored per (response, question, unit) whose condition did not hold: every value column is NULL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('show_if', sa.JSON(), nullable=True))
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_shown', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    # The not-shown rows carry no value: without the column they would read as skipped answers.
    op.execute("DELETE FROM answer WHERE not_shown")
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_column('not_shown')
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_column('show_if')
