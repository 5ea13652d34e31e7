"""site revision: the working-day calendar (holiday) joins the watched tables

A new 差评 case's deadline counts working days by the calendar; a worker keeps the calendar under the
site revision token (as it keeps the short codes and the settings, migration 0010), so every change to
``holiday`` must give the token a new value too: the same triggers and functions as 0010.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:00:00

"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLE = "holiday"
SQLITE_BUMP = ("INSERT INTO site_revision (id, token) VALUES (1, random()) "
               "ON CONFLICT (id) DO UPDATE SET token = excluded.token;")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'CREATE TRIGGER site_touched AFTER INSERT OR UPDATE OR DELETE ON "{TABLE}" '
                   "FOR EACH STATEMENT EXECUTE FUNCTION pingyi_site_touched()")
        op.execute(f'CREATE CONSTRAINT TRIGGER site_changed AFTER INSERT OR UPDATE OR DELETE ON "{TABLE}" '
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pingyi_site_changed()")
        op.execute(f'CREATE TRIGGER site_truncated AFTER TRUNCATE ON "{TABLE}" '
                   "FOR EACH STATEMENT EXECUTE FUNCTION pingyi_site_truncated()")
        op.execute("UPDATE site_revision SET token = floor((random() - 0.5) * 9.2e18)::bigint")
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f'CREATE TRIGGER site_changed_{TABLE}_{event.lower()} AFTER {event} ON "{TABLE}" '
                       f"BEGIN {SQLITE_BUMP} END")
        op.execute("UPDATE site_revision SET token = random()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for trigger in ("site_changed", "site_touched", "site_truncated"):
            op.execute(f'DROP TRIGGER {trigger} ON "{TABLE}"')
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER site_changed_{TABLE}_{event}")
