"""The JSON API for the performance-management system: bearer tokens, official results only, JSON errors."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from survey.models import ApiToken, AuditLog
from survey.services.accounts import api_tokens
from survey.services.results import snapshots


@pytest.fixture
def bearer(session, computed):
    """A token, made after ``computed`` so that the period is restored rather than built again."""
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def published(session, computed):
    snapshots.publish(session, computed.snapshot, None)
    session.commit()
    return computed


def test_health_needs_no_token(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic abc", "Bearer pyk_" + "x" * 43,
                                    "Bearer pyk_" + "x" * 200])
def test_no_or_bad_token_is_401_json(client, header, published):
    headers = {"Authorization": header} if header else {}
    for url in ("/api/v1/periods", "/api/v1/snapshots", f"/api/v1/snapshots/{published.snapshot.id}",
                "/api/v1/periods/2026Q4/component", "/api/v1/periods/2026Q4/units/D1"):
        response = client.get(url, headers=headers)
        assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_only_the_hash_is_stored_and_a_revoked_token_stops_working(client, session, bearer, published):
    plaintext = bearer["Authorization"].split()[1]
    token = session.scalar(select(ApiToken))
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest() and plaintext not in str(token.__dict__)
    assert client.get("/api/v1/periods", headers=bearer).status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiToken)).last_used_at is not None
    api_tokens.revoke(session, None, session.scalar(select(ApiToken)))
    session.commit()
    assert client.get("/api/v1/periods", headers=bearer).status_code == 401
    actions = set(session.scalars(select(AuditLog.action)))
    assert {"api_token.create", "api_token.revoke"} <= actions


def test_component_of_a_period(client, bearer, published):
    body = client.get("/api/v1/periods/2026Q4/component", headers=bearer).get_json()
    assert body["period"] == "2026Q4" and body["snapshots"][0]["id"] == published.snapshot.id
    assert body["snapshots"][0]["status"] == "official" and body["snapshots"][0]["points_max"] == 20.0
    units = {u["unit_code"]: u for u in body["units"]}
    assert set(units) == {"D1", "D2", "D3"}
    stored = {r.unit.code: r for r in published.snapshot.rows}
    d1 = units["D1"]
    assert d1["points"] == stored["D1"].component_points and d1["index"] == stored["D1"].index
    assert d1["index_ci"] == [stored["D1"].index_lo, stored["D1"].index_hi]
    assert d1["satisfied_rate_se"] == stored["D1"].satisfied_rate_se is not None
    assert any(0 < u["satisfied_rate_se"] < 0.5 for u in units.values())
    assert d1["rank"] == stored["D1"].rank and d1["rank_low"] <= d1["rank"] <= d1["rank_high"]
    assert d1["grade"] in ("优秀", "良好", "达标", "诫勉") and d1["grade_code"] in ("excellent", "good", "pass", "warning")
    assert d1["category_code"] == "ZF" and d1["campaign_code"] == published.campaign.short_code
    assert set(d1) >= {"unit_name", "n", "n_eff", "flags", "satisfied_rate", "score_ci", "p_bottom"}


def test_periods_snapshots_and_one_unit(client, bearer, published):
    periods = client.get("/api/v1/periods", headers=bearer).get_json()["periods"]
    entry = next(p for p in periods if p["period"] == "2026Q4")
    assert entry["campaigns"][0]["official_snapshot"] == published.snapshot.id
    listed = client.get(f"/api/v1/snapshots?period=2026Q4&campaign={published.campaign.short_code.lower()}",
                        headers=bearer).get_json()["snapshots"]
    assert [s["id"] for s in listed] == [published.snapshot.id]
    one = client.get(f"/api/v1/snapshots/{published.snapshot.id}", headers=bearer).get_json()
    assert len(one["units"]) == 3 and one["snapshot"]["input_digest"] == published.snapshot.summary["digest"]["survey"]
    unit = client.get("/api/v1/periods/2026Q4/units/D2", headers=bearer).get_json()
    assert unit["unit"]["code"] == "D2" and unit["results"][0]["unit_code"] == "D2"


def test_drafts_are_never_served(client, bearer, computed):
    assert client.get(f"/api/v1/snapshots/{computed.snapshot.id}", headers=bearer).status_code == 404
    assert client.get("/api/v1/periods/2026Q4/component", headers=bearer).status_code == 404
    assert client.get("/api/v1/snapshots", headers=bearer).get_json()["snapshots"] == []


@pytest.mark.parametrize("url, status, error", [
    ("/api/v1/snapshots/999999", 404, "snapshot_not_found"),
    ("/api/v1/snapshots/abc", 404, None),
    ("/api/v1/snapshots?period=2026%20Q4", 400, "bad_period"),
    ("/api/v1/snapshots?campaign=NOPE99", 404, "campaign_not_found"),
    ("/api/v1/snapshots?campaign=a/b", 400, "bad_campaign"),
    ("/api/v1/periods/1999Q1/component", 404, "no_official_results"),
    ("/api/v1/periods/" + "9" * 40 + "/component", 400, "bad_period"),
    ("/api/v1/periods/2026Q4/units/NOPE", 404, "unit_not_found"),
    ("/api/v1/periods/2026Q4/units/%25%25", 400, "bad_unit"),
    ("/api/v1/nothing", 404, None),
    ("/api/v1/snapshots/2147483648", 404, "snapshot_not_found"),  # beyond an INTEGER column
    ("/api/v1/snapshots/99999999999999999999999", 404, "snapshot_not_found"),  # beyond any integer column
    ("/api/v1/periods/%00/component", 400, "bad_period"),
    ("/api/v1/snapshots?campaign=%00", 404, "campaign_not_found"),
    ("/api/v1/periods/2026Q4/units/%E4%B8%AD", 404, "unit_not_found"),
])
def test_bad_inputs_are_clear_json_errors(client, bearer, published, url, status, error):
    response = client.get(url, headers=bearer)
    assert response.status_code == status and response.is_json
    if error:
        assert response.get_json()["error"] == error and response.get_json()["message"]


def test_api_ignores_cookies_and_post(client, auth, published):
    auth.login_as("analyst")
    assert client.get("/api/v1/periods").status_code == 401  # a staff session is not a token
    assert client.post("/api/v1/periods").status_code == 405


def test_times_are_iso_8601_in_the_organisations_zone(client, bearer, published, session):
    """A known UTC instant comes back as the same instant with Beijing's offset (+08:00)."""
    import datetime as dt

    snapshot = published.snapshot
    snapshot.published_at = dt.datetime(2026, 12, 31, 20, 30, tzinfo=dt.UTC)
    session.commit()
    meta = client.get(f"/api/v1/snapshots/{snapshot.id}", headers=bearer).get_json()["snapshot"]
    assert meta["published_at"] == "2027-01-01T04:30:00+08:00"
    assert dt.datetime.fromisoformat(meta["published_at"]) == snapshot.published_at
    assert meta["computed_at"].endswith("+08:00") and meta["data_cutoff"].endswith("+08:00")
    assert meta["corrects"] is None and meta["corrected_by"] is None


def test_a_correction_is_visible_in_the_api(client, bearer, published, session):
    first = published.snapshot
    second = snapshots.compute_snapshot(session, published.campaign, None)
    snapshots.publish(session, second, None, reason="漏计纸质问卷")
    session.commit()
    new = client.get(f"/api/v1/snapshots/{second.id}", headers=bearer).get_json()["snapshot"]
    assert new["corrects"]["id"] == first.id and new["corrects"]["reason"] == "漏计纸质问卷"
    assert new["corrects"]["corrected_at"] == new["published_at"] and new["corrected_by"] is None
    old = client.get(f"/api/v1/snapshots/{first.id}", headers=bearer).get_json()["snapshot"]
    assert old["status"] == "superseded" and old["corrected_by"]["id"] == second.id
    assert old["corrected_by"]["reason"] == "漏计纸质问卷"
    component = client.get("/api/v1/periods/2026Q4/component", headers=bearer).get_json()
    assert [s["id"] for s in component["snapshots"]] == [second.id]
    assert component["snapshots"][0]["corrects"]["reason"] == "漏计纸质问卷"
