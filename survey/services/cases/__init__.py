"""Comments and 差评 as cases: the handling workflow, finding cases, figures, appeals (申诉复核), the
working-day calendar for deadlines, and batch work (backfill, overdue report, purging contacts)."""
from __future__ import annotations


def register_hooks() -> None:
    """Register what the cases domain does with every new response: open its 意见建议 and 差评 cases.

    Called by ``create_app`` (``configure_domain_hooks``), so opening cases never depends on which
    module happens to be imported first. Idempotent: apps built again in one process (tests) add
    nothing twice.
    """
    from survey.services.cases.workflow import open_cases_on_submit
    from survey.services.responses import submission

    submission.after_insert(open_cases_on_submit)
