"""Cross-tabs of choice questions by group and channel (breakdowns format 2): the weighted share of each
option per group with its linearised SE (checked by hand on an unweighted unit, where it is svyratio's),
stored with the snapshot, replayed, on the snapshot page and in the xlsx; a format-1 spec replays without."""
from __future__ import annotations

import copy
import io
import math

import pytest
from openpyxl import load_workbook

from survey.models import Answer
from survey.services.questionnaires.builtin import WINDOW_SERVICE
from survey.services.results import breakdowns, snapshots
from tests.results.helpers import add_response

TEMPLATE = copy.deepcopy(WINDOW_SERVICE)
TEMPLATE["questions"] += [
    {"code": "Q11", "type": "multiple", "text": "您是通过哪些途径了解办事流程的？", "in_index": False, "required": False,
     "options": [{"code": "x", "label": "网站"}, {"code": "y", "label": "电话"}, {"code": "z", "label": "窗口"}]},
]
# (group, trips option or None, options chosen in Q11)
PEOPLE = ([("SM", "1", ("x",)), ("SM", "1", ("x", "y")), ("SM", "2", ()), ("SM", "3", ("z",)), ("SM", None, ("y",)),
           ("SM", "1", ("x", "z"))] + [("QY", "2", ("y",)), ("QY", "1", ("x",)), ("QY", "2", ("x", "y", "z")),
                                        ("QY", None, ())])


def _ratio(y, x):
    """Share Σy / Σx and its SE with equal weights in one stratum of n rows (svyratio's linearisation)."""
    n, total = len(x), sum(x)
    p = sum(y) / total
    return p, math.sqrt(n / (n - 1) * sum(((a - p * b) / total) ** 2 for a, b in zip(y, x, strict=True)))


@pytest.fixture
def period(session, make, built_once):
    """One window rated by PEOPLE, with the trips and the multiple choice answered, and its snapshot.
    Built once per worker and database, then restored for each test."""
    return built_once("choice crosstab period", lambda: _period(session, make))


def _period(session, make):
    unit = make.unit(code="CK-A", name="不动产登记窗口")
    campaign = make.campaign(units=[unit], questionnaire=make.questionnaire(copy.deepcopy(TEMPLATE)), period="2026Q4")
    campaign.analysis_settings = {"method": "none", "min_n": 2, "min_n_eff": 2}
    groups = make.groups()
    qs = {q.code: q for q in campaign.questionnaire.questions}
    options = {code: {o.code: o for o in qs[code].options} for code in ("Q6", "Q11")}
    for group, trips, chosen in PEOPLE:
        response = add_response(session, campaign, {unit: [4, 5, 3, 4, 5]}, groups[group])
        if trips:
            o = options["Q6"][trips]
            response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q6"].id,
                                           option_id=o.id, number=o.score))
        for code in chosen:
            response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q11"].id,
                                           option_id=options["Q11"][code].id))
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    return campaign, unit, snapshot, groups, qs


def _table(snapshot, code, by="group"):
    return next(t for t in breakdowns.stored(snapshot)["crosstabs"][by] if t["code"] == code)


def _column(table, group):
    return next(c for c in table["columns"] if c.get("id") == group.id)


def test_single_and_multiple_choice_shares_and_ses_by_group(session, period):
    _campaign, _unit, snapshot, groups, _qs = period
    assert breakdowns.stored(snapshot)["format"] == 2 and snapshot.params["breakdowns"] == 2
    single = _table(snapshot, "Q6")
    assert single["kind"] == "single" and single["options"] == ["1", "2", "3"]
    for code in ("SM", "QY"):
        column = _column(single, groups[code])
        inside = [g == code for g, _t, _c in PEOPLE]
        answered = [int(d and t is not None) for d, (_g, t, _c) in zip(inside, PEOPLE, strict=True)]
        assert column["n"] == sum(answered)
        for k, option in enumerate(single["options"]):
            y = [int(d and t == option) for d, (_g, t, _c) in zip(inside, PEOPLE, strict=True)]
            share, se = _ratio(y, answered)
            assert column["share"][k] == pytest.approx(share, rel=1e-12)
            assert column["se"][k] == pytest.approx(se, rel=1e-9)
    multiple = _table(snapshot, "Q11")
    assert multiple["kind"] == "multiple" and multiple["options"] == ["x", "y", "z"]
    column = _column(multiple, groups["SM"])
    inside = [g == "SM" for g, _t, _c in PEOPLE]
    answered = [int(d and bool(c)) for d, (_g, _t, c) in zip(inside, PEOPLE, strict=True)]
    assert column["n"] == 5  # the one who chose nothing did not answer
    for k, option in enumerate("xyz"):
        share, se = _ratio([int(d and option in c) for d, (_g, _t, c) in zip(inside, PEOPLE, strict=True)], answered)
        assert column["share"][k] == pytest.approx(share, rel=1e-12)
        assert column["se"][k] == pytest.approx(se, rel=1e-9)
    assert sum(column["share"]) > 1  # several options each
    assert snapshots.verify(session, snapshot, None).identical


