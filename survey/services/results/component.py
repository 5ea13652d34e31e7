"""The 公众评议 component: sources and weights, points, 功效系数法, grades and ranks that respect uncertainty.

A scheme belongs to the campaign whose index is the 民意调查 source. Rules:

* sources: 民意调查 (this campaign's satisfaction index, required), 领导评价 (leader
  ratings of the period, 0–100) and the 服务对象 (window-service) index: for each unit,
  the ratings of the unit itself and of every unit below it (its windows) in the chosen
  service campaigns, pooled and estimated by the engine as one sample of the unit;
* blocks (the seed's rule, DOMAIN.md): 公众评议 = 民意调查 70 % + 领导评价 30 % by default.
  The 民意调查 block is this campaign's survey plus the 服务对象 survey, in proportions
  the analyst sets; the 领导评价 block is the leader ratings. Block weights and the
  proportions inside a block are non-negative and are normalised (the page says so).
  A source a unit lacks is redistributed within its block only — a unit without window
  ratings is scored 70 % on its survey and 30 % on its leader rating, exactly. A unit
  lacking a whole block (no leader rating, say) is flagged ``block_missing``: its score
  is renormalised over the blocks it has, and by default it gets no grade and no rank;
  if the scheme says so (``missing = none``) any missing source leaves it without a score;
* a scheme stored before blocks existed (no ``blocks`` key) replays its old rule: every
  source its own weight, a missing one renormalised over all the others;
* composite = Σ_b W_b·x_b / Σ_b W_b over the blocks present, x_b = Σ wₛ·xₛ / Σ wₛ over the
  block's sources present, on the 0–100 scale; its standard error combines the sources'
  SEs (the samples are independent; leader ratings are fixed scores);
* 功效系数法 (optional), within each category: score = 60 + 40·(x − min)/(max − min);
  the score's SE is scaled by 40/(max − min). Points = score / 100 × the component's points;
* ranks are per category, with a rank interval and P(bottom k) from the scores and SEs;
* grades 优秀/良好/达标/诫勉 by score thresholds or by quotas of each category. Because
  诫勉 is a public sanction, it needs clear evidence: by thresholds, the upper end of the
  score's confidence interval must lie below the 达标 line; by quotas, even the unit's
  best plausible rank (its rank interval) must fall within the bottom quota. A unit that
  would be 诫勉 on its point estimate alone is graded 达标 and marked 待定. Any grade whose
  interval crosses a grade boundary is marked 临界;
* reliability before verdict: a unit failing the reliability thresholds (the flags in
  :data:`UNRELIABLE`: n, effective n, relative SE, a missing group, the unweighted
  fallback …) or lacking a whole block gets no grade and no rank, and takes no part in
  the ranking or P(bottom k) of the others: it is listed as 样本不足 / 待定 with what it
  lacks. An analyst may override this per unit with a reason (the campaign's weighting
  settings, so it is stored in the snapshot's specification and audited); an overridden
  unit is ranked and graded, but never 诫勉, which needs a reliable unit.
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
#: The blocks of the component and their sources (DOMAIN.md: 领导评价 30 % + 民意调查 70 %).
BLOCKS = {"public": ("survey", "service"), "leader": ("leader",)}
BLOCK_OF = {source: block for block, sources in BLOCKS.items() for source in sources}
DEFAULT_BLOCKS = {"public": 0.7, "leader": 0.3}
DEFAULTS: dict[str, Any] = {
    "blocks": dict(DEFAULT_BLOCKS),
    "weights": {"survey": 0.7, "leader": 0.3, "service": 0.0},
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
    out = {key: stored.get(key, default) for key, default in DEFAULTS.items()}
    if scheme and "blocks" not in stored:  # saved before blocks: the blocks its weights give
        out["blocks"] = blocks_from_weights(out["weights"])
    return out


def blocks_from_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Each block's weight: the sum of its sources' weights."""
    return {b: float(sum(weights.get(s, 0.0) or 0.0 for s in sources)) for b, sources in BLOCKS.items()}


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
    weights, blocks = _weights(raw, check)
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
        "blocks": blocks, "weights": weights, "service_campaign_ids": sorted(set(ids)), "points": points,
        "normalisation": normalisation, "missing": missing, "grading": grading, "thresholds": thresholds,
        "quotas": quotas, "rank_level": rank_level, "bottom_k": int(bottom_k or 1),
    }


