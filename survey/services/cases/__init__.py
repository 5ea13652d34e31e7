"""Comments and 差评 as cases: the handling workflow, finding cases, figures, appeals (申诉复核), the
working-day calendar for deadlines, and batch work (backfill, overdue report, purging contacts)."""
