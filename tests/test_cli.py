"""flask seed-demo and flask create-user."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import (
    Answer,
    Appeal,
    Campaign,
    CampaignStatus,
    Case,
    CaseState,
    Category,
    Channel,
    ComponentScheme,
    FollowUpContact,
    Holiday,
    QuestionnaireKind,
    RespondentGroup,
    Response,
    ResponseStatus,
    Role,
    Unit,
    User,
)
from survey.services.accounts.users import authenticate
from tests.cases.helpers import CN_2026
from tests.factories import PASSWORD


@pytest.mark.slow
def test_seed_demo_builds_a_realistic_city(runner, session, app):
    result = runner.invoke(args=["seed-demo", "--responses", "600"])
    assert result.exit_code == 0, result.output
    assert "演示数据已载入" in result.output

    assert session.scalar(select(func.count()).select_from(Unit)) == 21
    assert session.scalar(select(func.count()).select_from(Category)) == 4
    groups = session.scalars(select(RespondentGroup)).all()
    assert len(groups) == 5 and abs(sum(g.target_share for g in groups) - 1.0) < 1e-9
    assert session.scalar(select(func.count()).select_from(Response)) == 600

    kinds = {c.questionnaire.kind for c in session.scalars(select(Campaign))}
    assert kinds == {QuestionnaireKind.SERVICE, QuestionnaireKind.APPRAISAL}
    assert any(c.accepts_responses() for c in session.scalars(select(Campaign)))
    assert session.scalar(select(func.count()).select_from(Campaign).where(Campaign.status == CampaignStatus.CLOSED)) == 1

    channels = set(session.scalars(select(Response.channel).distinct()))
    assert {Channel.POSTER, Channel.DESK, Channel.WEB, Channel.INVITATION} <= channels
    comments = session.scalar(select(func.count()).select_from(Answer).where(Answer.text.is_not(None)))
    assert comments > 10
    dont_know = session.scalar(select(func.count()).select_from(Answer).where(Answer.dont_know.is_(True)))
    assert dont_know > 0
    # every group answered; appraisal respondents rated several units
    assert session.scalar(select(func.count(func.distinct(Response.respondent_group_id)))) == 5

    # the annual appraisal's 公众评议 scheme is the seed's: 民意调查 70 % (appraisal + window ratings) + 领导评价 30 %
    schemes = [s.settings for s in session.scalars(select(ComponentScheme))]
    blocked = [s for s in schemes if s["weights"].get("leader")]
    assert len(blocked) == 1 and blocked[0]["blocks"] == {"public": 0.7, "leader": 0.3}
    assert blocked[0]["weights"]["survey"] == pytest.approx(0.6) and blocked[0]["weights"]["service"] == pytest.approx(0.1)

    # demo accounts work with the printed passwords, and are written for `make run`
    logins = Path(app.instance_path) / "demo-logins.txt"
    lines = [line.split("\t") for line in logins.read_text(encoding="utf-8").splitlines()]
    assert {line[1] for line in lines} == {"admin", "analyst", "zrj", "window12"}
    for _role, username, password in lines:
        assert f"{username}  密码 {password}" in result.output
        assert authenticate(session, username, password) is not None
    _assert_cases_at_every_stage(session)
    _assert_one_trip_rate_per_unit(session)


def _assert_one_trip_rate_per_unit(session) -> None:
    """The demo's published window-service result has the 一次办成率 (Q6 跑了几次, best option 一次办成) per unit."""
    from survey.models import Snapshot, SnapshotRow, SnapshotStatus

    snapshot = session.scalar(select(Snapshot).where(Snapshot.status == SnapshotStatus.OFFICIAL))
    assert [s["code"] for s in snapshot.params["items"] if s["kind"] == "single"] == ["Q6"]
    rows = session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot.id)).all()
    assert rows
    for row in rows:
        trips = next(it for it in row.detail["items"] if it["code"] == "Q6")
        assert trips["top_option"] == "1" and trips["n"] == row.n
        assert 0.3 < trips["top_share"] < 1 and 0 < trips["top_share_se"] < 0.2


def _assert_cases_at_every_stage(session) -> None:
    """The demo's cases are at every stage (checked on the seed above: one demo per backend is enough)."""
    states = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    assert states.get(CaseState.CLOSED, 0) > 0 and states.get(CaseState.PENDING, 0) > 0
    today = org_today()
    overdue = session.scalar(select(func.count()).select_from(Case).where(
        Case.state != CaseState.CLOSED, Case.due_on < today))
    on_time = session.scalar(select(func.count()).select_from(Case).where(Case.closed_on <= Case.due_on))
    assert overdue > 0 and on_time > 0
    assert session.scalar(select(func.count()).select_from(Holiday)) == len(CN_2026)
    assert {a.state.value for a in session.scalars(select(Appeal))} <= {"pending", "approved", "rejected"}
    excluded = session.scalar(select(func.count()).select_from(Response).where(Response.status == ResponseStatus.EXCLUDED))
    approved = session.scalar(select(func.count()).select_from(Appeal).where(Appeal.state == "approved"))
    assert excluded == approved
    for contact in session.scalars(select(FollowUpContact)):  # numbers are kept only for open cases
        assert session.scalar(select(func.count()).select_from(Case).where(
            Case.response_id == contact.response_id, Case.state != CaseState.CLOSED)) > 0


def test_seed_demo_refuses_non_empty_database_and_if_empty_skips(runner, make):
    make.unit()
    make.commit()
    refused = runner.invoke(args=["seed-demo", "--responses", "10"])
    assert refused.exit_code != 0 and "空数据库" in refused.output
    skipped = runner.invoke(args=["seed-demo", "--if-empty"])
    assert skipped.exit_code == 0 and "跳过" in skipped.output


def test_create_user_reads_password_from_stdin(runner, session):
    result = runner.invoke(args=["create-user", "wang", "--role", "analyst"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.username == "wang"))
    assert user.role == Role.ANALYST
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert authenticate(session, "wang", PASSWORD).id == user.id
    assert authenticate(session, "wang", "wrong password!") is None


def test_create_unit_contact_needs_existing_unit(runner, session, make):
    missing = runner.invoke(args=["create-user", "li", "--role", "unit"], input=PASSWORD + "\n")
    assert missing.exit_code != 0 and "绑定单位" in missing.output
    unknown = runner.invoke(args=["create-user", "li", "--role", "unit", "--unit", "NOPE"], input=PASSWORD + "\n")
    assert unknown.exit_code != 0 and "NOPE" in unknown.output
    unit = make.unit(code="ZRJ")
    make.commit()
    ok = runner.invoke(args=["create-user", "li", "--role", "unit", "--unit", "ZRJ"], input=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert session.scalar(select(User).where(User.username == "li")).unit_id == unit.id


def test_create_user_rejects_weak_password_and_duplicates(runner, session):
    weak = runner.invoke(args=["create-user", "zhao", "--role", "admin"], input="short\n")
    assert weak.exit_code != 0 and "至少" in weak.output
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert runner.invoke(args=["create-user", "zhao", "--role", "admin"], input=PASSWORD + "\n").exit_code == 0
    dup = runner.invoke(args=["create-user", "ZHAO", "--role", "admin"], input=PASSWORD + "\n")
    assert dup.exit_code != 0 and "已存在" in dup.output