def test_a_format_1_spec_replays_without_choice_crosstabs(session, period):
    from survey.services.results.evaluation import evaluate

    _campaign, _unit, snapshot, _groups, _qs = period
    spec = {**snapshot.params, "breakdowns": 1}
    stored = evaluate(session, spec).summary["breakdowns"]
    assert stored["format"] == 1
    assert [t["code"] for t in stored["crosstabs"]["group"]] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert all("kind" not in t for t in stored["crosstabs"]["group"])


def test_page_and_workbook_show_the_choice_crosstab(client, auth, session, period):
    _campaign, _unit, snapshot, groups, qs = period
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{snapshot.id}"
    html = client.get(url, query_string={"xq": qs["Q11"].id, "xby": "group"}).get_data(as_text=True)
    assert f'<option value="{qs["Q11"].id}" selected>' in html
    assert "网站" in html and "电话" in html and "多选题" in html
    share = _column(_table(snapshot, "Q11"), groups["SM"])["share"][0]
    assert f"{share * 100:.1f}%" in html
    html = client.get(url, query_string={"xq": qs["Q6"].id, "xby": "channel"}).get_data(as_text=True)
    assert "一次办成" in html and "单选题" in html
    from survey.services.results import exports

    book = load_workbook(io.BytesIO(exports.workbook(session, snapshot)))
    rows = [[c.value for c in r] for r in book["交叉表"].iter_rows(min_row=2)]
    q9 = [r for r in rows if r[0] == "Q11" and r[3] == "SM"]
    assert [r[5] for r in q9] == ["x", "y", "z"] and [r[6] for r in q9] == ["网站", "电话", "窗口"]
    assert q9[0][8] == pytest.approx(share, rel=1e-12)


def test_items_and_choice_crosstabs_share_one_read_of_the_answers(session, period, monkeypatch):
    """A snapshot reads the item answers once: the choice cross-tabs take their part of the per-question
    results' records, equal to what loading the choice questions alone gives."""
    import numpy as np

    from survey.services.results import question_results
    from survey.services.results.loading import Cutoff

    campaign, _unit, snapshot, _groups, qs = period
    spec = snapshot.params
    records = question_results.spec_records(session, spec)
    specs, chosen = breakdowns.choice_records(spec, records)
    assert [s["code"] for s in specs] == ["Q6", "Q9", "Q11"]  # the template's 差评 reasons (none here), ours
    alone = question_results.load_records(session, Cutoff.from_dict(spec["survey"]["cutoff"]), specs)
    assert chosen.item.size == 8 + 12  # 8 trips answers; 12 options chosen in Q11
    for name in ("respondent", "unit", "item", "value", "not_shown"):
        np.testing.assert_array_equal(getattr(chosen, name), getattr(alone, name))
    # the template's Q10 and Q8 (text) sit between them among the items: Q11 is item 4 there, 2 among the choices
    assert [s["code"] for s in spec["items"]].index("Q11") == 4
    np.testing.assert_array_equal(chosen.item, np.where(records.item == 4, 2, records.item))

    reads = []
    load = question_results.load_records
    monkeypatch.setattr(question_results, "load_records",
                        lambda *args: reads.append([s["code"] for s in args[2]]) or load(*args))
    again = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    assert reads == [[s["code"] for s in spec["items"]]]  # once, every item
    assert breakdowns.stored(again)["crosstabs"] == breakdowns.stored(snapshot)["crosstabs"]
    assert qs["Q11"].id in {t["question_id"] for t in breakdowns.stored(again)["crosstabs"]["group"]}
