"""site revision: one token that changes, in the same transaction, with every change to the rows the
citizen's pages are built from (campaigns, their units, units, questionnaires, settings)

A worker keeps what it built from those rows (a short code's campaign and unit, the settings) under
the token it read, and builds again when the token has changed: a request reads one row instead of
four tables. The token is set by triggers, so every writer counts (the app, the command line, psql):

* SQLite: an ``AFTER INSERT/UPDATE/DELETE`` trigger per table, each an upsert of a new ``random()``;
* PostgreSQL: deferred constraint triggers (they run at commit, so the revision row is locked only for
  the commit's last moment and never in an order that could deadlock two writers), which bump the token
  once per transaction, and a ``TRUNCATE`` trigger per table; a statement trigger marks the transaction
  (``pingyi.site_dirty``, local to it, no lock), so that until it commits its own reads never use a cache.

A missing row (a database emptied by hand) means "nothing cached": the next change writes it again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("campaign", "campaign_unit", "unit", "questionnaire", "setting")

PG_FUNCTION = """
CREATE FUNCTION pingyi_site_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pingyi.site_changed', true) IS DISTINCT FROM 'y' THEN
        PERFORM set_config('pingyi.site_changed', 'y', true);
        INSERT INTO site_revision (id, token) VALUES (1, floor((random() - 0.5) * 9.2e18)::bigint)
        ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END $$
"""
PG_TOUCHED_FUNCTION = """
CREATE FUNCTION pingyi_site_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('pingyi.site_dirty', 'y', true);
    RETURN NULL;
END $$
"""
PG_TRUNCATE_FUNCTION = """
CREATE FUNCTION pingyi_site_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO site_revision (id, token) VALUES (1, floor((random() - 0.5) * 9.2e18)::bigint)
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END $$
"""
SQLITE_BUMP = ("INSERT INTO site_revision (id, token) VALUES (1, random()) "
               "ON CONFLICT (id) DO UPDATE SET token = excluded.token;")


def upgrade():
    op.create_table(
        'site_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_revision')),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TOUCHED_FUNCTION)
        op.execute(PG_TRUNCATE_FUNCTION)
        for table in TABLES:
            op.execute(f'CREATE TRIGGER site_touched AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                       "FOR EACH STATEMENT EXECUTE FUNCTION pingyi_site_touched()")
            op.execute(f'CREATE CONSTRAINT TRIGGER site_changed AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pingyi_site_changed()")
            op.execute(f'CREATE TRIGGER site_truncated AFTER TRUNCATE ON "{table}" '
                       "FOR EACH STATEMENT EXECUTE FUNCTION pingyi_site_truncated()")
        op.execute("INSERT INTO site_revision (id, token) VALUES (1, floor((random() - 0.5) * 9.2e18)::bigint)")
    else:
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f'CREATE TRIGGER site_changed_{table}_{event.lower()} AFTER {event} ON "{table}" '
                           f"BEGIN {SQLITE_BUMP} END")
        op.execute("INSERT INTO site_revision (id, token) VALUES (1, random())")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f'DROP TRIGGER site_changed ON "{table}"')
            op.execute(f'DROP TRIGGER site_touched ON "{table}"')
            op.execute(f'DROP TRIGGER site_truncated ON "{table}"')
        op.execute("DROP FUNCTION pingyi_site_changed()")
        op.execute("DROP FUNCTION pingyi_site_truncated()")
        op.execute("DROP FUNCTION pingyi_site_touched()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER site_changed_{table}_{event}")
    op.drop_table('site_revision')
