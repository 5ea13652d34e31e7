"""snapshot corrections: which official snapshot a newer one corrects, and why

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 21:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('correction_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_snapshot_corrects_id_snapshot'), 'snapshot', ['corrects_id'], ['id'])


def downgrade():
    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_snapshot_corrects_id_snapshot'), type_='foreignkey')
        batch_op.drop_column('correction_reason')
        batch_op.drop_column('corrects_id')
