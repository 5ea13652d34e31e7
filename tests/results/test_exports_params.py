"""raw.csv (long) + params.json reproduce the published indices and SEs with ``python -m analysis`` to 1e-9."""
from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys

import pytest

from survey.models import Channel
from survey.services.results import exports, snapshots
from survey.services.results.evaluation import stored_params
from tests.results.helpers import add_response, satisfaction_questions


def _recompute(session, snapshot, tmp_path) -> dict[str, dict[str, str]]:
    (tmp_path / "raw-long.csv").write_text("".join(exports.raw_rows(session, snapshot, long=True)), encoding="utf-8")
    (tmp_path / "params.json").write_bytes(exports.params_json(session, snapshot))
    run = subprocess.run([sys.executable, "-m", "analysis", "indices", str(tmp_path / "raw-long.csv"),
                          "--params", str(tmp_path / "params.json")], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return {row["unit"]: row for row in csv.DictReader(io.StringIO(run.stdout))}


def _assert_reproduced(snapshot, out: dict[str, dict[str, str]]) -> None:
    rated = [row for row in snapshot.rows if row.n]
    assert rated and {row.unit.code for row in rated} == set(out)
    for row in rated:
        got = out[row.unit.code]
        assert int(got["n"]) == row.n
        for name, stored in (("index", row.index), ("index_se", row.index_se), ("satisfied_rate", row.satisfied_rate),
                             ("satisfied_rate_se", row.satisfied_rate_se), ("index_ci_low", row.index_lo),
                             ("index_ci_high", row.index_hi)):
            assert stored is not None
            assert float(got[name]) == pytest.approx(stored, rel=1e-9, abs=1e-12), (row.unit.code, name)


def test_service_survey_round_trip(session, computed, tmp_path):
    snapshot = computed.snapshot
    data = json.loads(exports.params_json(session, snapshot))
    assert data["params"] == stored_params(snapshot.params["survey"]["params"]).to_dict()
    assert data["params"]["min_cell_n"] == 5 and data["labels"]["group"][:2] and data["labels"]["question"]
    assert data["scheme"]["thresholds"] == {"excellent": 85.0, "good": 75.0, "pass": 60.0}
    _assert_reproduced(snapshot, _recompute(session, snapshot, tmp_path))


def test_appraisal_round_trip_with_every_setting_away_from_its_default(session, make, tmp_path):
    """万人评议: each respondent rates several units; raking on group and channel, own scores, weights, trimming."""
    units = [make.unit(code=f"A{i}", name=f"评议单位{i}") for i in range(4)]
    campaign = make.campaign(units=units, kind="appraisal", period="2026")
    groups = make.groups()
    codes = sorted(groups)
    question_codes = [q.code for q in satisfaction_questions(campaign)]
    rng = random.Random(7)
    channels = [Channel.WEB, Channel.POSTER, Channel.PHONE]
    for i in range(90):
        rated = rng.sample(units, rng.randint(2, 4))
        ratings = {u: [rng.choice([1, 2, 3, 4, 4, 5, 5, "dk"]) for _q in question_codes] for u in rated}
        add_response(session, campaign, ratings, groups[codes[rng.randrange(len(codes))]], channel=channels[i % 3],
                     flush=False)
    campaign.analysis_settings = {
        "method": "rake", "rake_margins": ["group", "channel"],
        "channel_shares": {"web": 0.5, "poster": 0.3, "phone": 0.2},
        "level_scores": [20, 40, 60, 80, 100], "question_weights": {question_codes[0]: 3, question_codes[-1]: 0.5},
        "trim_k": 2.5, "confidence": 0.9,
    }
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    params = snapshot.params["survey"]["params"]
    assert params["method"] == "rake" and params["scores"][0] == 20.0 and params["trim_k"] == 2.5
    data = json.loads(exports.params_json(session, snapshot))
    assert data["labels"]["channel"] == ["web", "poster", "phone"] or set(data["labels"]["channel"]) >= {"web"}
    out = _recompute(session, snapshot, tmp_path)
    _assert_reproduced(snapshot, out)
    # several units per respondent really happened
    assert sum(row.n for row in snapshot.rows) > 90


def test_params_download(client, auth, computed):
    auth.login_as("analyst")
    reply = client.get(f"/admin/results/snapshots/{computed.snapshot.id}/params.json")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    assert "attachment" in reply.headers["Content-Disposition"]
    assert json.loads(reply.data)["snapshot"]["id"] == computed.snapshot.id
    assert client.get("/admin/results/snapshots/999999/params.json").status_code == 404
