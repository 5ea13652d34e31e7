"""Issue 14 item 5: an imported response's submission id is keyed with the site secret.

Before, it was an unkeyed hash of the campaign id and the 答卷编号 (often a running number), so
anyone could compute it. Responses imported before keep their ids, and a re-import of the same
file still finds them.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from survey.models import Response
from survey.services.responses.imports import common, reader, writer
from tests.test_response_import import SERVICE_HEADERS, count, csv_bytes, good_row, service  # noqa: F401


def _unkeyed(campaign, respondent: str) -> str:
    key = common.respondent_key(respondent)
    return "imp-" + hashlib.sha256(f"pingyi-import\x1f{campaign.id}\x1f{key}".encode()).hexdigest()[:40]


def test_the_id_cannot_be_computed_without_the_secret(app, service):  # noqa: F811
    with app.app_context():
        sid = common.submission_id_for(service, "P001")
        assert sid != _unkeyed(service, "P001") and sid.startswith("imk-") and len(sid) == 44
        assert common.submission_id_for(service, "P001", secret="another site's secret") != sid
        assert common.submission_id_for(service, "P001", secret=app.config["SECRET_KEY"]) == sid
        assert common.submission_id_for(service, "ｐ００１ ") == sid  # the same 答卷编号 after NFKC and case folding


def test_an_import_stores_keyed_ids(session, service):  # noqa: F811
    data = csv_bytes([SERVICE_HEADERS, good_row("P001"), good_row("P002", "W02")])
    checked = reader.preview(session, service, data, "paper")
    assert checked.ok and len(checked.new) == 2
    writer.write(session, service, checked, None)
    stored = set(session.scalars(select(Response.submission_id)))
    assert stored == {common.submission_id_for(service, "P001"), common.submission_id_for(service, "P002")}
    assert _unkeyed(service, "P001") not in stored


def test_responses_imported_before_keep_their_ids_and_are_found_again(session, service):  # noqa: F811
    data = csv_bytes([SERVICE_HEADERS, good_row("P001"), good_row("P002", "W02")])
    writer.write(session, service, reader.preview(session, service, data, "paper"), None)
    # As a version before issue 14 stored them: the unkeyed hash.
    for response in session.scalars(select(Response)):
        key = "P001" if response.submission_id == common.submission_id_for(service, "P001") else "P002"
        response.submission_id = _unkeyed(service, key)
    session.commit()

    again = reader.preview(session, service, csv_bytes([SERVICE_HEADERS, good_row("P001"), good_row("P002", "W02"),
                                                        good_row("P003")]), "paper")
    assert [r.key for r in again.skipped] == ["P001", "P002"] and [r.key for r in again.new] == ["P003"]
    writer.write(session, service, again, None)
    assert count(session, Response) == 3
    assert _unkeyed(service, "P001") in set(session.scalars(select(Response.submission_id)))  # kept as it was


def test_an_earlier_import_naming_other_units_is_still_a_problem(session, service):  # noqa: F811
    writer.write(session, service, reader.preview(session, service, csv_bytes([SERVICE_HEADERS, good_row("P001")]),
                                                  "paper"), None)
    response = session.scalar(select(Response))
    response.submission_id = _unkeyed(service, "P001")
    session.commit()
    clash = reader.preview(session, service, csv_bytes([SERVICE_HEADERS, good_row("P001", "W02")]), "paper")
    assert clash.problems and "已导入过" in clash.problems[0].message
