"""Setup pages: units (考评对象) — list, create, edit and move, deactivate, import and export."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only
from survey.admin.setup.forms import UnitForm, UploadForm, choices
from survey.core import spreadsheets, staging
from survey.core.errors import DomainError
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.i18n import current_language
from survey.models import Category, Unit, utcnow
from survey.services.units import sheets
from survey.services.units import units as unit_service

PAGE_SIZE = 200
IMPORT_KIND = "units"
IMPORT_MAX_AGE = 6 * 3600  # a long file is checked at leisure


def _category_choices() -> list[tuple[str, str]]:
    categories = db.session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    return choices([("", _("（无类别）"))] + [(c.id, _("%(name)s（%(code)s）", name=c.name, code=c.code)) for c in categories])


def _data(form: UnitForm) -> unit_service.UnitData:
    raw_order = (form.sort_order.data or "").strip()
    sort_order: int | None = None
    if raw_order:
        try:
            sort_order = int(raw_order)
        except ValueError:
            raise DomainError({"sort_order": _("排序应为整数。")}) from None
    category = (form.category_id.data or "").strip()
    return unit_service.UnitData(
        code=form.code.data, name=form.name.data, name_en=form.name_en.data, kind=form.kind.data,
        category_id=int(category) if category.isdigit() else None, parent_code=form.parent_code.data,
        window_no=form.window_no.data, address=form.address.data, note=form.note.data, sort_order=sort_order,
    )


@bp.route("/units/")
@analyst_only
def units():
    """The unit tree, filterable by category, kind, status and a search text."""
    rows = unit_service.unit_tree(db.session)
    query = request.args.get("q", "").strip()
    category = request.args.get("category", "")
    status = request.args.get("status", "")
    if query:
        needle = query.casefold()
        rows = [r for r in rows if needle in r.unit.code.casefold() or needle in r.unit.name.casefold()]
    if category.isdigit():
        rows = [r for r in rows if r.unit.category_id == int(category)]
    if status in ("active", "inactive"):
        rows = [r for r in rows if r.unit.active == (status == "active")]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(page, pages)
    categories = db.session.scalars(select(Category).order_by(Category.sort_order, Category.code)).all()
    return render_template(
        "admin/setup/units/list.html", rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], total=len(rows),
        page=page, pages=pages, query=query, category=category, status=status, categories=categories,
    )


def _unit_form_page(form: UnitForm, unit: Unit | None, errors: dict[str, str]):
    codes = db.session.execute(select(Unit.code, Unit.name).where(Unit.active.is_(True)).order_by(Unit.code)).all()
    used = unit_service.unit_references(db.session, unit) if unit is not None else {}
    return render_template("admin/setup/units/form.html", form=form, unit=unit, errors=errors, parent_codes=codes,
                           used=used), (422 if errors else 200)


@bp.route("/units/new", methods=["GET", "POST"])
@analyst_only
def unit_new():
    form = UnitForm()
    form.category_id.choices = _category_choices()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            data = _data(form)
        except DomainError as exc:
            errors = exc.errors
        else:
            unit, errors = save(lambda: unit_service.create_unit(db.session, current_user, data))
            if unit is not None:
                flash(_("已新建单位“%(name)s”。", name=unit.name), "info")
                return redirect(url_for("admin.units"))
    return _unit_form_page(form, None, errors)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@analyst_only
def unit_edit(unit_id: int):
    """Edit a unit; changing 上级单位代码 moves it in the tree (never below itself)."""
    unit = get_or_404(Unit, unit_id)
    form = UnitForm(obj=unit) if request.method == "GET" else UnitForm()
    form.category_id.choices = _category_choices()
    if request.method == "GET":
        form.kind.data = unit.kind.value
        form.category_id.data = str(unit.category_id or "")
        form.parent_code.data = unit.parent.code if unit.parent else ""
        form.sort_order.data = str(unit.sort_order)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            data = _data(form)
        except DomainError as exc:
            errors = exc.errors
        else:
            saved, errors = save(lambda: unit_service.update_unit(db.session, current_user, unit, data))
            if saved is not None:
                flash(_("已保存“%(name)s”。", name=saved.name), "info")
                return redirect(url_for("admin.units"))
    return _unit_form_page(form, unit, errors)


@bp.route("/units/<int:unit_id>/active", methods=["POST"])
@analyst_only
def unit_active(unit_id: int):
    unit = get_or_404(Unit, unit_id)
    active = request.form.get("value") == "1"
    save(lambda: unit_service.set_unit_active(db.session, current_user, unit, active))
    flash(_("已启用“%(name)s”。", name=unit.name) if active else _("已停用“%(name)s”。它的答卷和结果都保留。", name=unit.name),
          "info")
    if request.form.get("back") == "edit":
        return redirect(url_for("admin.unit_edit", unit_id=unit_id))
    return redirect(url_for("admin.units"))


@bp.route("/units/<int:unit_id>/delete", methods=["POST"])
@analyst_only
def unit_delete(unit_id: int):
    unit = get_or_404(Unit, unit_id)
    name = unit.name
    _done, errors = save(lambda: unit_service.delete_unit(db.session, current_user, unit))
    if errors:
        flash(errors.get("", ""), "error")
        return redirect(url_for("admin.unit_edit", unit_id=unit_id))
    flash(_("已删除“%(name)s”。", name=name), "info")
    return redirect(url_for("admin.units"))


@bp.route("/units/export.<fmt>")
@analyst_only
def units_export(fmt: str):
    """The unit list in the import's columns; formulas neutralised, CSV with a BOM for Excel."""
    if fmt not in ("xlsx", "csv"):
        abort(404)
    english = current_language() == "en"
    rows = sheets.export_rows(db.session, english=english)
    headers = sheets.EXPORT_HEADERS_EN if english else sheets.EXPORT_HEADERS
    stamp = utcnow().strftime("%Y%m%d")
    if fmt == "xlsx":
        body, mime = spreadsheets.to_xlsx(headers, rows, sheet_title=_("单位")), spreadsheets.XLSX_MIME
    else:
        body, mime = spreadsheets.to_csv(headers, rows), spreadsheets.CSV_MIME
    filename = f"units-{stamp}.{fmt}"
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename={filename}",
        "Cache-Control": "no-store",
    })


