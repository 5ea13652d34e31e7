"""The analyst's results pages and what unit contacts may (not) see."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from survey.models import AuditLog, Campaign, ComponentScheme, Snapshot, SnapshotStatus
from survey.services.results import snapshots
from tests.factories import csrf_from


def test_results_index_lists_campaigns_and_computes_from_the_page(client, auth, computed, session):
    auth.login_as("analyst")
    page = client.get("/admin/results/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and computed.campaign.short_code in html and f"#{computed.snapshot.id}" in html
    posted = client.post(f"/admin/results/campaigns/{computed.campaign.id}/compute",
                         data={"csrf_token": csrf_from(page), "include_flagged": "0"})
    assert posted.status_code == 303
    new_id = int(posted.headers["Location"].rsplit("/", 1)[1])
    assert session.get(Snapshot, new_id).status == SnapshotStatus.DRAFT


def test_league_table_shows_intervals_chart_and_explanations(client, auth, computed):
    auth.login_as("analyst")
    page = client.get(f"/admin/results/snapshots/{computed.snapshot.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and "<title id=" in html and "<desc id=" in html and 'role="img"' in html
    for unit in computed.units:
        assert unit.name in html
    row = next(r for r in computed.snapshot.rows if r.unit_id == computed.units[0].id)
    assert f"{row.index:.1f}" in html and f"{row.index_lo:.1f}–{row.index_hi:.1f}" in html
    assert 'id="explain-index"' in html and 'id="explain-grade"' in html and "诫勉须有充分证据" in html
    assert "style=" not in html and "<script>" not in html and "onclick" not in html


def test_unit_page_explains_its_numbers(client, auth, computed):
    auth.login_as("analyst")
    unit = computed.units[0]
    page = client.get(f"/admin/results/snapshots/{computed.snapshot.id}/units/{unit.id}")
    html = page.get_data(as_text=True)
    row = next(r for r in computed.snapshot.rows if r.unit_id == unit.id)
    assert page.status_code == 200
    assert f"= {row.index:.2f}" in html  # the index as arithmetic
    assert f"{row.component_points:.2f}" in html and "÷ 100 × 20" in html
    assert "窗口服务好" in html  # recent comments
    assert "分题目" in html and "分样本类别" in html and "分渠道" in html
    assert "style=" not in html


def test_publish_public_and_verify_from_the_page(client, auth, computed, session):
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{computed.snapshot.id}"
    token = csrf_from(client.get(url))
    assert client.post(f"{url}/publish", data={"csrf_token": token, "public": "1", "confirm": "1"}).status_code == 303
    assert client.post(f"{url}/verify", data={"csrf_token": token}).status_code == 303
    html = client.get(url).get_data(as_text=True)
    assert "逐位一致" in html
    session.expire_all()
    snapshot = session.get(Snapshot, computed.snapshot.id)
    assert snapshot.status == SnapshotStatus.OFFICIAL and snapshot.public
    public = client.get(f"/results/{snapshot.id}")
    assert public.status_code == 200 and computed.units[0].name in public.get_data(as_text=True)
    assert "窗口服务好" not in public.get_data(as_text=True)  # no raw comments in public
    assert client.post(f"{url}/public", data={"csrf_token": token, "public": "0"}).status_code == 303
    assert client.get(f"/results/{snapshot.id}").status_code == 404


def test_publishing_without_confirming_is_impossible(client, auth, computed, session):
    """The snapshot page only links to the confirmation; a POST without ``confirm=1`` publishes nothing."""
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{computed.snapshot.id}"
    html = client.get(url).get_data(as_text=True)
    assert f'href="{url}/publish"' in html and f'action="{url}/publish"' not in html
    token = csrf_from(client.get(url))
    for data in ({}, {"public": "1"}, {"confirm": "0"}, {"confirm": "yes"}, {"confirm": ""}):
        refused = client.post(f"{url}/publish", data={"csrf_token": token, **data})
        assert refused.status_code == 303 and refused.headers["Location"].endswith(f"{url}/publish")
    session.expire_all()
    snapshot = session.get(Snapshot, computed.snapshot.id)
    assert snapshot.status == SnapshotStatus.DRAFT and snapshot.published_at is None and not snapshot.public
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "results.publish")) == 0
    assert "没有发布" in client.get(f"{url}/publish").get_data(as_text=True)


def test_the_confirmation_page_lists_what_becomes_public_and_every_warning(client, auth, computed, session):
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{computed.snapshot.id}/publish"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2026Q4" in html and computed.campaign.short_code in html
    assert re.search(r"<dt>单位数</dt><dd>3</dd>", html)
    assert "勾选下方“同时向公众公开”后，公众结果页即显示本结果" in html
    assert 'name="confirm" value="1" required' in html and 'name="reason"' not in html  # not a correction
    review = snapshots.review(session, computed.snapshot)
    for warning in review.warnings:  # every warning, with every unit it names
        assert warning.text in html
        for unit in warning.units:
            assert unit in html
    sanctioned = [r for r in computed.snapshot.rows if r.grade == "诫勉"]
    assert bool(sanctioned) == ("诫勉（公开的惩戒性等次）" in html)
    assert "北京时间" in html  # times in the organisation's zone, named
    computed.campaign.public_results = False
    session.commit()
    assert "公众结果页不会显示本结果" in client.get(url).get_data(as_text=True)
    auth.logout()
    auth.login_as("unit", unit=computed.units[0])
    assert client.get(url).status_code == 403


def test_a_correction_needs_a_reason_and_shows_on_the_public_page_and_the_archive(client, auth, computed, session):
    auth.login_as("analyst")
    first = computed.snapshot
    snapshots.publish(session, first, None, public=True)
    session.commit()
    second = snapshots.compute_snapshot(session, computed.campaign, None)
    session.commit()
    url = f"/admin/results/snapshots/{second.id}/publish"
    html = client.get(url).get_data(as_text=True)
    assert f"本活动已有正式结果 #{first.id}" in html and 'name="reason"' in html and "确认更正并发布" in html
    assert 'name="public" value="1" checked' in html  # the corrected result was public: so is the default
    token = csrf_from(client.get(url))
    no_reason = client.post(url, data={"csrf_token": token, "confirm": "1", "public": "1", "reason": " "})
    assert no_reason.status_code == 303 and no_reason.headers["Location"].endswith(url)
    session.expire_all()
    assert session.get(Snapshot, second.id).status == SnapshotStatus.DRAFT
    assert session.get(Snapshot, first.id).status == SnapshotStatus.OFFICIAL
    done = client.post(url, data={"csrf_token": token, "confirm": "1", "public": "1", "reason": "第3局漏计了纸质问卷"})
    assert done.status_code == 303
    session.expire_all()
    old, new = session.get(Snapshot, first.id), session.get(Snapshot, second.id)
    assert old.status == SnapshotStatus.SUPERSEDED and not old.public
    assert new.status == SnapshotStatus.OFFICIAL and new.public and new.corrects_id == old.id
    assert new.correction_reason == "第3局漏计了纸质问卷"
    public = client.get(f"/results/{new.id}").get_data(as_text=True)
    assert "本结果为更正版" in public and "第3局漏计了纸质问卷" in public
    assert client.get(f"/results/{old.id}").status_code == 404
    listing = client.get("/results/").get_data(as_text=True)
    assert "已更正" in listing
    archived = client.get(f"/admin/results/snapshots/{old.id}").get_data(as_text=True)
    assert f"被结果 #{new.id} 更正，原因：第3局漏计了纸质问卷" in archived
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "results.correct"))
    assert entry.object_id == str(new.id) and entry.detail["reason"] == "第3局漏计了纸质问卷"


def test_public_page_only_for_official_public_opted_in(client, computed, session):
    snapshot = computed.snapshot
    assert client.get(f"/results/{snapshot.id}").status_code == 404  # draft
    snapshots.publish(session, snapshot, None)
    session.commit()
    assert client.get(f"/results/{snapshot.id}").status_code == 404  # official, not public
    snapshots.set_public(session, snapshot, None, True)
    session.commit()
    assert client.get(f"/results/{snapshot.id}").status_code == 200
    session.get(Campaign, computed.campaign.id).public_results = False
    session.commit()
    assert client.get(f"/results/{snapshot.id}").status_code == 404  # the campaign withdrew
    assert client.get("/results/999999").status_code == 404
    assert str(snapshot.id) not in client.get("/results/").get_data(as_text=True).split("results/")[-1][:5]


def test_unit_contact_sees_own_official_unit_only(client, auth, computed, session, make):
    mine, other = computed.units[0], computed.units[1]
    window = make.unit(code="W1", name="第1局窗口", parent=mine)
    make.commit()
    auth.login_as("unit", unit=mine)
    sid = computed.snapshot.id
    assert client.get(f"/admin/results/snapshots/{sid}/units/{mine.id}").status_code == 404  # draft: not yet
    snapshots.publish(session, computed.snapshot, None)
    session.commit()
    assert client.get(f"/admin/results/snapshots/{sid}/units/{mine.id}").status_code == 200
    assert client.get(f"/admin/results/snapshots/{sid}/units/{other.id}").status_code == 404
    assert client.get(f"/admin/results/snapshots/{sid}/units/{window.id}").status_code == 404  # no row
    for url in (f"/admin/results/snapshots/{sid}", f"/admin/results/snapshots/{sid}/export.xlsx",
                f"/admin/results/snapshots/{sid}/export.csv", f"/admin/results/snapshots/{sid}/raw.csv",
                f"/admin/results/campaigns/{computed.campaign.id}/settings", "/admin/results/tokens",
                f"/admin/results/leader/{computed.snapshot.period}"):
        assert client.get(url).status_code == 403, url
    index = client.get("/admin/results/").get_data(as_text=True)
    assert mine.name in index and other.name not in index
    token = csrf_from(client.get("/admin/results/"))
    assert client.post(f"/admin/results/snapshots/{sid}/verify", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/admin/results/campaigns/{computed.campaign.id}/compute",
                       data={"csrf_token": token}).status_code == 403


def test_settings_page_refuses_bad_values_and_keeps_the_old_ones(client, auth, computed, session):
    auth.login_as("analyst")
    url = f"/admin/results/campaigns/{computed.campaign.id}/settings"
    token = csrf_from(client.get(url))
    bad = client.post(url, data={"csrf_token": token, "method": "poststratify", "confidence": "abc", "min_n": "2.5",
                                 "score_1": "0", "score_2": "", "min_n_eff": "30", "max_rse": "0.3",
                                 "max_dont_know": "0.5"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "置信水平应为数字" in html and "最少样本量应为整数" in html
    assert "请填写全部五个等级的分值" in html
    session.expire_all()
    assert not session.get(Campaign, computed.campaign.id).analysis_settings
    good = client.post(url, data={"csrf_token": token, "method": "none", "confidence": "0.9", "min_n": "20",
                                  "min_n_eff": "20", "max_rse": "0.3", "max_dont_know": "0.5"})
    assert good.status_code == 303
    session.expire_all()
    assert session.get(Campaign, computed.campaign.id).analysis_settings["confidence"] == 0.9


def test_scheme_page_saves_and_shows_errors(client, auth, computed, session):
    auth.login_as("analyst")
    url = f"/admin/results/campaigns/{computed.campaign.id}/scheme"
    token = csrf_from(client.get(url))
    data = {"csrf_token": token, "weight_survey": "7", "weight_leader": "3", "weight_service": "0", "points": "20",
            "normalisation": "efficacy", "missing": "renormalise", "grading": "quotas", "threshold_excellent": "90",
            "threshold_good": "80", "threshold_pass": "60", "quota_excellent": "0.2", "quota_good": "0.3",
            "quota_warning": "0.1", "rank_level": "0.9", "bottom_k": "1"}
    bad = client.post(url, data={**data, "quota_excellent": "0.9"})
    assert bad.status_code == 422 and "合计不能超过" in bad.get_data(as_text=True)
    assert client.post(url, data=data).status_code == 303
    session.expire_all()
    scheme = session.scalar(select(ComponentScheme).where(ComponentScheme.campaign_id == computed.campaign.id))
    assert scheme.settings["weights"]["leader"] == pytest.approx(0.3) and scheme.settings["grading"] == "quotas"


def test_missing_things_are_404_not_500(client, auth, computed):
    auth.login_as("analyst")
    for url in ("/admin/results/snapshots/999999", "/admin/results/snapshots/999999/units/1",
                f"/admin/results/snapshots/{computed.snapshot.id}/units/999999",
                "/admin/results/campaigns/999999/settings", "/admin/results/campaigns/999999/scheme",
                "/admin/results/leader/1999Q1", "/admin/results/snapshots/999999/export.xlsx",
                "/admin/results/snapshots/2147483648", "/admin/results/snapshots/99999999999999999999999/export.csv",
                f"/admin/results/snapshots/{computed.snapshot.id}/units/99999999999999999999",
                "/admin/results/leader/%00", "/admin/results/leader/" + "9" * 300, "/results/99999999999999999999"):
        assert client.get(url).status_code == 404, url
    token = csrf_from(client.get("/admin/results/"))
    for url in ("/admin/results/leader/%00", "/admin/results/leader/%00/import",
                "/admin/results/leader/%00/import/confirm", "/admin/results/snapshots/2147483648/publish",
                "/admin/results/snapshots/99999999999999999999999/verify", "/admin/results/campaigns/2147483648/compute",
                "/admin/results/tokens/99999999999999999999/revoke"):
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url


def test_compute_error_is_a_message_not_a_500(client, auth, session, make):
    unit = make.unit()
    questionnaire = make.questionnaire(data={"kind": "service", "title": "只有文字题", "questions": [
        {"code": "T1", "type": "text", "text": "意见", "in_index": False, "required": False}]})
    campaign = make.campaign(units=[unit], questionnaire=questionnaire)
    make.commit()
    auth.login_as("analyst")
    page = client.get("/admin/results/")
    posted = client.post(f"/admin/results/campaigns/{campaign.id}/compute", data={"csrf_token": csrf_from(page)},
                         follow_redirects=True)
    assert posted.status_code == 200 and "没有计入指数的满意度题目" in posted.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Snapshot)) == 0
    assert not session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "results.compute"))


def test_tokens_page_shows_the_plaintext_once(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/results/tokens")
    created = client.post("/admin/results/tokens", data={"csrf_token": csrf_from(page), "name": "绩效管理系统"})
    html = created.get_data(as_text=True)
    plaintext = re.search(r'<code class="token">(pyk_[^<]+)</code>', html).group(1)
    again = client.get("/admin/results/tokens").get_data(as_text=True)
    assert plaintext not in again and plaintext[:12] in again
    empty = client.post("/admin/results/tokens", data={"csrf_token": csrf_from(page), "name": " "})
    assert empty.status_code == 422


def test_overlapping_neighbours_are_marked_not_clearly_ordered(client, auth, computed, session):
    from survey.services.results import display

    table = display.league(session, computed.snapshot)[0]
    first, second, third = table.ranked
    # D1 and D2 have the same quality: their intervals overlap; D3 is a whole level below
    assert second.overlaps_above and not third.overlaps_above and not first.overlaps_above
    lo_second = second.detail["score_ci"][0]
    assert third.detail["score_ci"][1] < lo_second
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{computed.snapshot.id}").get_data(as_text=True)
    assert html.count('class="tie-mark"') == 1 and "与上一名无明显差异" in html
    snapshots.publish(session, computed.snapshot, None, public=True)
    session.commit()
    public = client.get(f"/results/{computed.snapshot.id}").get_data(as_text=True)
    assert public.count('class="tie-mark"') == 1


def test_public_page_has_a_phone_layout_of_each_chart(client, computed, session):
    snapshots.publish(session, computed.snapshot, None, public=True)
    session.commit()
    html = client.get(f"/results/{computed.snapshot.id}").get_data(as_text=True)
    wide = re.findall(r'<svg[^>]*class="chart chart-intervals"[^>]*viewBox="0 0 (\d+)', html)
    narrow = re.findall(r'<svg[^>]*class="chart chart-intervals-narrow"[^>]*viewBox="0 0 (\d+)', html)
    assert wide == ["790"] and narrow == ["340"]
    assert html.count("<title id=") == 2 and "style=" not in html
