"""submit indexes: the burst, address and desk-device checks read an index range, never the table

Each check asks "how many responses with this hash, in this campaign, since T": one composite
index per hash (hash, campaign, time) answers it from a short index range however many
responses are stored. They replace the single-column fingerprint and address-hash indexes
(their leading column), so a response insert maintains one index more than before, not three.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:20:00

"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_response_address_hash'))
        batch_op.create_index('ix_response_fingerprint_recent', ['fingerprint', 'campaign_id', 'submitted_at'],
                              unique=False)
        batch_op.create_index('ix_response_address_recent', ['address_hash', 'campaign_id', 'submitted_at'],
                              unique=False)
        batch_op.create_index('ix_response_device_recent', ['device_hash', 'campaign_id', 'submitted_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_index('ix_response_device_recent')
        batch_op.drop_index('ix_response_address_recent')
        batch_op.drop_index('ix_response_fingerprint_recent')
        batch_op.create_index(batch_op.f('ix_response_address_hash'), ['address_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_response_fingerprint'), ['fingerprint'], unique=False)
