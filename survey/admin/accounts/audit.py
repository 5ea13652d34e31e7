"""The audit log for analysts and administrators: filter, page through, export."""
from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.auth.decorators import roles_required
from survey.core import audit
from survey.core.clock import org_timezone, org_today
from survey.core.spreadsheets import CSV_MIME, XLSX_MIME, to_csv, to_xlsx
from survey.extensions import db
from survey.models import Role, User


@bp.route("/audit/")
@roles_required(Role.ADMIN, Role.ANALYST)
def audit_log():
    f = audit.AuditFilter.from_args(request.args)
    page = audit.search(db.session, f, org_timezone())
    return render_template(
        "admin/accounts/audit/list.html", f=f, page=page, actions=audit.known_actions(db.session),
        object_types=audit.known_object_types(db.session),
        users=list(db.session.scalars(select(User).order_by(User.username))), tz=org_timezone(),
    )


@bp.route("/audit/export.<fmt>")
@roles_required(Role.ADMIN, Role.ANALYST)
def audit_export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = audit.AuditFilter.from_args(request.args)
    rows = audit.export_rows(db.session, f, org_timezone())
    if fmt == "csv":
        data, mime = to_csv(audit.EXPORT_HEADER, rows), CSV_MIME
    else:
        data, mime = to_xlsx(audit.EXPORT_HEADER, rows, sheet_title=_("审计日志")), XLSX_MIME
    audit.record(db.session, current_user, "audit.export", None, f"导出审计日志 {len(rows)} 条", filter=f.as_args())
    db.session.commit()
    stamp = org_today().strftime("%Y%m%d")
    return current_app.response_class(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename=audit-{stamp}.{fmt}"})
