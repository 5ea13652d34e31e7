"""Organisation settings (public address, name, time zone; deadline, 差评 level, tags) and the working-day
calendar with the bundled holiday schedules, for analysts."""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.auth.decorators import roles_required
from survey.core import clock, settings, staging
from survey.core.errors import DomainError
from survey.core.spreadsheets import SpreadsheetError, decode_text
from survey.extensions import db
from survey.models import HolidayKind, Role
from survey.services.cases import calendar

ANALYSTS = (Role.ADMIN, Role.ANALYST)
MAX_UPLOAD = 256 * 1024
CALENDAR_PURPOSE = "calendar"


@bp.route("/settings/", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def settings_index():
    values = _form_values()
    errors: dict[str, str] = {}
    if request.method == "POST":
        # Only the fields the form sent: a page without the site section changes nothing there.
        submitted = {key: request.form.get(key, "") for key in settings.SPECS if key in request.form}
        cleaned = {}
        for key, raw in submitted.items():
            try:
                cleaned[key] = settings.SPECS[key].clean(raw)
            except DomainError as exc:
                errors[key] = str(exc)
        if not errors:
            for key, value in cleaned.items():
                settings.set_value(db.session, key, value, current_user)
            db.session.commit()
            flash(_("设置已保存，立即生效。新的整改期限只对此后新开的处理件生效。"), "info")
            return redirect(url_for("admin.settings_index"))
        values = {**values, **submitted}
    return render_template(
        "admin/accounts/settings/index.html", specs=settings.SPECS, values=values, errors=errors,
        site_keys=settings.SITE_KEYS, case_keys=settings.CASE_KEYS,
        defaults={key: settings.SPECS[key].default() for key in settings.SITE_KEYS},
    ), (422 if errors else 200)


def _form_values() -> dict:
    """The case settings as they apply; the site settings as stored (blank = the environment's default)."""
    values = settings.all_values(db.session)
    for key in settings.SITE_KEYS:
        values[key] = settings.stored(db.session, key) or ""
    return values


def _year_arg() -> int:
    raw = request.values.get("year", "")
    year = int(raw) if raw.isdigit() and len(raw) == 4 else clock.org_today().year
    return min(max(year, 2000), 2100)


@bp.route("/calendar/")
@roles_required(*ANALYSTS)
def calendar_index(status: int = 200):
    year = _year_arg()
    days = calendar.days_in_year(db.session, year)
    years = sorted(set(calendar.years_listed(db.session)) | {year, clock.org_today().year})
    return render_template("admin/accounts/settings/calendar.html", year=year, days=days, years=years,
                           bundled=year in calendar.bundled_years() and not days), status


@bp.route("/calendar/bundled", methods=["POST"])
@roles_required(*ANALYSTS)
def calendar_bundled():
    """One click installs the schedule shipped with Pingyi for a year the calendar does not list yet."""
    raw = request.form.get("year", "")
    year = int(raw) if raw.isdigit() and len(raw) == 4 else 0
    save(lambda: calendar.install_bundled(db.session, current_user, [year]),
                         success=lambda installed: (_("已导入内置的 %(y)d 年放假安排（%(n)d 天）。", y=year, n=installed[year])
                                                    if installed else _("%(y)d 年已有安排，未改动。", y=year)),
                         flash_errors=True)
    return redirect(url_for("admin.calendar_index", year=year) if year else url_for("admin.calendar_index"))


@bp.route("/calendar/day", methods=["POST"])
@roles_required(*ANALYSTS)
def calendar_set():
    try:
        day = dt.date.fromisoformat((request.form.get("day") or "").strip())
    except ValueError:
        flash(_("请填写日期（如 2026-10-01）。"), "error")
        return calendar_index(status=422)
    kind = request.form.get("kind")
    if kind not in {k.value for k in HolidayKind}:
        flash(_("请选择类型。"), "error")
        return calendar_index(status=422)
    _done, errors = save(lambda: calendar.set_day(db.session, day, kind, request.form.get("name"), current_user),
                         success=_("已保存 %(day)s。", day=day.isoformat()), flash_errors=True)
    if errors:
        return calendar_index(status=422)
    return redirect(url_for("admin.calendar_index", year=day.year))


@bp.route("/calendar/remove", methods=["POST"])
@roles_required(*ANALYSTS)
def calendar_remove():
    try:
        day = dt.date.fromisoformat((request.form.get("day") or "").strip())
    except ValueError:
        flash(_("请填写日期（如 2026-10-01）。"), "error")
        return calendar_index(status=422)
    if calendar.remove_day(db.session, day, current_user):
        db.session.commit()
        flash(_("已删除 %(day)s，恢复为普通的工作日或周末。", day=day.isoformat()), "info")
    return redirect(url_for("admin.calendar_index", year=day.year))


@bp.route("/calendar/import", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def calendar_import():
    """Upload or paste ``date,kind,name`` rows, see every row checked, then confirm.

    The checked text is staged; the confirmation carries only its token (once), never the text.
    """
    text = ""
    preview = None
    staged = None
    if request.method == "POST" and request.form.get("confirm") == "1":
        return _calendar_confirm()
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            data = upload.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                flash(_("文件太大（最多 256 KB）。"), "error")
                return render_template("admin/accounts/settings/calendar_import.html", text="", preview=None), 422
            try:
                text = decode_text(data)
            except SpreadsheetError as exc:
                flash(str(exc), "error")
                return render_template("admin/accounts/settings/calendar_import.html", text="", preview=None), 422
        else:
            text = request.form.get("text", "")
            if len(text) > MAX_UPLOAD:  # refused, never cut: a cut text would import only its first part
                flash(_("文件太大（最多 256 KB）。"), "error")
                return render_template("admin/accounts/settings/calendar_import.html", text="", preview=None), 422
        preview = calendar.parse_calendar_csv(text)
        if preview.ok:
            staged = staging.stage(current_app.instance_path, CALENDAR_PURPOSE, current_user.id, text.encode("utf-8"))
    return render_template("admin/accounts/settings/calendar_import.html", text=text, preview=preview,
                           staged=staged), (422 if preview is not None and not preview.ok else 200)


def _calendar_confirm():
    """Import the staged text, checked again; a stale, foreign or used token imports nothing."""
    data = staging.take(current_app.instance_path, request.form.get("staged", ""), CALENDAR_PURPOSE, current_user.id)
    preview = calendar.parse_calendar_csv(data.decode("utf-8")) if data is not None else None
    if preview is None or not preview.ok:
        flash(_("导入预览已过期或不存在，请重新上传文件。"), "error")
        return render_template("admin/accounts/settings/calendar_import.html", text="", preview=None), 422
    count = calendar.import_calendar(db.session, preview, current_user, replace_years=request.form.get("replace") == "1")
    db.session.commit()
    flash(_("已导入 %(n)d 天。", n=count), "info")
    return redirect(url_for("admin.calendar_index", year=preview.years[0]))
