"""answer packs: the results loader's per-(response, unit) packed index answers, so that computing a period
reads one narrow row per response and unit instead of grouping every answer row

``answer_pack`` is derived data: the upgrade fills it for every stored response of every campaign with
index questions, set-based (one ``INSERT … SELECT … GROUP BY`` per campaign, written here in SQL: a
migration never imports the app), before its indexes are built. After that the results loader tallies
the responses it meets untallied, on a connection of its own (never the citizen's submit path).
Emptying it is always safe: the next computation reads the answers again and rebuilds it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 05:00:00

"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

MAX_QUESTIONS = 20
BITS = 3
COUNT_SHIFT = 24
DONT_KNOW_CODE = 6
CHANNEL_ORDER = ("web", "poster", "desk", "invitation", "phone", "paper", "imported")  # results.weighting
SEVERAL_UNITS = 100
CHANNEL = ("(CASE r.channel " + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CHANNEL_ORDER))
           + f" ELSE -1 END + CASE WHEN r.unit_id IS NULL THEN {SEVERAL_UNITS} ELSE 0 END)")

# Mirrors survey/services/results/loading.py: load_pairs' grouped answer scan and layout_key.
PACK = """
INSERT INTO answer_pack (campaign_id, layout, response_id, unit_id, packed, answered, comments, group_id, channel)
SELECT a.campaign_id, {layout}, a.response_id, a.unit_id,
       CAST(SUM(CASE a.question_id {positions} ELSE 0 END
                * CASE WHEN a.not_shown IS TRUE THEN 0
                       WHEN a.dont_know IS FALSE AND a.level BETWEEN 1 AND 5 THEN a.level
                       ELSE {dont_know} END) AS BIGINT),
       CAST(SUM(CASE a.question_id {checks} ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN a.question_id IN ({comments}) AND a.text != '' THEN 1 ELSE 0 END) AS BIGINT),
       MIN(r.respondent_group_id), MIN({channel})
FROM answer a JOIN response r ON r.id = a.response_id
WHERE a.campaign_id = :campaign AND a.question_id IN ({wanted}) AND a.unit_id IS NOT NULL
GROUP BY a.campaign_id, a.response_id, a.unit_id
"""
# A response with nothing to pack still gets a row (no unit): every tallied response has one. (Looked up
# in the answers, through their response-id index: the table has no index yet.)
BARE = """
INSERT INTO answer_pack (campaign_id, layout, response_id, unit_id, packed, answered, comments, group_id, channel)
SELECT r.campaign_id, {layout}, r.id, NULL, 0, 0, 0, r.respondent_group_id, {channel} FROM response r
WHERE r.campaign_id = :campaign
  AND NOT EXISTS (SELECT 1 FROM answer a WHERE a.response_id = r.id AND a.campaign_id = r.campaign_id
                  AND a.question_id IN ({wanted}) AND a.unit_id IS NOT NULL)
"""


def layout_key(question_ids, comment_ids):
    text = ",".join(str(int(q)) for q in question_ids) + "|" + ",".join(str(int(q)) for q in sorted(comment_ids))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _fill(bind):
    """Pack every stored response of each campaign whose questionnaire has 1 … 20 index questions."""
    campaigns = bind.execute(sa.text("SELECT id, questionnaire_id FROM campaign ORDER BY id")).all()
    for campaign_id, questionnaire_id in campaigns:
        questions = bind.execute(sa.text(
            "SELECT id, type, in_index, is_comment FROM question WHERE questionnaire_id = :q ORDER BY position"),
            {"q": questionnaire_id}).all()
        index = [q.id for q in questions if q.type == 'satisfaction' and q.in_index]
        if not 0 < len(index) <= MAX_QUESTIONS:
            continue
        comments = [q.id for q in questions if q.type == 'text' and q.is_comment and q.id not in index]
        layout = layout_key(index, comments)
        positions = " ".join(f"WHEN {q} THEN {1 << (BITS * k)}" for k, q in enumerate(index))
        checks = " ".join(f"WHEN {q} THEN {(1 << COUNT_SHIFT) + (1 << k)}" for k, q in enumerate(index))
        bind.execute(sa.text(PACK.format(
            layout=layout, positions=positions, checks=checks, dont_know=DONT_KNOW_CODE, channel=CHANNEL,
            comments=", ".join(str(q) for q in comments) or "-1",
            wanted=", ".join(str(q) for q in index + comments))), {"campaign": campaign_id})
        wanted = ", ".join(str(q) for q in index + comments)
        bind.execute(sa.text(BARE.format(layout=layout, channel=CHANNEL, wanted=wanted)), {"campaign": campaign_id})


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    constraints = [] if postgres else [
        sa.ForeignKeyConstraint(['response_id'], ['response.id'], name=op.f('fk_answer_pack_response_id_response'),
                                ondelete='CASCADE'),
    ]
    op.create_table(
        'answer_pack',
        sa.Column('id', BigID, nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('layout', sa.BigInteger(), nullable=False),
        sa.Column('response_id', BigID, nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('packed', sa.BigInteger(), nullable=False),
        sa.Column('answered', sa.BigInteger(), nullable=False),
        sa.Column('comments', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_pack')),
        *constraints,
    )
    _fill(bind)
    if postgres:  # one validating join after the fill instead of a trigger per row
        op.create_foreign_key(op.f('fk_answer_pack_response_id_response'), 'answer_pack', 'response',
                              ['response_id'], ['id'], ondelete='CASCADE')
    with op.batch_alter_table('answer_pack', schema=None) as batch_op:
        batch_op.create_index('ix_answer_pack_read', ['campaign_id', 'layout', 'response_id', 'unit_id', 'packed',
                                                      'answered', 'comments', 'group_id', 'channel'], unique=False)
        batch_op.create_index('ix_answer_pack_response_id', ['response_id'], unique=False)
    if postgres:
        op.execute('ANALYZE answer_pack')


def downgrade():
    with op.batch_alter_table('answer_pack', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_pack_response_id')
        batch_op.drop_index('ix_answer_pack_read')
    op.drop_table('answer_pack')
