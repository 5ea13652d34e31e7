"""The 公众评议 component: sources and weights, points, 功效系数法, grades and ranks that respect uncertainty.

A scheme belongs to the campaign whose index is the 民意调查 source. Rules:

* sources: 民意调查 (this campaign's satisfaction index, required), 领导评价 (leader
  ratings of the period, 0–100) and the 服务对象 (window-service) index: for each unit,
  the ratings of the unit itself and of every unit below it (its windows) in the chosen
  service campaigns, pooled and estimated by the engine as one sample of the unit;
* weights are non-negative with at least one positive; weights that do not sum to 1 are
  normalised (and the page says so). When a unit lacks the leader or window source, the
  remaining weights are renormalised for that unit — or, if the scheme says so, the unit
  gets no score; every such unit is marked;
* composite = Σ wₛ·xₛ / Σ wₛ on the 0–100 scale; its standard error combines the
  sources' SEs (the samples are independent; leader ratings are fixed scores);
* 功效系数法 (optional), within each category: score = 60 + 40·(x − min)/(max − min);
  the score's SE is scaled by 40/(max − min). Points = score / 100 × the component's points;
* ranks are per category, with a rank interval and P(bottom k) from the scores and SEs;
* grades 优秀/良好/达标/诫勉 by score thresholds or by quotas of each category. Because
  诫勉 is a public sanction, it needs clear evidence: by thresholds, the upper end of the
  score's confidence interval must lie below the 达标 line; by quotas, even the unit's
  best plausible rank (its rank interval) must fall within the bottom quota. A unit that
  would be 诫勉 on its point estimate alone is graded 达标 and marked 待定. Any grade whose
  interval crosses a grade boundary is marked 临界.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import efficacy_scores, rank_intervals
from analysis.ci import z_value
from survey.core.audit import record
from survey.core.errors import Collector
from survey.core.labels import LABELS
from survey.models import Campaign, ComponentScheme, User

# The scheme's vocabularies (code → label); the labels are kept with every other in core/labels.py.
SOURCES = LABELS["source"]
GRADES = ("优秀", "良好", "达标", "诫勉")
GRADE_CODES = {"优秀": "excellent", "良好": "good", "达标": "pass", "诫勉": "warning"}
GRADINGS = LABELS["grading"]
NORMALISATIONS = LABELS["normalisation"]
MISSING = LABELS["missing_source"]
#: Reliability flags that make a rank and grade "for reference only" (the unit is still shown, marked).
UNRELIABLE = ("small_n", "small_n_eff", "high_rse", "group_missing", "dont_know_high", "unweighted",
              "singleton_cell")
#: Flags under which a unit has no estimate at all, and so no rank.
NO_ESTIMATE = ("no_responses", "no_answers", "n_lt_2", "rake_not_converged")
DEFAULTS: dict[str, Any] = {
    "weights": {"survey": 1.0, "leader": 0.0, "service": 0.0},
    "service_campaign_ids": [],
    "points": 20.0,
    "normalisation": "none",
    "missing": "renormalise",
    "grading": "thresholds",
    "thresholds": {"excellent": 90.0, "good": 80.0, "pass": 60.0},
    "quotas": {"excellent": 0.2, "good": 0.3, "warning": 0.1},
    "rank_level": 0.90,
    "bottom_k": 1,
}


def scheme_for(session: Session, campaign: Campaign) -> ComponentScheme | None:
    return session.scalar(select(ComponentScheme).where(ComponentScheme.campaign_id == campaign.id))


def current(session: Session, campaign: Campaign) -> dict[str, Any]:
    scheme = scheme_for(session, campaign)
    stored = scheme.settings if scheme else {}
    return {key: stored.get(key, default) for key, default in DEFAULTS.items()}


def _num(value: Any, label: str, low: float, high: float) -> float:
    try:
        number = float(str(value).strip().rstrip("%"))
    except (TypeError, ValueError) as exc:
        raise ValueError(_("%(label)s应为数字。", label=label)) from exc
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(_("%(label)s应在 %(a)s 到 %(b)s 之间。", label=label, a=f"{low:g}", b=f"{high:g}"))
    return number


def validate(session: Session, campaign: Campaign, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Clean a scheme; raises :class:`DomainError` with a message per field."""
    check = Collector()
    weights = _weights(raw, check)
    ids = _service_campaigns(session, campaign, raw, weights, check)
    points = check.take("points", _num, raw.get("points", 20), _("公众评议分值"), 0.01, 1000.0)
    normalisation = _choice(raw, "normalisation", "none", NORMALISATIONS, _("请选择折算方法。"), check)
    missing = _choice(raw, "missing", "renormalise", MISSING, _("请选择缺少来源时的处理方法。"), check)
    grading = _choice(raw, "grading", "thresholds", GRADINGS, _("请选择评定等次的方法。"), check)
    thresholds, quotas = _grade_lines(raw, grading, check)
    rank_level = check.take("rank_level", _num, raw.get("rank_level", 0.9), _("排名区间的置信水平"), 0.5, 0.99)
    bottom_k = check.take("bottom_k", _num, raw.get("bottom_k", 1), _("“末位”的名次数"), 1, 100)
    if bottom_k is not None and bottom_k != int(bottom_k):
        check.add("bottom_k", _("“末位”的名次数应为整数。"))
    check.raise_if_any()
    return {
        "weights": weights, "service_campaign_ids": sorted(set(ids)), "points": points,
        "normalisation": normalisation, "missing": missing, "grading": grading, "thresholds": thresholds,
        "quotas": quotas, "rank_level": rank_level, "bottom_k": int(bottom_k or 1),
    }