def _weights(raw: Mapping[str, Any], check: Collector) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Each source's weight in the whole (summing to 1) and each block's weight.

    With ``blocks`` (the 民意调查 and 领导评价 weights) the source weights inside the
    民意调查 block are proportions; without (older forms and callers) each source's weight
    is its share of the whole and the blocks are their sums. The survey must weigh something.
    """
    raw_weights = raw.get("weights") or {}
    raw_blocks = raw.get("blocks") or {}
    weights = {s: check.take(f"weight_{s}", _num, raw_weights.get(s, 0) or 0, str(SOURCES[s]), 0.0, 1000.0)
               for s in SOURCES}
    by_block = any(str(v).strip() for v in raw_blocks.values() if v is not None)
    if by_block:
        blocks = {b: check.take(f"block_{b}", _num, raw_blocks.get(b, 0) or 0, str(LABELS["source_block"][b]),
                                0.0, 1000.0) for b in BLOCKS}
    else:
        blocks = blocks_from_weights({s: w or 0.0 for s, w in weights.items()})
    if any(w is None for w in (*weights.values(), *blocks.values())):
        return weights, blocks
    if not weights["survey"] or weights["survey"] <= 0:
        check.add("weight_survey", _("民意调查的权重应大于 0：公众评议以民意调查为主。"))
        return weights, blocks
    if not blocks["public"] > 0:
        check.add("block_public", _("民意调查部分的权重应大于 0。"))
        return weights, blocks
    total = sum(blocks.values())
    blocks = {b: w / total for b, w in blocks.items()}
    if by_block:
        weights["leader"] = 1.0
    inside = {b: sum(weights[s] for s in sources) for b, sources in BLOCKS.items()}
    weights = {s: (blocks[BLOCK_OF[s]] * weights[s] / inside[BLOCK_OF[s]] if inside[BLOCK_OF[s]] > 0 else 0.0)
               for s in SOURCES}
    return weights, blocks


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
    #: reliability before verdict: an unreliable unit (or one lacking a block) gets no grade and no rank
    withhold: bool = False
    overridden: np.ndarray | None = None  # bool: the analyst grades and ranks this unit anyway


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
    #: per unit, each source's share of the composite as used (blocks: None for a legacy scheme)
    weights_used: list[dict[str, float]] | None = None
    missing_blocks: list[list[str]] | None = None
    withheld: np.ndarray | None = None  # bool: no grade and no rank for want of reliability


def compute(inputs: UnitInputs, scheme: Mapping[str, Any] | None, confidence: float,
            ranking: Mapping[str, int] | None = None) -> ComponentResult:
    """Composite, score, points, ranks and grades of every unit; ``scheme`` None ranks the survey index alone.

    ``ranking`` is the rank simulation's ``{"seed": …, "draws": …}`` (the snapshot's; default the engine's)."""
    n = inputs.survey.size
    values = {"survey": inputs.survey, "leader": inputs.leader, "service": inputs.service}
    ses = {"survey": inputs.survey_se, "leader": np.zeros(n), "service": inputs.service_se}
    have = {s: np.isfinite(values[s]) & (np.isfinite(ses[s]) | (s == "leader")) for s in SOURCES}
    if scheme and scheme.get("blocks"):
        composite, composite_se, used, shares, missing_blocks, ok = _blocked(scheme, values, ses, have, inputs)
    else:
        composite, composite_se, used, ok = _legacy(scheme, values, ses, have, inputs)
        shares, missing_blocks = None, None
    overridden = inputs.overridden if inputs.overridden is not None else np.zeros(n, dtype=bool)
    withheld = np.zeros(n, dtype=bool)
    if inputs.withhold:
        lacking = np.array([bool(m) for m in missing_blocks]) if missing_blocks is not None else np.zeros(n, bool)
        withheld = (inputs.unreliable | lacking) & ~overridden
    score, score_se = composite.copy(), composite_se.copy()
    categories = np.unique(inputs.category)
    if scheme and scheme.get("normalisation") == "efficacy":
        for category in categories:
            members = (inputs.category == category) & ok
            basis = members & ~withheld  # the range comes from the units compared
            if not basis.any():
                continue
            low, high = composite[basis].min(), composite[basis].max()
            if inputs.withhold:
                score[members] = 60.0 + 40.0 * (composite[members] - low) / (high - low) if high > low else 100.0
            else:
                score[members] = efficacy_scores(composite[members])
            score_se[members] = composite_se[members] * (40.0 / (high - low) if high > low else 0.0)
    z = z_value(confidence)
    score_lo, score_hi = score - z * score_se, score + z * score_se
    points = score / 100.0 * float(scheme["points"]) if scheme else np.full(n, np.nan)

    level = float(scheme["rank_level"]) if scheme else 0.90
    bottom_k = int(scheme["bottom_k"]) if scheme else 1
    rank = {k: np.full(n, np.nan) for k in ("rank", "rank_low", "rank_high", "expected_rank", "p_bottom")}
    n_ranked = np.zeros(n, dtype=np.int64)
    ranked_score = np.where(withheld, np.nan, score)
    for category in categories:
        members = np.flatnonzero(inputs.category == category)
        ranks = rank_intervals(ranked_score[members], score_se[members], level=level, bottom_k=bottom_k,
                               **({"seed": int(ranking["seed"]), "n_sim": int(ranking["draws"])} if ranking else {}))
        for key, values_ in rank.items():
            values_[members] = getattr(ranks, key)
        n_ranked[members] = int(np.isfinite(ranks.rank).sum())
    sanctionable = ~inputs.unreliable if inputs.withhold else np.ones(n, dtype=bool)
    grade, note = _grades(scheme, ranked_score, score_lo, score_hi, rank, n_ranked, inputs.category, sanctionable)
    if inputs.withhold:
        for i in range(n):
            if withheld[i]:
                note[i] = "insufficient"
            elif overridden[i] and (inputs.unreliable[i] or (missing_blocks and missing_blocks[i])) and not note[i]:
                note[i] = "overridden"
    return ComponentResult(composite, composite_se, score, score_se, score_lo, score_hi, points,
                           rank["rank"], rank["rank_low"], rank["rank_high"], rank["expected_rank"], rank["p_bottom"],
                           n_ranked, grade, note, used, shares, missing_blocks, withheld)


