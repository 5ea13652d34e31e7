"""After-insert hooks come from ``create_app``, not from whichever module happened to be imported.

A new response opens its 差评 case because ``create_app`` registers the cases domain's hook
(``configure_domain_hooks``): importing the code registers nothing, an app built in a process
whose registry is empty still opens the case from a public submission, and building several
apps in one process (as the tests do) registers the hook once.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Case, CaseKind, Response
from survey.services.cases import register_hooks, workflow
from survey.services.responses import submission
from tests.conftest import IsolatedClient, build_app
from tests.public.helpers import filled

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def window(make):
    unit = make.unit(name="不动产登记窗口")
    campaign = make.campaign(units=[unit])
    make.commit()
    return unit, campaign, campaign.campaign_units[0].short_code


def test_importing_every_blueprint_and_the_cases_code_registers_no_hook():
    probe = ("import survey.admin, survey.public, survey.desk, survey.api, survey.cli\n"
             "import survey.services.cases.workflow, survey.services.responses.imports.writer\n"
             "from survey.services.responses import submission\n"
             "assert submission._AFTER_INSERT == [], submission._AFTER_INSERT\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_create_app_registers_case_opening_once_and_a_public_submission_opens_its_bad_rating_case(
        app, session, window, monkeypatch, tmp_path):
    monkeypatch.setattr(submission, "_AFTER_INSERT", [])  # as in a process where nothing registered yet
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    fresh = build_app(url, tmp_path / "fresh")
    again = build_app(url, tmp_path / "again")  # tests build many apps in one process
    assert submission._AFTER_INSERT == [workflow.open_cases_on_submit]
    register_hooks()  # and registering by hand again adds nothing
    assert submission._AFTER_INSERT == [workflow.open_cases_on_submit]

    unit, campaign, code = window
    fresh.test_client_class = IsolatedClient
    phone = fresh.test_client()
    page = phone.get(f"/s/{code}", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 10) MicroMessenger"})
    assert phone.post(f"/s/{code}", data=filled(campaign.questionnaire, page, level="1")).status_code == 303

    session.expire_all()
    response = session.scalars(select(Response)).one()
    cases = session.scalars(select(Case).where(Case.response_id == response.id)).all()
    # one case for the 差评 and the comment beside it (filled() writes one)
    assert [(c.kind.value, c.unit_id) for c in cases] == [(CaseKind.BAD_RATING.value, unit.id)]
    assert cases[0].answer_id is not None
    for built in (fresh, again):
        with built.app_context():
            db.engine.dispose()