def _weights(raw: Mapping[str, Any], check: Collector) -> dict[str, float | None]:
    """Each source's weight, scaled to sum to 1; the survey (民意调查) must weigh something."""
    raw_weights = raw.get("weights") or {}
    weights = {s: check.take(f"weight_{s}", _num, raw_weights.get(s, 0) or 0, str(SOURCES[s]), 0.0, 1000.0)
               for s in SOURCES}
    if all(w is not None for w in weights.values()):
        total = sum(weights.values())
        if not weights["survey"] or weights["survey"] <= 0:
            check.add("weight_survey", _("民意调查的权重应大于 0：公众评议以民意调查为主。"))
        elif total > 0 and abs(total - 1.0) > 1e-9:
            weights = {s: w / total for s, w in weights.items()}
    return weights


def _service_campaigns(session: Session, campaign: Campaign, raw: Mapping[str, Any],
                       weights: Mapping[str, float | None], check: Collector) -> list[int]:
    """The campaigns whose window ratings feed 服务对象评价: existing, not this one, required when it weighs."""
    ids: list[int] = []
    problem = None
    for value in raw.get("service_campaign_ids") or []:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            problem = _("请选择有效的评议活动。")
    found = set(session.scalars(select(Campaign.id).where(Campaign.id.in_(ids)))) if ids else set()
    if set(ids) - found:
        problem = _("所选的评议活动不存在。")
    if campaign.id in ids:
        problem = _("服务对象评价的来源不能是本活动自己。")
    if (weights.get("service") or 0) > 0 and not ids:
        problem = _("服务对象评价有权重时，请选择提供窗口评价的评议活动。")
    if problem:  # the last rule broken is the one named
        check.add("service_campaign_ids", problem)
    return ids


def _choice(raw: Mapping[str, Any], key: str, default: str, allowed: Mapping[str, Any], message: str,
            check: Collector) -> str:
    value = str(raw.get(key) or default)
    if value not in allowed:
        check.add(key, message)
    return value


