"""desk integrity: the desk device on a desk code; address and device hashes on a response

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('desk_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.String(length=32), nullable=True))
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('device_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_response_address_hash'), ['address_hash'], unique=False)


def downgrade():
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_address_hash'))
        batch_op.drop_column('device_hash')
        batch_op.drop_column('address_hash')
    with op.batch_alter_table('desk_token', schema=None) as batch_op:
        batch_op.drop_column('device_id')
