"""``answer_pack``: the loader's packed answers per (response, unit) give the same pairs as the answer scan;
untallied responses are caught up on a connection of their own, or read from the answers when they
cannot be; migration 0009 packs stored responses exactly as the loader does."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from survey.models import Answer, ResponseStatus
from survey.models.fieldwork import AnswerPack
from survey.services.results import loading
from tests.results.helpers import add_response, comment_question, satisfaction_questions


def _load(session, campaign, question_ids=None):
    cutoff = loading.current_cutoff(session, campaign.id, False)
    ids = question_ids or [q.id for q in satisfaction_questions(campaign)]
    return loading.load_pairs(session, cutoff, ids, [comment_question(campaign).id])


def _scan(session, campaign, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(loading, "_own_layout", lambda *_a: None)
        return _load(session, campaign)


def _same(a, b):
    for name in ("response", "unit", "packed", "group", "channel", "comments"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert (a.responses, a.excluded, a.flagged, a.digest()) == (b.responses, b.excluded, b.flagged, b.digest())


def _packs(session, campaign):
    return session.scalar(select(func.count()).select_from(AnswerPack).where(AnswerPack.campaign_id == campaign.id))


def _period(session, make, code):
    """Responses over two units: some rate both, one has not-shown rows, comments, 不了解, a bare one."""
    units = [make.unit(code=f"{code}1"), make.unit(code=f"{code}2")]
    campaign = make.campaign(units=units)
    groups = make.groups()
    questions = satisfaction_questions(campaign)
    rng = np.random.default_rng(11)
    for k in range(30):
        levels = [int(v) for v in rng.integers(1, 6, 5)]
        levels[k % 5] = "dk" if k % 3 else None
        ratings = {units[k % 2]: levels} if k % 4 else {units[0]: levels, units[1]: levels[::-1]}
        response = add_response(session, campaign, ratings, groups["FW" if k % 2 else "SM"],
                                status=ResponseStatus.FLAGGED if k == 7 else ResponseStatus.VALID,
                                comments={units[k % 2]: "排队太久" if k % 5 else ""} if k % 2 else None)
        if k == 9:
            session.add(Answer(response_id=response.id, campaign_id=campaign.id, unit_id=units[1].id,
                               question_id=questions[4].id, not_shown=True))  # levels[4] is None for k = 9
    add_response(session, campaign, {units[0]: [None] * 5}, None)  # nothing to pack
    session.commit()
    return campaign


def test_the_first_load_packs_the_period_and_the_next_reads_the_packs(session, make, monkeypatch):
    campaign = _period(session, make, "TA")
    scanned = _scan(session, campaign, monkeypatch)
    assert _packs(session, campaign) == 0
    first = _load(session, campaign)  # catches up: every response packed, committed on its own connection
    written = _packs(session, campaign)
    assert written >= 31
    session.rollback()  # the packs do not depend on the caller's transaction
    assert _packs(session, campaign) == written
    monkeypatch.setattr(loading, "_write_packs", lambda *a: pytest.fail("nothing left to pack"))
    second = _load(session, campaign)
    _same(first, scanned)
    _same(second, scanned)


def test_responses_missing_from_the_packs_are_caught_up_in_runs(session, make, monkeypatch):
    campaign = _period(session, make, "TB")
    scanned = _scan(session, campaign, monkeypatch)
    _load(session, campaign)
    ids = sorted(set(scanned.response.tolist()))
    gone = ids[3:6] + ids[10:11] + ids[-2:]  # three runs
    session.execute(delete(AnswerPack).where(AnswerPack.response_id.in_(gone)))
    session.commit()
    runs = []
    write = loading._write_packs

    def spy(session_, campaign_id, layout, missing, *rest):
        runs.append(list(missing))
        return write(session_, campaign_id, layout, missing, *rest)

    monkeypatch.setattr(loading, "_write_packs", spy)
    _same(_load(session, campaign), scanned)
    assert runs == [[(ids[3], ids[5]), (ids[10], ids[10]), (ids[-2], ids[-1])]]
    _same(_load(session, campaign), scanned)  # and now read from the packs
    assert len(runs) == 1


def test_a_session_with_uncommitted_writes_reads_the_answers_and_writes_no_pack(session, make, monkeypatch):
    campaign = _period(session, make, "TC")
    scanned = _scan(session, campaign, monkeypatch)
    campaign.title = "未提交"
    session.flush()
    _same(_load(session, campaign), scanned)
    session.rollback()
    assert _packs(session, campaign) == 0


def test_packs_written_meanwhile_by_another_computation_are_left_alone(session, make, monkeypatch):
    campaign = _period(session, make, "TD")
    scanned = _scan(session, campaign, monkeypatch)
    layout = loading._own_layout(session, campaign.id)
    first = int(scanned.response[0])
    session.add(AnswerPack(campaign_id=campaign.id, layout=layout, response_id=first, unit_id=None, packed=0,
                           answered=0, comments=0, group_id=None, channel=0))
    session.commit()
    monkeypatch.setattr(loading, "_untallied", lambda ids, _tallied: [(int(ids.min()), int(ids.max()))])
    _same(_load(session, campaign), scanned)  # the answers are read; the packs stay as they were
    assert _packs(session, campaign) == 1


def test_another_layout_reads_the_answers(session, make, monkeypatch):
    """Question ids in another order (e.g. a pooled campaign's) are not the campaign's packing."""
    campaign = _period(session, make, "TE")
    _load(session, campaign)
    questions = [q.id for q in satisfaction_questions(campaign)]
    monkeypatch.setattr(loading, "_write_packs", lambda *a: pytest.fail("not the campaign's layout"))
    reordered = _load(session, campaign, questions[::-1])
    assert reordered.levels().tolist() == _load(session, campaign).levels()[:, ::-1].tolist()


def test_a_duplicate_answer_is_refused_from_the_packs_too(session, make):
    unit = make.unit(code="TF1")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    response = add_response(session, campaign, {unit: [5, 4, 3, 2, 1]}, groups["FW"])
    session.add(Answer(response_id=response.id, campaign_id=campaign.id, unit_id=unit.id,
                       question_id=satisfaction_questions(campaign)[2].id, level=4))
    session.commit()
    for _ in range(2):  # caught up, then read from the packs
        with pytest.raises(loading.DataError, match="answered twice"):
            _load(session, campaign)
    assert _packs(session, campaign) == 1


@pytest.fixture
def empty_database(backend, tmp_path):
    """An empty database of its own (as tests/test_migrations.py's), to migrate up and down."""
    from tests import test_migrations

    yield from test_migrations.empty_database.__wrapped__(backend, tmp_path)


def _pack_rows(db) -> set[tuple]:
    from sqlalchemy import text
    return {tuple(r) for r in db.session.execute(text(
        "SELECT campaign_id, layout, response_id, unit_id, packed, answered, comments, group_id, channel"
        " FROM answer_pack"))}


def test_migration_0009_packs_stored_responses_as_the_loader_does(empty_database, tmp_path):
    """A site upgrading with responses stored: the migration's SQL writes exactly the loader's rows."""
    from flask_migrate import downgrade, upgrade

    from survey.extensions import db
    from tests.conftest import build_app
    from tests.factories import Factory

    app = build_app(empty_database, tmp_path / "instance")
    with app.app_context():
        upgrade()
        campaign = _period(db.session, Factory(db.session), "TM")
        pairs = _load(db.session, campaign)
        db.session.commit()
        loaded = _pack_rows(db)
        db.session.close()
        db.engine.dispose()
    assert len(loaded) >= 31 and pairs.size > 0
    with app.app_context():
        downgrade(revision="0008")
        upgrade()
        assert _pack_rows(db) == loaded
        db.session.close()
        db.engine.dispose()


def test_packed_false_reads_the_answers_themselves(session, make, monkeypatch):
    """Verification compares a snapshot with the stored answers, so a changed answer shows even when the
    packs, made before the change, still hold the old level."""
    campaign = _period(session, make, "TG")
    before = _load(session, campaign)  # packs the period
    answer = session.scalar(select(Answer).where(Answer.campaign_id == campaign.id, Answer.level.is_not(None))
                            .order_by(Answer.id).limit(1))
    answer.level = 1 if answer.level != 1 else 5
    session.commit()
    cutoff = loading.current_cutoff(session, campaign.id, False)
    ids = [q.id for q in satisfaction_questions(campaign)]
    assert _load(session, campaign).digest() == before.digest()
    fresh = loading.load_pairs(session, cutoff, ids, [comment_question(campaign).id], packed=False)
    assert fresh.digest() != before.digest()
    _same(fresh, _scan(session, campaign, monkeypatch))


def test_the_fieldwork_monitor_packs_new_responses_as_they_come(session, make, monkeypatch):
    """While fieldwork runs, each monitor view that tallies new responses packs them too: the period's
    computation then has nothing left to pack, and reads the same pairs as the answer scan."""
    from survey.services.campaigns import fieldwork

    campaign = _period(session, make, "TM")
    scanned = _scan(session, campaign, monkeypatch)
    assert _packs(session, campaign) == 0
    fieldwork.monitor(session, campaign)
    packed = _packs(session, campaign)
    assert packed >= 31
    assert loading.pack_new(session, campaign.id) is False  # nothing newer
    units = [cu.unit for cu in campaign.campaign_units]
    add_response(session, campaign, {units[0]: [5, 4, 3, 2, 1]}, None, comments={units[0]: "窗口很热情"})
    session.commit()
    fieldwork.monitor(session, campaign)
    assert _packs(session, campaign) == packed + 1
    monkeypatch.setattr(loading, "_write_packs", lambda *a: pytest.fail("nothing left to pack"))
    loaded = _load(session, campaign)
    assert loaded.responses == scanned.responses + 1
    rescanned = _scan(session, campaign, monkeypatch)
    _same(loaded, rescanned)


def test_flask_tally_packs_without_a_monitor_view(app, session, make, monkeypatch):
    """``flask tally`` (from cron while fieldwork runs) tallies and packs what was stored since its last
    run, for every campaign not in draft: the period's computation then packs nothing and reads the same
    pairs as the answer scan. An unknown code is one clear line and a non-zero exit."""
    from survey.models import ResponseScore

    campaign = _period(session, make, "TC")
    draft = make.campaign(status="draft")
    session.commit()
    scanned = _scan(session, campaign, monkeypatch)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["tally"])
    assert first.exit_code == 0, first.output
    assert f"{campaign.short_code}：新统计 31 份答卷，已为计算打包" in first.output
    assert draft.short_code not in first.output
    session.expire_all()
    assert _packs(session, campaign) >= 31
    assert session.scalar(select(func.count()).select_from(ResponseScore).where(
        ResponseScore.campaign_id == campaign.id, ResponseScore.first.is_(True))) == 31
    again = runner.invoke(args=["tally", "--campaign", campaign.short_code.lower()])
    assert again.exit_code == 0 and "新统计" not in again.output and "1 campaigns checked" in again.output
    monkeypatch.setattr(loading, "_write_packs", lambda *a: pytest.fail("nothing left to pack"))
    _same(_load(session, campaign), scanned)
    unknown = runner.invoke(args=["tally", "--campaign", "NOPE99"])
    assert unknown.exit_code == 1 and "没有短码为 NOPE99 的评议活动" in unknown.output
    for draft_code in (draft.short_code, "%%%"):
        assert runner.invoke(args=["tally", "--campaign", draft_code]).exit_code == 1