def _grade_lines(raw: Mapping[str, Any], grading: str,
                 check: Collector) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """The score lines (优秀 > 良好 > 达标) and the quotas (summing to at most 100%) of the two gradings."""
    raw_t = raw.get("thresholds") or {}
    thresholds = {k: check.take(f"threshold_{k}", _num, raw_t.get(k, DEFAULTS["thresholds"][k]), label, 0.0, 100.0)
                  for k, label in (("excellent", _("优秀分数线")), ("good", _("良好分数线")), ("pass", _("达标分数线")))}
    if (grading == "thresholds" and all(v is not None for v in thresholds.values())
            and not thresholds["excellent"] > thresholds["good"] > thresholds["pass"]):
        check.add("thresholds", _("分数线应满足：优秀 > 良好 > 达标。"))
    raw_q = raw.get("quotas") or {}
    quotas = {k: check.take(f"quota_{k}", _num, raw_q.get(k, DEFAULTS["quotas"][k]), label, 0.0, 1.0)
              for k, label in (("excellent", _("优秀比例")), ("good", _("良好比例")), ("warning", _("诫勉比例")))}
    if grading == "quotas" and all(v is not None for v in quotas.values()) and sum(quotas.values()) > 1:
        check.add("quotas", _("优秀、良好、诫勉的比例合计不能超过 100%。"))
    return thresholds, quotas


