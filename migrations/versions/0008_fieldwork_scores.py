"""fieldwork scores and browser filters: the monitor's per-(response, unit) tally of index answers by
level, so that it reads one narrow row per response and unit instead of every answer; a partial
answer index for the response browser's 意见 filter

``response_score`` is derived data: the upgrade fills it for every stored response, set-based (one
``INSERT … SELECT … GROUP BY`` per campaign, written here in SQL: a migration never imports the app),
before its indexes are built and, on PostgreSQL, before its constraints are added (one validating
join each instead of four foreign-key triggers per row: 1M responses take seconds, not the minute
and a half of filling the indexed table). After that the fieldwork monitor tallies each new response
the first time it meets it (never the citizen's submit path) and reads the tally with the level
scores and the responses' statuses of the moment. Emptying it is always safe: the next monitor view
rebuilds it.

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


# A response's tally rows: one per unit it answered about, its index answers counted by level (不了解
# left out), ``first`` on the lowest unit; without index questions in the questionnaire every answer
# about a unit counts the response. Mirrors survey/services/campaigns/fieldwork.py:_tally.
LEVEL = "SUM(CASE WHEN a.level = {level} AND NOT a.dont_know THEN 1 ELSE 0 END)"
TALLY = """
INSERT INTO response_score (response_id, campaign_id, unit_id, group_id, first, n1, n2, n3, n4, n5)
SELECT a.response_id, a.campaign_id, a.unit_id, r.respondent_group_id,
       row_number() OVER (PARTITION BY a.response_id ORDER BY a.unit_id) = 1, {levels}
FROM answer a JOIN response r ON r.id = a.response_id
WHERE a.campaign_id = :campaign AND a.unit_id IS NOT NULL{index}
GROUP BY a.response_id, a.campaign_id, a.unit_id, r.respondent_group_id
"""
# A response with no answer about a unit still counts once (a row with no unit).
BARE = """
INSERT INTO response_score (response_id, campaign_id, unit_id, group_id, first, n1, n2, n3, n4, n5)
SELECT r.id, r.campaign_id, NULL, r.respondent_group_id, :first, 0, 0, 0, 0, 0
FROM response r WHERE NOT EXISTS (SELECT 1 FROM response_score s WHERE s.response_id = r.id)
"""
FOREIGN_KEYS = [  # (referred table, local column, ON DELETE)
    ('response', 'response_id', 'CASCADE'),
    ('campaign', 'campaign_id', 'CASCADE'),
    ('unit', 'unit_id', None),
    ('respondent_group', 'group_id', None),
]
UNIQUE = ('uq_response_score_response_id_unit_id', ['response_id', 'unit_id'])


def _fill_tally(bind):
    """Tally every stored response, one set-based statement per campaign (index question ids bound)."""
    campaigns = bind.execute(sa.text("SELECT id, questionnaire_id FROM campaign ORDER BY id")).all()
    for campaign_id, questionnaire_id in campaigns:
        qids = [q for (q,) in bind.execute(sa.text(
            "SELECT id FROM question WHERE questionnaire_id = :q AND type = 'satisfaction' AND in_index = :yes"
            " ORDER BY id"), {"q": questionnaire_id, "yes": True})]
        index = f" AND a.question_id IN ({', '.join(str(int(q)) for q in qids)})" if qids else ""
        levels = ", ".join(LEVEL.format(level=level) if qids else "0" for level in range(1, 6))
        bind.execute(sa.text(TALLY.format(levels=levels, index=index)), {"campaign": campaign_id})
    bind.execute(sa.text(BARE), {"first": True})


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    # SQLite cannot add constraints to a table later (batch mode would copy it): there they come with it.
    constraints = [] if postgres else [
        *[sa.ForeignKeyConstraint([column], [f'{table}.id'], name=op.f(f'fk_response_score_{column}_{table}'),
                                  ondelete=ondelete) for table, column, ondelete in FOREIGN_KEYS],
        sa.UniqueConstraint(*UNIQUE[1], name=op.f(UNIQUE[0])),
    ]
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
        sa.PrimaryKeyConstraint('id', name=op.f('pk_response_score')),
        *constraints,
    )
    _fill_tally(bind)
    if postgres:
        for table, column, ondelete in FOREIGN_KEYS:
            op.create_foreign_key(op.f(f'fk_response_score_{column}_{table}'), 'response_score', table,
                                  [column], ['id'], ondelete=ondelete)
        op.create_unique_constraint(op.f(UNIQUE[0]), 'response_score', UNIQUE[1])
    with op.batch_alter_table('response_score', schema=None) as batch_op:
        batch_op.create_index('ix_response_score_campaign_first', ['campaign_id', 'first', 'response_id'],
                              unique=False)
        batch_op.create_index('ix_response_score_cells', ['campaign_id', 'unit_id', 'group_id', 'n1', 'n2', 'n3',
                                                          'n4', 'n5', 'response_id'], unique=False)
    if postgres:
        op.execute('ANALYZE response_score')

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
