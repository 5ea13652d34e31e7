"""flask cases backfill | overdue | import-calendar | purge-contacts (the demo's cases: tests/test_cli.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import Case, FollowUpContact, Holiday, utcnow
from tests.cases.helpers import CN_2026, cn_2026_csv, respond


def test_backfill_opens_cases_once(runner, make, session):
    unit = make.unit()
    one, two = make.campaign(units=[unit]), make.campaign(units=[unit])
    respond(session, one, unit, levels={"Q1": 1}, comment="老问题", open_cases=False)  # one case: 差评 + its comment
    respond(session, one, unit, levels={"Q1": 4}, comment="希望增加自助机", open_cases=False)
    respond(session, two, unit, levels={"Q2": 2}, open_cases=False)
    unknown = runner.invoke(args=["cases", "backfill", "--campaign", "NOPE99"])
    assert unknown.exit_code != 0 and "NOPE99" in unknown.output
    first = runner.invoke(args=["cases", "backfill", "--campaign", one.short_code.lower()])
    assert first.exit_code == 0 and "新开 2 个处理件（其中差评 1 个）" in first.output
    everything = runner.invoke(args=["cases", "backfill"])
    assert "新开 1 个处理件" in everything.output
    again = runner.invoke(args=["cases", "backfill"])
    assert "新开 0 个处理件" in again.output
    assert session.scalar(select(func.count()).select_from(Case)) == 3


def test_backfill_can_restart_deadlines(runner, make, session):
    unit = make.unit()
    campaign = make.campaign(units=[unit])
    respond(session, campaign, unit, levels={"Q1": 1}, submitted_on=dt.date(2026, 1, 5), open_cases=False)
    runner.invoke(args=["cases", "backfill", "--restart-deadlines"])
    assert session.scalar(select(Case.opened_on)) == org_today()


def test_overdue_report(runner, make, session):
    late_unit, calm_unit = make.unit(code="LATE", name="拖拉局"), make.unit(code="CALM", name="准时局")
    campaign = make.campaign(units=[late_unit, calm_unit])
    respond(session, campaign, late_unit, levels={"Q1": 1}, submitted_on=org_today() - dt.timedelta(days=60))
    respond(session, campaign, calm_unit, levels={"Q1": 1})
    result = runner.invoke(args=["cases", "overdue"])
    assert result.exit_code == 0 and "拖拉局  超期 1 件" in result.output and "准时局" not in result.output


def test_import_calendar_command(runner, session, tmp_path):
    good = tmp_path / "2026.csv"
    good.write_text(cn_2026_csv(), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("2026-10-03,holiday,周六\n", encoding="utf-8")
    refused = runner.invoke(args=["cases", "import-calendar", str(bad)])
    assert refused.exit_code != 0 and "第 1 行" in refused.output
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0
    done = runner.invoke(args=["cases", "import-calendar", str(good), "--replace-year"])
    assert done.exit_code == 0 and f"已导入 {len(CN_2026)} 天" in done.output
    shipped = runner.invoke(args=["cases", "import-calendar", "survey/data/calendar/cn-2026.csv"])
    assert shipped.exit_code == 0, shipped.output
    assert session.scalar(select(func.count()).select_from(Holiday)) == len(CN_2026)


def test_purge_contacts_deletes_only_expired_numbers(runner, make, session):
    unit = make.unit()
    campaign = make.campaign(units=[unit])
    old = respond(session, campaign, unit, levels={"Q1": 1}, phone="13800000001")
    fresh = respond(session, campaign, unit, levels={"Q1": 1}, phone="13800000002")
    session.scalar(select(FollowUpContact).where(FollowUpContact.response_id == old.id)).delete_after = (
        utcnow() - dt.timedelta(days=1))
    session.scalar(select(FollowUpContact).where(FollowUpContact.response_id == fresh.id)).delete_after = (
        utcnow() + dt.timedelta(days=1))
    session.commit()
    result = runner.invoke(args=["cases", "purge-contacts"])
    assert result.exit_code == 0 and "已删除 1 个" in result.output
    assert session.scalars(select(FollowUpContact.phone)).all() == ["13800000002"]