def save(session: Session, campaign: Campaign, user: User | None, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store the campaign's scheme; audited with before and after."""
    clean = validate(session, campaign, raw)
    scheme = scheme_for(session, campaign)
    before = current(session, campaign) if scheme else None
    if scheme is None:
        scheme = ComponentScheme(campaign_id=campaign.id, settings=clean, updated_by_id=getattr(user, "id", None))
        session.add(scheme)
    elif scheme.settings == clean:
        return clean
    else:
        scheme.settings = clean
        scheme.updated_by_id = getattr(user, "id", None)
    session.flush()
    record(session, user, "results.scheme", scheme, _("修改了“%(t)s”的公众评议折算方案", t=campaign.title),
           campaign_id=campaign.id, before=before, after=clean)
    return clean


# --- computing --------------------------------------------------------------------------------


@dataclass
class UnitInputs:
    """Per unit (arrays in one order): what the component is made of."""

    category: np.ndarray  # category id, -1 for none
    survey: np.ndarray
    survey_se: np.ndarray
    leader: np.ndarray  # NaN when missing
    service: np.ndarray  # NaN when missing
    service_se: np.ndarray
    estimable: np.ndarray  # bool: the survey index exists with an SE
    unreliable: np.ndarray  # bool: a reliability flag


@dataclass
class ComponentResult:
    composite: np.ndarray
    composite_se: np.ndarray
    score: np.ndarray
    score_se: np.ndarray
    score_lo: np.ndarray
    score_hi: np.ndarray
    points: np.ndarray
    rank: np.ndarray
    rank_lo: np.ndarray
    rank_hi: np.ndarray
    expected_rank: np.ndarray
    p_bottom: np.ndarray
    n_ranked: np.ndarray
    grade: list[str | None]
    grade_note: list[str | None]
    sources_used: list[list[str]]


def compute(inputs: UnitInputs, scheme: Mapping[str, Any] | None, confidence: float) -> ComponentResult:
    """Composite, score, points, ranks and grades of every unit; ``scheme`` None ranks the survey index alone."""
    n = inputs.survey.size
    weights = dict(scheme["weights"]) if scheme else {"survey": 1.0, "leader": 0.0, "service": 0.0}
    values = {"survey": inputs.survey, "leader": inputs.leader, "service": inputs.service}
    ses = {"survey": inputs.survey_se, "leader": np.zeros(n), "service": inputs.service_se}
    weighted = [s for s in SOURCES if weights.get(s, 0) > 0]
    numerator, denominator, variance = np.zeros(n), np.zeros(n), np.zeros(n)
    used: list[list[str]] = [[] for _ in range(n)]
    complete = np.ones(n, dtype=bool)
    for source in weighted:
        have = np.isfinite(values[source]) & (np.isfinite(ses[source]) | (source == "leader"))
        complete &= have
        w = weights[source]
        numerator += np.where(have, w * np.nan_to_num(values[source]), 0.0)
        denominator += np.where(have, w, 0.0)
        variance += np.where(have, w**2 * np.nan_to_num(ses[source]) ** 2, 0.0)
        for i in np.flatnonzero(have):
            used[i].append(source)
    ok = inputs.estimable & (denominator > 0)
    if scheme and scheme.get("missing") == "none":
        ok &= complete
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(ok, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
        composite_se = np.where(ok, np.sqrt(variance) / np.where(denominator > 0, denominator, 1.0), np.nan)
    score, score_se = composite.copy(), composite_se.copy()
    categories = np.unique(inputs.category)
    if scheme and scheme.get("normalisation") == "efficacy":
        for category in categories:
            members = (inputs.category == category) & ok
            if not members.any():
                continue
            score[members] = efficacy_scores(composite[members])
            low, high = composite[members].min(), composite[members].max()
            score_se[members] = composite_se[members] * (40.0 / (high - low) if high > low else 0.0)
    z = z_value(confidence)
    score_lo, score_hi = score - z * score_se, score + z * score_se
    points = score / 100.0 * float(scheme["points"]) if scheme else np.full(n, np.nan)

    level = float(scheme["rank_level"]) if scheme else 0.90
    bottom_k = int(scheme["bottom_k"]) if scheme else 1
    rank = {k: np.full(n, np.nan) for k in ("rank", "rank_low", "rank_high", "expected_rank", "p_bottom")}
    n_ranked = np.zeros(n, dtype=np.int64)
    for category in categories:
        members = np.flatnonzero(inputs.category == category)
        ranks = rank_intervals(score[members], score_se[members], level=level, bottom_k=bottom_k)
        for key, values in rank.items():
            values[members] = getattr(ranks, key)
        n_ranked[members] = int(np.isfinite(ranks.rank).sum())
    grade, note = _grades(scheme, score, score_lo, score_hi, rank, n_ranked, inputs.category)
    return ComponentResult(composite, composite_se, score, score_se, score_lo, score_hi, points,
                           rank["rank"], rank["rank_low"], rank["rank_high"], rank["expected_rank"], rank["p_bottom"],
                           n_ranked, grade, note, used)


def _grades(scheme: Mapping[str, Any] | None, score: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            rank: dict[str, np.ndarray], n_ranked: np.ndarray, category: np.ndarray
            ) -> tuple[list[str | None], list[str | None]]:
    n = score.size
    grade: list[str | None] = [None] * n
    note: list[str | None] = [None] * n
    if not scheme or scheme.get("grading") == "none":
        return grade, note
    if scheme["grading"] == "thresholds":
        t = scheme["thresholds"]
        lines = [(t["excellent"], "优秀"), (t["good"], "良好"), (t["pass"], "达标")]
        for i in np.flatnonzero(np.isfinite(score)):
            label = next((g for line, g in lines if score[i] >= line), "诫勉")
            bounds = {"优秀": (t["excellent"], math.inf), "良好": (t["good"], t["excellent"]),
                      "达标": (t["pass"], t["good"]), "诫勉": (-math.inf, t["pass"])}[label]
            if label == "诫勉" and not hi[i] < t["pass"]:
                grade[i], note[i] = "达标", "pending"
                continue
            grade[i] = label
            if lo[i] < bounds[0] or hi[i] >= bounds[1]:
                note[i] = "borderline"
        return grade, note
    q = scheme["quotas"]
    for c in np.unique(category):
        members = [i for i in np.flatnonzero(category == c) if np.isfinite(rank["rank"][i])]
        m = len(members)
        if not m:
            continue
        members.sort(key=lambda i: (rank["rank"][i], rank["expected_rank"][i], i))
        k_ex, k_good, k_warn = (math.floor(q[k] * m + 1e-9) for k in ("excellent", "good", "warning"))
        for position, i in enumerate(members, start=1):
            if position <= k_ex:
                grade[i] = "优秀"
                note[i] = "borderline" if rank["rank_high"][i] > k_ex else None
            elif position <= k_ex + k_good:
                grade[i] = "良好"
                note[i] = "borderline" if rank["rank_high"][i] > k_ex + k_good or rank["rank_low"][i] <= k_ex else None
            elif position > m - k_warn:
                if rank["rank_low"][i] > m - k_warn:
                    grade[i] = "诫勉"
                else:
                    grade[i], note[i] = "达标", "pending"
            else:
                grade[i] = "达标"
    return grade, note

