"""领导评价: entered on the page or imported from CSV/xlsx with a preview; nothing written on error."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from survey.models import AuditLog, LeaderRating
from survey.services.results import component, leader_ratings, snapshots
from tests.factories import csrf_from


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(LeaderRating))


def test_entry_page_saves_valid_scores_and_refuses_bad_ones(client, auth, computed, session):
    auth.login_as("analyst")
    a, b, c = computed.units
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url))
    bad = client.post(url, data={"csrf_token": token, f"unit_{a.id}": "88", f"unit_{b.id}": "120",
                                 f"unit_{c.id}": "九十"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "得分应在 0 到 100 之间" in html and "不是数字" in html
    assert _count(session) == 0
    good = client.post(url, data={"csrf_token": token, f"unit_{a.id}": "88", f"unit_{b.id}": "92.5",
                                  f"unit_{c.id}": ""})
    assert good.status_code == 303
    assert {r.unit_id: r.score for r in session.scalars(select(LeaderRating))} == {a.id: 88.0, b.id: 92.5}
    cleared = client.post(url, data={"csrf_token": token, f"unit_{a.id}": "", f"unit_{b.id}": "92.5"})
    assert cleared.status_code == 303 and _count(session) == 1
    entries = list(session.scalars(select(AuditLog).where(AuditLog.action == "results.leader_ratings").order_by(AuditLog.id)))
    assert len(entries) == 2 and entries[-1].detail["changes"] == [{"unit_id": a.id, "before": 88.0, "after": None}]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_import_preview_lists_every_row_error_and_writes_nothing(client, auth, computed, session):
    auth.login_as("analyst")
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url))
    data = _xlsx([["单位代码", "单位名称", "领导评价得分"], ["D1", "第1局", 90], ["D9", "", 80], ["D2", "第二局", 85],
                  ["D1", "第1局", 70], ["D3", "第3局", "x"]])
    shown = client.post(f"{url}/import", data={"csrf_token": token, "file": (io.BytesIO(data), "leaders.xlsx")},
                        content_type="multipart/form-data")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 422
    assert "不在本期的评议活动中" in html and "不一致" in html and "重复" in html and "不是数字" in html
    assert "/import/confirm" not in html and _count(session) == 0


def test_import_confirm_writes_checked_rows_and_refuses_a_forged_token(client, auth, computed, session):
    auth.login_as("analyst")
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url))
    csv_bytes = "\ufeff单位代码,领导评价得分,来源\r\nD1,90,市委考核办\r\nD2,85.5,\r\n".encode("utf-8")
    shown = client.post(f"{url}/import", data={"csrf_token": token, "file": (io.BytesIO(csv_bytes), "l.csv")},
                        content_type="multipart/form-data")
    assert shown.status_code == 200 and _count(session) == 0
    signed = re.search(r'name="token" value="([^"]+)"', shown.get_data(as_text=True)).group(1)
    forged = client.post(f"{url}/import/confirm", data={"csrf_token": token, "token": signed[:-4] + "AAAA"})
    assert forged.status_code == 303 and _count(session) == 0
    other_period = client.post("/admin/results/leader/2026Q3/import/confirm", data={"csrf_token": token,
                                                                                    "token": signed})
    assert other_period.status_code == 303 and _count(session) == 0
    done = client.post(f"{url}/import/confirm", data={"csrf_token": token, "token": signed})
    assert done.status_code == 303
    ratings = {r.unit_id: (r.score, r.source) for r in session.scalars(select(LeaderRating))}
    a, b, _c = computed.units
    assert ratings == {a.id: (90.0, "市委考核办"), b.id: (85.5, "市委考核办")}
    client.get(url)  # shows (and clears) the success message
    again = client.post(f"{url}/import/confirm", data={"csrf_token": token, "token": signed})
    assert again.status_code == 303  # the token confirmed once: a replay is refused
    assert "导入确认已过期或无效" in client.get(url).get_data(as_text=True)


def test_import_of_an_unreadable_file_is_a_message(client, auth, computed):
    auth.login_as("analyst")
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url))
    for payload, message in ((b"", "请选择要导入的文件"), (b"\xd0\xcf\x11\xe0old", ".xls"),
                             ("名称,分数\r\nx,1\r\n".encode(), "表头需要")):
        shown = client.post(f"{url}/import", data={"csrf_token": token, "file": (io.BytesIO(payload), "f.csv")},
                            content_type="multipart/form-data")
        assert shown.status_code == 422 and message in shown.get_data(as_text=True)


def test_leader_ratings_enter_the_component_and_the_snapshot_keeps_them(session, computed):
    a, b, c = computed.units
    component.save(session, computed.campaign, None, {"weights": {"survey": "0.7", "leader": "0.3"}, "points": "20"})
    leader_ratings.save_scores(session, None, "2026Q4", {a.id: "100", b.id: "50", c.id: "80"})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, computed.campaign, None)
    session.commit()
    row = next(r for r in snapshot.rows if r.unit_id == a.id)
    assert row.detail["composite"] == pytest.approx(0.7 * row.index + 0.3 * 100)
    assert row.component_points == pytest.approx(row.detail["composite"] / 100 * 20)
    leader_ratings.save_scores(session, None, "2026Q4", {a.id: "10"})
    session.commit()
    assert snapshots.verify(session, snapshot, None).identical  # the stored ratings, not today's
