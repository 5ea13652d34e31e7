"""Setup pages: ranking categories (create, rename, reorder, delete when empty)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only
from survey.admin.setup.forms import CategoryForm
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Category
from survey.services.units import categories as category_service


def _data(form: CategoryForm) -> category_service.CategoryData:
    return category_service.CategoryData(code=form.code.data, name=form.name.data, name_en=form.name_en.data)


@bp.route("/categories/", methods=["GET", "POST"])
@analyst_only
def categories():
    """All categories with their unit counts, and a form to add one."""
    form = CategoryForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        category, errors = save(lambda: category_service.create_category(db.session, current_user, _data(form)))
        if category is not None:
            flash(_("已新建类别“%(name)s”。", name=category.name), "info")
            return redirect(url_for("admin.categories"))
    rows = category_service.list_categories(db.session)
    return render_template("admin/setup/categories/list.html", rows=rows, form=form,
                           errors=errors), (422 if errors else 200)


@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@analyst_only
def category_edit(category_id: int):
    category = get_or_404(Category, category_id)
    form = CategoryForm(obj=category) if request.method == "GET" else CategoryForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        saved, errors = save(lambda: category_service.update_category(db.session, current_user, category, _data(form)))
        if saved is not None:
            flash(_("已保存类别“%(name)s”。", name=saved.name), "info")
            return redirect(url_for("admin.categories"))
    return render_template("admin/setup/categories/form.html", form=form, category=category,
                           errors=errors), (422 if errors else 200)


@bp.route("/categories/<int:category_id>/move", methods=["POST"])
@analyst_only
def category_move(category_id: int):
    category = get_or_404(Category, category_id)
    step = -1 if request.form.get("value") == "up" else 1
    save(lambda: category_service.move_category(db.session, current_user, category, step))
    return redirect(url_for("admin.categories"))


@bp.route("/categories/<int:category_id>/delete", methods=["POST"])
@analyst_only
def category_delete(category_id: int):
    category = get_or_404(Category, category_id)
    name = category.name
    _done, errors = save(lambda: category_service.delete_category(db.session, current_user, category))
    if errors:
        flash(next(iter(errors.values())), "error")
    else:
        flash(_("已删除类别“%(name)s”。", name=name), "info")
    return redirect(url_for("admin.categories"))
