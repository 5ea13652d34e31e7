"""复制: a campaign for the next period (confirm form: title, period, times) and a questionnaire as a new draft."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only, local_to_utc, utc_to_local_input
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Campaign, Questionnaire
from survey.services.campaigns import duplicate as service


@bp.route("/campaigns/<int:campaign_id>/duplicate", methods=["GET", "POST"])
@analyst_only
def campaign_duplicate(campaign_id: int):
    """复制为下一期: the same units, questionnaire, channels, weighting and targets; new codes; a draft."""
    source = get_or_404(Campaign, campaign_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("title", "period", "opens_at", "closes_at")}
        times = {}
        for name in ("opens_at", "closes_at"):
            try:
                times[name] = local_to_utc(values[name])
            except ValueError as exc:
                errors[name] = str(exc)
                times[name] = None
        if not errors:
            result, errors = save(lambda: service.duplicate_campaign(
                db.session, current_user, source, values["title"], values["period"], times["opens_at"],
                times["closes_at"]))
            if not errors:
                copy, left_out = result
                flash(_("已复制为“%(t)s”（草稿，新的短码）。检查单位和时间后，点“开始评议”。", t=copy.title), "info")
                if left_out:
                    flash(_("这些单位已停用，没有复制：%(names)s。", names="、".join(left_out[:20])), "warning")
                return redirect(url_for("admin.campaign", campaign_id=copy.id))
    else:
        plan = service.proposal(source)
        values = {"title": plan.title, "period": plan.period, "opens_at": utc_to_local_input(plan.opens_at),
                  "closes_at": utc_to_local_input(plan.closes_at)}
    return render_template("admin/setup/campaigns/duplicate.html", source=source, values=values,
                           errors=errors), 422 if errors else 200


@bp.route("/questionnaires/<int:questionnaire_id>/duplicate", methods=["POST"])
@analyst_only
def questionnaire_duplicate(questionnaire_id: int):
    """复制为新问卷: a new questionnaire (version 1, a draft) with the same questions and settings."""
    source = get_or_404(Questionnaire, questionnaire_id)
    copy, errors = save(lambda: service.duplicate_questionnaire(db.session, current_user, source))
    if errors:
        flash(next(iter(errors.values())), "error")
        return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))
    flash(_("已复制为新问卷草稿“%(t)s”。原问卷不受影响。", t=copy.title), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=copy.id))