def _legacy(scheme: Mapping[str, Any] | None, values: dict[str, np.ndarray], ses: dict[str, np.ndarray],
            have: dict[str, np.ndarray], inputs: UnitInputs
            ) -> tuple[np.ndarray, np.ndarray, list[list[str]], np.ndarray]:
    """A scheme stored before blocks: every source its own weight, a missing one renormalised over all."""
    n = inputs.survey.size
    weights = dict(scheme["weights"]) if scheme else {"survey": 1.0, "leader": 0.0, "service": 0.0}
    weighted = [s for s in SOURCES if weights.get(s, 0) > 0]
    numerator, denominator, variance = np.zeros(n), np.zeros(n), np.zeros(n)
    used: list[list[str]] = [[] for _ in range(n)]
    complete = np.ones(n, dtype=bool)
    for source in weighted:
        complete &= have[source]
        w = weights[source]
        numerator += np.where(have[source], w * np.nan_to_num(values[source]), 0.0)
        denominator += np.where(have[source], w, 0.0)
        variance += np.where(have[source], w**2 * np.nan_to_num(ses[source]) ** 2, 0.0)
        for i in np.flatnonzero(have[source]):
            used[i].append(source)
    ok = inputs.estimable & (denominator > 0)
    if scheme and scheme.get("missing") == "none":
        ok &= complete
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(ok, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
        composite_se = np.where(ok, np.sqrt(variance) / np.where(denominator > 0, denominator, 1.0), np.nan)
    return composite, composite_se, used, ok


def _blocked(scheme: Mapping[str, Any], values: dict[str, np.ndarray], ses: dict[str, np.ndarray],
             have: dict[str, np.ndarray], inputs: UnitInputs
             ) -> tuple[np.ndarray, np.ndarray, list[list[str]], list[dict[str, float]], list[list[str]], np.ndarray]:
    """The blocks' rule: a missing source is made up within its block; a missing block renormalises the blocks."""
    n = inputs.survey.size
    weights, block_weights = scheme["weights"], scheme["blocks"]
    numerator, denominator, variance = np.zeros(n), np.zeros(n), np.zeros(n)
    used: list[list[str]] = [[] for _ in range(n)]
    shares: list[dict[str, float]] = [{} for _ in range(n)]
    missing: list[list[str]] = [[] for _ in range(n)]
    complete = np.ones(n, dtype=bool)
    for block, sources in BLOCKS.items():
        big_w = float(block_weights.get(block, 0.0) or 0.0)
        inside = [s for s in sources if (weights.get(s, 0.0) or 0.0) > 0]
        if big_w <= 0 or not inside:
            continue
        b_num, b_den, b_var = np.zeros(n), np.zeros(n), np.zeros(n)
        for source in inside:
            complete &= have[source]
            w = float(weights[source])
            b_num += np.where(have[source], w * np.nan_to_num(values[source]), 0.0)
            b_den += np.where(have[source], w, 0.0)
            b_var += np.where(have[source], w**2 * np.nan_to_num(ses[source]) ** 2, 0.0)
        present = b_den > 0
        safe = np.where(present, b_den, 1.0)
        numerator += np.where(present, big_w * (b_num / safe), 0.0)
        denominator += np.where(present, big_w, 0.0)
        variance += np.where(present, big_w**2 * b_var / safe**2, 0.0)
        for i in range(n):
            if not present[i]:
                missing[i].append(block)
                continue
            for source in inside:
                if have[source][i]:
                    used[i].append(source)
                    shares[i][source] = big_w * float(weights[source]) / float(b_den[i])
    ok = inputs.estimable & (denominator > 0)
    if scheme.get("missing") == "none":
        ok &= complete
    safe = np.where(denominator > 0, denominator, 1.0)
    composite = np.where(ok, numerator / safe, np.nan)
    composite_se = np.where(ok, np.sqrt(variance) / safe, np.nan)
    for i in range(n):  # the shares are of the blocks present
        shares[i] = {s: w / float(denominator[i]) for s, w in shares[i].items()} if ok[i] else {}
    return composite, composite_se, used, shares, missing, ok


def _grades(scheme: Mapping[str, Any] | None, score: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            rank: dict[str, np.ndarray], n_ranked: np.ndarray, category: np.ndarray, sanctionable: np.ndarray
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
            if label == "诫勉" and not (hi[i] < t["pass"] and sanctionable[i]):
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
                if rank["rank_low"][i] > m - k_warn and sanctionable[i]:
                    grade[i] = "诫勉"
                else:
                    grade[i], note[i] = "达标", "pending"
            else:
                grade[i] = "达标"
    return grade, note

