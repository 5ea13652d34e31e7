"""comment kinds: 投诉 / 建议 / 表扬 on the comment answer and its case; praise has no deadline

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment_kind', sa.String(length=16), nullable=True))
    with op.batch_alter_table('feedback_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment_kind', sa.String(length=16), nullable=True))
        batch_op.alter_column('due_on', existing_type=sa.Date(), nullable=True)


def downgrade():
    # A praise case has no deadline; it gets its opening day back so the column can be NOT NULL again.
    op.execute("UPDATE feedback_case SET due_on = opened_on WHERE due_on IS NULL")
    with op.batch_alter_table('feedback_case', schema=None) as batch_op:
        batch_op.alter_column('due_on', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('comment_kind')
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_column('comment_kind')