def _upload_page(form: UploadForm, errors: dict[str, str], status: int = 200):
    return render_template("admin/setup/units/import.html", form=form, errors=errors, columns=sheets.COLUMNS,
                           limit_bytes=_limit_bytes(), limit_text=_limit_text()), status


def _limit_bytes() -> int:
    return int(current_app.config.get("MAX_CONTENT_LENGTH") or 0)


def _limit_text() -> str:
    """The upload limit as people say it: 10 MB, 512 KB."""
    size = _limit_bytes()
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{max(1, size // 1024)} KB"


@bp.route("/units/import", methods=["GET", "POST"])
@analyst_only
def units_import():
    """Step 1: upload an .xlsx or .csv; nothing is written, the rows go to a preview."""
    form = UploadForm()
    if request.method == "GET":
        return _upload_page(form, {})
    if not form.validate_on_submit():
        return _upload_page(form, {"file": _("上传失败，请重试。")}, 400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _upload_page(form, {"file": _("请选择要上传的文件。")}, 422)
    try:
        table = spreadsheets.read_table(upload.read())
        columns, rows, ignored = sheets.sheet_rows(table)
        sheets.plan_import(db.session, columns, rows)  # refuses a file without data rows
    except spreadsheets.SpreadsheetError as exc:
        return _upload_page(form, {"file": str(exc)}, 422)
    except DomainError as exc:
        return _upload_page(form, {"file": next(iter(exc.errors.values()))}, 422)
    finally:
        db.session.rollback()
    payload = sheets.rows_to_store(columns, rows)
    payload.update(filename=upload.filename[:200], ignored=ignored)
    token = staging.stage_json(current_app.instance_path, IMPORT_KIND, current_user.id, payload, max_age=IMPORT_MAX_AGE)
    return redirect(url_for("admin.units_import_preview", token=token))


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge):
    """A friendly page for an upload above the size limit, with the limit stated."""
    message = _("文件太大：最大 %(size)s。请删去不需要的工作表或列，或分批导入。", size=_limit_text())
    if request.endpoint == "admin.units_import":
        return _upload_page(UploadForm(formdata=None), {"file": message}, 413)
    return render_template("errors/error.html", status=413, title=_("文件太大"), message=message), 413


def _stored(token: str, *, confirming: bool = False) -> dict:
    """The staged rows; a confirmation takes them (a token confirms once), the preview only reads them."""
    read = staging.take_json if confirming else staging.load_json
    payload = read(current_app.instance_path, token, IMPORT_KIND, current_user.id)
    if payload is None:
        flash(_("导入预览已过期或不存在，请重新上传文件。"), "error")
    return payload


@bp.route("/units/import/<token>", methods=["GET"])
@analyst_only
def units_import_preview(token: str):
    """Step 2: every row with its status and problem, and the summary; nothing written yet."""
    payload = _stored(token)
    if payload is None:
        return redirect(url_for("admin.units_import"))
    columns, rows = sheets.rows_from_store(payload)
    try:
        plan = sheets.plan_import(db.session, columns, rows)
    except DomainError as exc:
        flash(next(iter(exc.errors.values())), "error")
        return redirect(url_for("admin.units_import"))
    finally:
        db.session.rollback()
    return _preview_page(plan, payload, token)


def _preview_page(plan: sheets.ImportPlan, payload: dict, token: str, status: int = 200):
    show = request.args.get("show", "")
    rows = [r for r in plan.rows if r.status == show] if show in ("new", "changed", "unchanged", "error") else plan.rows
    return render_template(
        "admin/setup/units/preview.html", plan=plan, rows=rows, show=show, token=token,
        filename=payload.get("filename"), ignored=payload.get("ignored", []), form=UploadForm(formdata=None),
        labels=sheets.LABELS,
    ), status


@bp.route("/units/import/<token>", methods=["POST"])
@analyst_only
def units_import_confirm(token: str):
    """Step 3: re-check against the database as it is now, then write everything or nothing."""
    payload = _stored(token, confirming=True)
    if payload is None:
        return redirect(url_for("admin.units_import"))
    columns, rows = sheets.rows_from_store(payload)

    def apply() -> dict[str, int]:
        plan = sheets.plan_import(db.session, columns, rows)
        if not plan.ok:
            raise DomainError(_("数据在预览之后有变化，文件中出现了错误。请查看下方标出的行。"))
        return sheets.apply_import(db.session, current_user, plan, payload.get("filename"))

    summary, errors = save(apply)
    if summary is None:
        flash(errors.get("", next(iter(errors.values()), "")), "error")
        plan = sheets.plan_import(db.session, columns, rows)
        db.session.rollback()
        token = staging.stage_json(current_app.instance_path, IMPORT_KIND, current_user.id, payload,
                                   max_age=IMPORT_MAX_AGE)  # the preview stays open, under a fresh token
        return _preview_page(plan, payload, token, 409)
    flash(_("导入完成：新建 %(new)d 个单位，修改 %(changed)d 个，%(unchanged)d 个未变。", **summary), "info")
    return redirect(url_for("admin.units"))
