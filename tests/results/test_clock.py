"""One clock: every time the site shows or exports is in the organisation's zone (Asia/Shanghai here).

A known UTC instant, 2026-12-31 20:30 UTC, is 2027-01-01 04:30 in Beijing: a different day and year,
so a page that still shows UTC cannot pass by accident.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import select, update

from survey.core import clock
from survey.models import AuditLog, Snapshot
from survey.services.results import exports, snapshots

INSTANT = dt.datetime(2026, 12, 31, 20, 30, tzinfo=dt.UTC)
BEIJING = "2027-01-01 04:30"


def _stamp(session, snapshot: Snapshot) -> None:
    """Give the snapshot known times (created_at and data_cutoff are frozen for the ORM, so bypass it)."""
    session.execute(update(Snapshot).where(Snapshot.id == snapshot.id)
                    .values(created_at=INSTANT, data_cutoff=INSTANT, published_at=INSTANT))
    session.commit()
    session.expire_all()


def test_format_local_and_the_zone_name(app):
    with app.test_request_context():
        assert clock.format_local(INSTANT, "Asia/Shanghai") == BEIJING
        assert clock.format_local(INSTANT, "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", zone=True) == f"{BEIJING}:00（北京时间）"
        assert clock.format_local(INSTANT.replace(tzinfo=None), "Asia/Shanghai") == BEIJING  # naive = stored UTC
        assert clock.format_local(None, "Asia/Shanghai") == ""
        assert clock.format_local(INSTANT, "Europe/Paris", zone=True) == "2026-12-31 21:30（Europe/Paris UTC+01:00）"
        assert clock.iso_local(INSTANT, "Asia/Shanghai") == "2027-01-01T04:30:00+08:00"
        assert app.jinja_env.from_string("{{ t|local_time(zone=True) }}").render(t=INSTANT) == f"{BEIJING}（北京时间）"


def test_the_results_page_shows_beijing_time_and_names_it(client, auth, computed, session):
    snapshots.publish(session, computed.snapshot, None, public=True)
    session.commit()
    _stamp(session, computed.snapshot)
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{computed.snapshot.id}").get_data(as_text=True)
    assert f"计算于 {BEIJING}（北京时间）" in html and f"发布于 {BEIJING}" in html
    assert "2026-12-31 20:30" not in html and "UTC" not in html
    public = client.get(f"/results/{computed.snapshot.id}").get_data(as_text=True)
    assert f"发布于 {BEIJING}（北京时间）" in public and "2026-12-31" not in public


def test_the_parameter_sheet_shows_beijing_time(client, auth, computed, session):
    _stamp(session, computed.snapshot)
    auth.login_as("analyst")
    book = load_workbook(io.BytesIO(client.get(f"/admin/results/snapshots/{computed.snapshot.id}/export.xlsx").data))
    params = {row[0].value: row[1].value for row in book["参数"].iter_rows(min_row=2)}
    assert params["计算时间"] == f"{BEIJING}:00（北京时间）"
    assert params["数据截止"] == f"{BEIJING}:00（北京时间）"
    assert not any("UTC" in str(key) for key in params)


def test_csv_exports_show_beijing_time(client, auth, computed, session):
    """The results CSV has no time column; the audit CSV (where publishing is recorded) shows local time."""
    snapshots.publish(session, computed.snapshot, None)
    session.commit()
    session.execute(update(AuditLog).where(AuditLog.action == "results.publish").values(at=INSTANT))
    session.commit()
    auth.login_as("analyst")
    body = client.get("/admin/audit/export.csv?action=results.publish").data.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(body)) if "results.publish" in r]
    assert rows and rows[0][1] == f"{BEIJING}:00"
    header = next(csv.reader(io.StringIO(exports.unit_csv(session, computed.snapshot).decode("utf-8-sig"))))
    assert not any("时间" in h for h in header)


def test_the_api_shows_the_same_instant_with_beijings_offset(client, computed, session):
    from survey.services.accounts import api_tokens

    snapshots.publish(session, computed.snapshot, None)
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    _stamp(session, computed.snapshot)
    meta = client.get(f"/api/v1/snapshots/{computed.snapshot.id}",
                      headers={"Authorization": f"Bearer {plaintext}"}).get_json()["snapshot"]
    assert meta["published_at"] == meta["computed_at"] == meta["data_cutoff"] == "2027-01-01T04:30:00+08:00"
    assert session.scalar(select(Snapshot.published_at).where(Snapshot.id == computed.snapshot.id)) == INSTANT
