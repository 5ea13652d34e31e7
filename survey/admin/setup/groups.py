"""Setup pages: respondent groups (样本类别) with their target shares / voting weights."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only
from survey.admin.setup.forms import GroupForm
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import RespondentGroup
from survey.services.units import groups as group_service

STANDARD_SOURCE = "window_service"  # the built-in template whose 身份 question names the standard groups


def _page(new_form: GroupForm, errors: dict[str, str], new_errors: dict[str, str], values=None):
    status = 422 if errors or new_errors else 200
    return render_template("admin/setup/groups/list.html", overview=group_service.overview(db.session),
                           new_form=new_form, errors=errors, new_errors=new_errors, values=values,
                           missing_standard=group_service.missing_template_groups(db.session, STANDARD_SOURCE)), status


@bp.route("/groups/", methods=["GET", "POST"])
@analyst_only
def groups():
    """All groups in one form: names, shares, order and active flags are saved together or not at all."""
    new_form = GroupForm(prefix="new", formdata=None)
    if request.method == "GET":
        return _page(new_form, {}, {})
    edits = {}
    for group_id in (int(v) for v in request.form.getlist("group_id") if v.isdigit()):
        prefix = f"g{group_id}-"
        order = request.form.get(prefix + "sort_order", "").strip()
        edits[group_id] = group_service.GroupData(
            code=None, name=request.form.get(prefix + "name"), name_en=request.form.get(prefix + "name_en"),
            target_share=request.form.get(prefix + "target_share"), active=request.form.get(prefix + "active") == "1",
            sort_order=int(order) if order.lstrip("-").isdigit() and len(order) < 9 else None,
        )
    changed, errors = save(lambda: group_service.update_groups(db.session, current_user, edits))
    if errors:
        return _page(new_form, errors, {}, request.form)
    # The page itself says when the shares do not sum to 1 (once); the message only confirms the save.
    flash(_("已保存 %(n)d 个样本类别的修改。", n=changed or 0), "info")
    return redirect(url_for("admin.groups"))


@bp.route("/groups/new", methods=["POST"])
@analyst_only
def group_new():
    form = GroupForm(prefix="new")
    data = group_service.GroupData(code=form.code.data, name=form.name.data, name_en=form.name_en.data,
                                   target_share=form.target_share.data)
    group, errors = save(lambda: group_service.create_group(db.session, current_user, data))
    if errors:
        return _page(form, {}, errors)
    flash(_("已新建样本类别“%(name)s”。", name=group.name), "info")
    return redirect(url_for("admin.groups"))


@bp.route("/groups/<int:group_id>/delete", methods=["POST"])
@analyst_only
def group_delete(group_id: int):
    group = get_or_404(RespondentGroup, group_id)
    name = group.name
    _done, errors = save(lambda: group_service.delete_group(db.session, current_user, group))
    flash(next(iter(errors.values())) if errors else _("已删除样本类别“%(name)s”。", name=name),
          "error" if errors else "info")
    return redirect(url_for("admin.groups"))


@bp.route("/groups/standard", methods=["POST"])
@analyst_only
def groups_standard():
    """Add the usual groups (企业、市民、服务对象、人大政协、社会组织) that are still missing."""
    created, _errors = save(lambda: group_service.ensure_template_groups(db.session, current_user, STANDARD_SOURCE))
    flash(_("已添加常用样本类别：%(names)s。", names="、".join(g.name for g in created or [])) if created
          else _("常用样本类别都已存在。"), "info")
    return redirect(url_for("admin.groups"))
