"""Every setup page is for analysts and admins only: unit contacts get 403 on every route,
GET and POST; anonymous visitors are sent to the login page; desk staff are refused."""
from __future__ import annotations

import re

import pytest

SETUP_MODULES = {
    "survey.admin.setup.units", "survey.admin.setup.categories", "survey.admin.setup.groups", "survey.admin.setup.questionnaires",
    "survey.admin.setup.preview", "survey.admin.setup.campaigns",
}
SAMPLE = {"unit_id": "1", "category_id": "1", "group_id": "1", "questionnaire_id": "1", "question_id": "1",
          "campaign_id": "1", "fmt": "xlsx", "token": "A" * 32}


def setup_routes(app) -> list[tuple[str, str]]:
    """(method, url) for every rule served by a setup module, with sample values for its arguments."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "__module__", "") not in SETUP_MODULES:
            continue
        url = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: SAMPLE[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_the_setup_routes_are_all_found(app):
    routes = setup_routes(app)
    urls = {u for _m, u in routes}
    assert len(routes) >= 30
    for expected in ("/admin/units/", "/admin/units/import", "/admin/groups/", "/admin/questionnaires/",
                     "/admin/campaigns/new-from-template", "/admin/categories/"):
        assert expected in urls


def test_unit_contact_gets_403_on_every_setup_route(app, client, auth, make):
    auth.login_as("unit", unit=make.unit())
    token = _csrf(client)
    for method, url in setup_routes(app):
        data = {"csrf_token": token} if method == "POST" else None
        response = client.open(url, method=method, data=data)
        assert response.status_code == 403, (method, url, response.status_code)


def test_desk_staff_get_403_on_every_setup_route(app, client, auth, make):
    auth.login_as("desk")
    for method, url in setup_routes(app):
        if method == "GET":
            assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_login(app, client):
    for method, url in setup_routes(app):
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], url
        else:  # no session, no CSRF token: refused before anything runs
            assert response.status_code in (302, 400), (url, response.status_code)


@pytest.mark.parametrize("url", ["/admin/units/", "/admin/categories/", "/admin/groups/", "/admin/questionnaires/",
                                 "/admin/campaigns/", "/admin/campaigns/new-from-template", "/admin/units/import"])
def test_analysts_and_admins_may_open_setup(client, auth, url):
    auth.login_as("analyst")
    assert client.get(url).status_code == 200
    auth.logout()
    auth.login_as("admin")
    assert client.get(url).status_code == 200


def test_unit_contacts_do_not_see_setup_links(client, auth, make):
    auth.login_as("unit", unit=make.unit())
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/units/" not in html and "/admin/campaigns/" not in html


def _csrf(client) -> str:
    from tests.factories import csrf_from

    return csrf_from(client.get("/admin/"))
