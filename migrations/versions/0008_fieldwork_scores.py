"""fieldwork scores and browser filters: the monitor's per-(response, unit) tally of index answers by
level, so that it reads one narrow row per response and unit instead of every answer; a partial
answer index for the response browser's 意见 filter

``response_score`` is derived data: the fieldwork monitor fills it the first time it meets a
response (never the citizen's submit path) and reads it with the level scores and the responses'
statuses of the moment. Emptying it is always safe: the next monitor view rebuilds it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 02:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'response_score',
        sa.Column('id', BigID, nullable=False),
        sa.Column('response_id', BigID, nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('group_id', sa.Integer(), nullable=True),
        sa.Column('first', sa.Boolean(), nullable=False),
        sa.Column('n1', sa.SmallInteger(), nullable=False),
        sa.Column('n2', sa.SmallInteger(), nullable=False),
        sa.Column('n3', sa.SmallInteger(), nullable=False),
        sa.Column('n4', sa.SmallInteger(), nullable=False),
        sa.Column('n5', sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(['response_id'], ['response.id'], name=op.f('fk_response_score_response_id_response'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_response_score_campaign_id_campaign'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_response_score_unit_id_unit')),
        sa.ForeignKeyConstraint(['group_id'], ['respondent_group.id'],
                                name=op.f('fk_response_score_group_id_respondent_group')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_response_score')),
        sa.UniqueConstraint('response_id', 'unit_id', name=op.f('uq_response_score_response_id_unit_id')),
    )
    with op.batch_alter_table('response_score', schema=None) as batch_op:
        batch_op.create_index('ix_response_score_campaign_first', ['campaign_id', 'first', 'response_id'],
                              unique=False)
        batch_op.create_index('ix_response_score_cells', ['campaign_id', 'unit_id', 'group_id', 'n1', 'n2', 'n3',
                                                          'n4', 'n5', 'response_id'], unique=False)


    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.create_index('ix_answer_comment', ['response_id', 'unit_id'], unique=False,
                              postgresql_where=sa.text("text IS NOT NULL AND text <> ''"),
                              sqlite_where=sa.text("text IS NOT NULL AND text <> ''"))


def downgrade():
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_comment')
    with op.batch_alter_table('response_score', schema=None) as batch_op:
        batch_op.drop_index('ix_response_score_cells')
        batch_op.drop_index('ix_response_score_campaign_first')
    op.drop_table('response_score')
