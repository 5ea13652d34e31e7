"""The response browser's 意见 filter reads the partial comment index (migration 0008), for an analyst and
for a unit contact, on both databases: the plan names ix_answer_comment, and the filter still finds
exactly the responses with a non-empty comment (an empty text is no comment)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from survey.extensions import db
from survey.models import Answer
from survey.services.responses import browser
from tests.cases.helpers import respond
from tests.results.helpers import comment_question


def _plan(session, stmt) -> str:
    compiled = stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    return "\n".join(str(row[-1]) for row in session.execute(text(prefix + str(compiled))))


def test_comment_filter_uses_the_partial_index(session, make):
    a = make.unit(name="甲局窗口", code="A01")
    campaign = make.campaign(units=[a], title="窗口评议")
    with_comment = respond(session, campaign, a, levels={"Q1": 4}, comment="排队太久",
                           submitted_on=dt.date(2026, 11, 2), open_cases=False)
    empty = respond(session, campaign, a, levels={"Q1": 4}, submitted_on=dt.date(2026, 11, 3), open_cases=False)
    empty.answers.append(Answer(campaign_id=campaign.id, unit_id=a.id, question_id=comment_question(campaign).id,
                                text=""))
    respond(session, campaign, a, levels={"Q1": 5}, submitted_on=dt.date(2026, 11, 4), open_cases=False)
    session.commit()
    if db.engine.dialect.name == "postgresql":
        session.execute(text("SET enable_seqscan = off"))  # a handful of rows: make the planner show its index
    for user in (make.user("analyst"), make.user("unit", unit=a)):
        f = browser.ResponseFilter(comment=True)
        assert "ix_answer_comment" in _plan(session, browser.filtered(session, user, campaign, f, "Asia/Shanghai"))
        page = browser.search(session, user, campaign, f, "Asia/Shanghai")
        assert [row.response.id for row in page.rows] == [with_comment.id]
