"""Reading the results pages' forms into the plain shapes the services validate.

The services check every value and answer with a message per field; these helpers only
collect the submitted text (a form field ``group_QY`` becomes ``group_shares["QY"]``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from survey.models import Campaign, RespondentGroup
from survey.services.results.component import BLOCKS, SOURCES
from survey.services.results.weighting import index_questions


def settings_from_form(form: Mapping[str, Any], campaign: Campaign, groups: list[RespondentGroup]) -> dict[str, Any]:
    """Weighting settings as :func:`survey.services.results.weighting.validate` takes them."""
    return {
        "method": form.get("method", ""),
        "group_shares": {g.code: form.get(f"group_{g.code}", "") for g in groups},
        "channel_shares": {c: form.get(f"channel_{c}", "") for c in campaign.channels or []},
        "rake_margins": form.getlist("rake_margins") if hasattr(form, "getlist") else form.get("rake_margins", []),
        "trim_k": form.get("trim_k", ""),
        "level_scores": [form.get(f"score_{level}", "") for level in range(1, 6)],
        "question_weights": {q.code: form.get(f"weight_{q.code}", "") for q in index_questions(campaign)},
        "confidence": form.get("confidence", ""),
        "min_n": form.get("min_n", ""),
        "min_n_eff": form.get("min_n_eff", ""),
        "max_rse": form.get("max_rse", ""),
        "max_dont_know": form.get("max_dont_know", ""),
        "include_flagged": form.get("include_flagged") == "1",
        "min_cell_n": form.get("min_cell_n", ""),
        "collapse_into": {g.code: form.get(f"collapse_{g.code}", "") for g in groups},
    }


def scheme_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """A component scheme as :func:`survey.services.results.component.validate` takes it."""
    getlist = form.getlist if hasattr(form, "getlist") else (lambda name: form.get(name, []))
    return {
        "weights": {s: form.get(f"weight_{s}", "") for s in SOURCES},
        "blocks": {b: form.get(f"block_{b}", "") for b in BLOCKS},
        "service_campaign_ids": getlist("service_campaign_ids"),
        "points": form.get("points", ""),
        "normalisation": form.get("normalisation", ""),
        "missing": form.get("missing", ""),
        "grading": form.get("grading", ""),
        "thresholds": {k: form.get(f"threshold_{k}", "") for k in ("excellent", "good", "pass")},
        "quotas": {k: form.get(f"quota_{k}", "") for k in ("excellent", "good", "warning")},
        "rank_level": form.get("rank_level", ""),
        "bottom_k": form.get("bottom_k", ""),
    }


def form_values_from_settings(settings: Mapping[str, Any], campaign: Campaign,
                              groups: list[RespondentGroup]) -> dict[str, Any]:
    """What the settings form shows for stored settings (blank = the default is used)."""
    values: dict[str, Any] = {
        "method": settings["method"], "trim_k": settings["trim_k"] or "",
        "confidence": settings["confidence"], "min_n": settings["min_n"], "min_n_eff": settings["min_n_eff"],
        "max_rse": settings["max_rse"], "max_dont_know": settings["max_dont_know"],
        "include_flagged": settings["include_flagged"], "rake_margins": settings["rake_margins"],
        "min_cell_n": settings["min_cell_n"],
    }
    into = settings.get("collapse_into") or {}
    for g in groups:
        values[f"collapse_{g.code}"] = into.get(g.code, "")
    shares = settings.get("group_shares") or {}
    for g in groups:
        values[f"group_{g.code}"] = shares.get(g.code, "")
    channels = settings.get("channel_shares") or {}
    for c in campaign.channels or []:
        values[f"channel_{c}"] = channels.get(c, "")
    scores = settings.get("level_scores") or [""] * 5
    for level in range(1, 6):
        values[f"score_{level}"] = scores[level - 1]
    weights = settings.get("question_weights") or {}
    for q in index_questions(campaign):
        values[f"weight_{q.code}"] = weights.get(q.code, "")
    return values


def form_values_from_scheme(scheme: Mapping[str, Any]) -> dict[str, Any]:
    blocks = scheme["blocks"]
    values: dict[str, Any] = {f"block_{b}": f"{blocks.get(b, 0):.6g}" for b in BLOCKS}
    for s in ("survey", "service"):  # proportions inside the 民意调查 block
        share = scheme["weights"].get(s, 0) / blocks["public"] if blocks.get("public") else 0.0
        values[f"weight_{s}"] = f"{share:.6g}"
    values.update({f"threshold_{k}": v for k, v in scheme["thresholds"].items()})
    values.update({f"quota_{k}": v for k, v in scheme["quotas"].items()})
    values.update({k: scheme[k] for k in ("points", "normalisation", "missing", "grading", "rank_level", "bottom_k")})
    values["service_campaign_ids"] = [str(i) for i in scheme["service_campaign_ids"]]
    return values
