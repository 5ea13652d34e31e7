"""The questionnaire preview: the citizens' own page, in a phone-sized frame.

The phone page is rendered by the citizen page's own renderer and template
(``survey.public.questionnaire``, ``public/questionnaire.html``) for a campaign that
exists only in memory, so the analyst sees exactly what a phone will show, display conditions
included (in place with the script, as a second step without). Submitting it checks the answers
like the real page does, and stores nothing.
"""
from __future__ import annotations

from flask import flash, make_response, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from survey.admin import bp
from survey.admin.setup.common import analyst_only
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, GroupMode, Questionnaire, QuestionnaireKind, Unit, UnitKind
from survey.public.forms import SubmitForm
from survey.public.questionnaire import _Page as QuestionnairePage
from survey.public.questionnaire import conditional_step
from survey.security import content_security_policy
from survey.services.campaigns.lookup import Target
from survey.services.responses import submission

PREVIEW_CODE = "PREVIEW"


def _sample_units(questionnaire: Questionnaire) -> list[Unit]:
    """Real units to show (a window for a service survey, three units for an appraisal), or stand-ins."""
    wanted = 1 if questionnaire.kind == QuestionnaireKind.SERVICE else 3
    order = [Unit.kind != UnitKind.WINDOW] if wanted == 1 else []
    stmt = select(Unit).where(Unit.active.is_(True)).order_by(*order, Unit.sort_order, Unit.code).limit(wanted)
    units = list(db.session.scalars(stmt))
    if units:
        return units
    return [Unit(id=-n, code=f"SAMPLE{n}", name=_("示例单位 %(n)d", n=n), kind=UnitKind.WINDOW, window_no=str(n))
            for n in range(1, wanted + 1)]


@bp.route("/questionnaires/<int:questionnaire_id>/preview")
@analyst_only
def questionnaire_preview(questionnaire_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    return render_template("admin/setup/questionnaires/preview.html", q=questionnaire)


@bp.route("/questionnaires/<int:questionnaire_id>/preview/phone", methods=["GET", "POST"])
@analyst_only
def questionnaire_phone(questionnaire_id: int):
    """The citizens' page for this questionnaire; answers are checked, never stored."""
    questionnaire = submission.load_questionnaire(db.session, questionnaire_id)
    if questionnaire is None:
        return make_response(render_template("errors/error.html", status=404, title=_("页面不存在"),
                                             message=_("问卷不存在。")), 404)
    units = _sample_units(questionnaire)
    campaign = Campaign(id=-1, short_code=PREVIEW_CODE, title=questionnaire.title, title_en=questionnaire.title_en,
                        questionnaire=questionnaire, group_mode=GroupMode.ASK, channels=[], period="")
    campaign_unit = None
    if questionnaire.kind == QuestionnaireKind.SERVICE:
        campaign_unit = CampaignUnit(unit=units[0], short_code=PREVIEW_CODE)
    questions = submission.visible_questions(questionnaire, campaign)
    form = SubmitForm()
    page = QuestionnairePage(Target(campaign, campaign_unit), questionnaire, questions, units, form, [])
    if request.method == "POST":
        parsed = submission.parse_answers(questionnaire, questions, units, request.form)
        step = conditional_step(parsed)  # display conditions behave as on the citizens' page
        errors = {name: message for name, message in parsed.errors.items() if name not in step}
        if not errors and not step:
            flash(_("预览：答卷填写有效（预览不会保存）。"), "info")
        html, status, _headers = page.render(errors=errors, status=422 if errors else 200, shown=parsed.shown,
                                             step=None if errors else step)
    else:
        form.submission_id.data = submission.new_submission_id()
        flash(_("预览：这是手机上看到的样子，提交不会保存。"), "info")
        html, status, _headers = page.render()
    db.session.rollback()  # the in-memory campaign is never saved, whatever the template touched
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    # Only this page may be shown inside a frame, and only by our own admin page.
    response.headers["Content-Security-Policy"] = content_security_policy(frame_ancestors="'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
