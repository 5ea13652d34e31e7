"""Ids beyond what a column holds: every route with an id in its URL answers 404, never a 500.

PostgreSQL refuses to compare an INTEGER column with 2**31 (and a BIGINT one with 2**63):
such a URL must not reach a query. Walks the app's url_map, so new routes are covered too.
"""
from __future__ import annotations

import pytest

from survey.services.accounts import api_tokens
from tests.factories import csrf_from

BIG = (2**31, 2**63, 10**30)


def _urls(app, big: int) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        ids = [name for name, conv in rule._converters.items() if conv.regex == r"\d+"]
        if not ids:
            continue
        values = {}
        for name, conv in rule._converters.items():
            items = getattr(conv, "items", None)
            values[name] = big if name in ids else (min(items) if items else "x")
        url = app.url_map.bind("localhost").build(rule.endpoint, values)
        found += [(method, url) for method in sorted(rule.methods & {"GET", "POST"})]
    return found


@pytest.mark.parametrize("big", BIG)
def test_ids_too_large_for_any_row_are_not_found(app, client, auth, session, big):
    auth.login_as("admin")
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}  # the API's routes too
    token = csrf_from(client.get("/admin/"))
    urls = _urls(app, big)
    assert len(urls) > 60  # the walk found the id routes
    answers = {(method, url): client.open(url, method=method, headers=headers,
                                          data={"csrf_token": token} if method == "POST" else None)
               for method, url in urls}
    assert {key: r.status_code for key, r in answers.items() if r.status_code != 404} == {}
    api = [r for (_m, url), r in answers.items() if url.startswith("/api/")]
    assert api and all(r.get_json()["error"] == "snapshot_not_found" for r in api)  # in the API's own words


def test_a_bigint_id_beyond_int32_still_reaches_its_view(app, client, auth):
    auth.login_as("analyst")
    assert client.get(f"/admin/cases/{2**31}").status_code == 404  # the view's own "no such case"
    assert client.get(f"/admin/cases/{2**63}").status_code == 404  # no route
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/admin/cases/<bigid:case_id>" in rules and "/admin/responses/<bigid:response_id>/restore" in rules
