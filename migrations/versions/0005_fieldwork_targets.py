"""fieldwork targets: per-campaign default and per-unit targets (responses or interval half-width), group quotas

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'fieldwork_target',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_fieldwork_target_campaign_id_campaign'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_fieldwork_target_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fieldwork_target')),
        sa.UniqueConstraint('campaign_id', 'unit_id', name=op.f('uq_fieldwork_target_campaign_id_unit_id')),
    )
    with op.batch_alter_table('fieldwork_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fieldwork_target_campaign_id'), ['campaign_id'], unique=False)
    op.create_table(
        'fieldwork_quota',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('minimum', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_fieldwork_quota_campaign_id_campaign'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['group_id'], ['respondent_group.id'],
                                name=op.f('fk_fieldwork_quota_group_id_respondent_group')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fieldwork_quota')),
        sa.UniqueConstraint('campaign_id', 'group_id', name=op.f('uq_fieldwork_quota_campaign_id_group_id')),
    )
    with op.batch_alter_table('fieldwork_quota', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fieldwork_quota_campaign_id'), ['campaign_id'], unique=False)


def downgrade():
    with op.batch_alter_table('fieldwork_quota', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fieldwork_quota_campaign_id'))
    op.drop_table('fieldwork_quota')
    with op.batch_alter_table('fieldwork_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fieldwork_target_campaign_id'))
    op.drop_table('fieldwork_target')
