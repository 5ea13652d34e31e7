"""复制: a campaign for the next period (units, questionnaire version, channels, weighting and group
shares, targets; title/period/times confirmed on a form; new short codes; a draft), and a questionnaire
as a new draft with the same questions, options, scores and settings. Both audited; bad input → 422."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from survey.models import (
    AuditLog,
    Campaign,
    CampaignStatus,
    Channel,
    Questionnaire,
    QuestionnaireStatus,
    TargetKind,
)
from survey.services.campaigns import duplicate, fieldwork
from survey.services.questionnaires.editor import as_data
from tests.factories import csrf_from


@pytest.mark.parametrize(("period", "following"), [
    ("2026Q3", "2026Q4"), ("2026Q4", "2027Q1"), ("2026H2", "2027H1"), ("2026H1", "2026H2"),
    ("2026-12", "2027-01"), ("2026-03", "2026-04"), ("2026", "2027"), ("odd", "odd"),
])
def test_next_period(period, following):
    assert duplicate.next_period(period) == following


def test_add_months_keeps_the_last_day():
    moment = dt.datetime(2026, 8, 31, 15, 59, tzinfo=dt.UTC)
    assert duplicate.add_months(moment, 3) == dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC)
    assert duplicate.add_months(moment, 5) == dt.datetime(2027, 1, 31, 15, 59, tzinfo=dt.UTC)


@pytest.fixture
def season(make, session):
    groups = make.groups()
    a, b, gone = make.unit(code="A", name="人社局"), make.unit(code="B", name="医保局"), make.unit(code="G", name="旧窗口")
    campaign = make.campaign(units=[a, b, gone], title="2026Q3 政务服务满意度", period="2026Q3",
                             status=CampaignStatus.CLOSED, channels=[Channel.POSTER.value, Channel.WEB.value],
                             opens_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
                             closes_at=dt.datetime(2026, 9, 30, 10, tzinfo=dt.UTC),
                             analysis_settings={"method": "poststratify", "group_shares": {"QY": 0.5, "SM": 0.5}})
    fieldwork.store_targets(session, campaign, fieldwork.Targets(
        fieldwork.Target(TargetKind.RESPONSES, 30), {b.id: fieldwork.Target(TargetKind.HALF_WIDTH, 5)},
        {groups["QY"].id: 5}))
    gone.active = False
    session.commit()
    return campaign, a, b, gone, groups


def test_duplicate_campaign_through_confirm_form(client, auth, session, season):
    campaign, _a, b, _gone, groups = season
    auth.login_as("analyst")
    url = f"/admin/campaigns/{campaign.id}/duplicate"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="2026Q4"' in html and "2026Q4 政务服务满意度" in html
    bad = client.post(url, data={"csrf_token": csrf_from(page), "title": "", "period": "2026Q9",
                                 "opens_at": "2026-10-01T08:00", "closes_at": "2026-09-01T08:00"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "请填写标题" in text and "考评周期格式" in text and "截止时间必须晚于开始时间" in text
    assert session.scalar(select(Campaign).where(Campaign.id != campaign.id)) is None

    done = client.post(url, data={"csrf_token": csrf_from(page), "title": "2026Q4 政务服务满意度",
                                  "period": "2026q4", "opens_at": "2026-10-01T08:00",
                                  "closes_at": "2026-12-31T18:00"})
    assert done.status_code == 302
    session.expire_all()
    copy = session.scalar(select(Campaign).where(Campaign.id != campaign.id))
    assert done.headers["Location"].endswith(f"/admin/campaigns/{copy.id}")
    assert (copy.title, copy.period, copy.status) == ("2026Q4 政务服务满意度", "2026Q4", CampaignStatus.DRAFT)
    assert copy.questionnaire_id == campaign.questionnaire_id
    assert copy.channels == ["poster", "web"]
    assert copy.analysis_settings["group_shares"] == {"QY": 0.5, "SM": 0.5}
    assert sorted(cu.unit.code for cu in copy.campaign_units) == ["A", "B"]
    old_codes = {cu.short_code for cu in campaign.campaign_units} | {campaign.short_code}
    new_codes = {cu.short_code for cu in copy.campaign_units} | {copy.short_code}
    assert not old_codes & new_codes and len(new_codes) == 3
    targets = fieldwork.load_targets(session, copy)
    assert targets.default == fieldwork.Target(TargetKind.RESPONSES, 30)
    assert targets.units == {b.id: fieldwork.Target(TargetKind.HALF_WIDTH, 5)}
    assert targets.quotas == {groups["QY"].id: 5}
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "campaign.duplicate"))
    assert audit.object_id == str(copy.id) and audit.detail["source_id"] == campaign.id
    assert audit.detail["left_out"] == ["旧窗口"]
    assert "旧窗口" in client.get(f"/admin/campaigns/{copy.id}").get_data(as_text=True)  # the flashed warning


def test_duplicate_campaign_proposal_shifts_times(season):
    campaign = season[0]
    plan = duplicate.proposal(campaign)
    assert plan.period == "2026Q4" and plan.title == "2026Q4 政务服务满意度"
    assert plan.opens_at == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    assert plan.closes_at == dt.datetime(2026, 12, 30, 10, tzinfo=dt.UTC)


def test_unit_contact_cannot_duplicate(client, auth, season):
    campaign, a, *_rest = season
    auth.login_as("unit", unit=a)
    assert client.get(f"/admin/campaigns/{campaign.id}/duplicate").status_code in (403, 404)


def test_duplicate_questionnaire_as_new_draft(client, auth, session, make):
    source = make.questionnaire()
    source.level_scores = [0.0, 40.0, 60.0, 80.0, 100.0]
    session.commit()
    before = as_data(session, source)
    auth.login_as("analyst")
    page = client.get(f"/admin/questionnaires/{source.id}")
    assert "复制为新问卷" in page.get_data(as_text=True)
    done = client.post(f"/admin/questionnaires/{source.id}/duplicate", data={"csrf_token": csrf_from(page)})
    assert done.status_code == 302
    session.expire_all()
    copy = session.scalar(select(Questionnaire).where(Questionnaire.id != source.id))
    assert done.headers["Location"].endswith(f"/admin/questionnaires/{copy.id}")
    assert copy.status == QuestionnaireStatus.DRAFT and copy.version == 1 and copy.family != source.family
    assert copy.title == f"{source.title}（副本）"
    data = as_data(session, copy)
    assert data["questions"] == before["questions"] and data["level_scores"] == [0.0, 40.0, 60.0, 80.0, 100.0]
    assert any(o.get("score") is not None for q in data["questions"] for o in q.get("options", []))
    assert source.status == QuestionnaireStatus.PUBLISHED  # the source is untouched
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "questionnaire.duplicate"))
    assert audit.object_id == str(copy.id) and audit.detail["source_id"] == source.id
