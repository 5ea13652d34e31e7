"""Cases from the command line: ``flask --app wsgi cases backfill|overdue|import-calendar|purge-contacts``."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from survey.core.errors import DomainError
from survey.extensions import db

cases_cli = AppGroup("cases", help="意见与差评处理件 / comment and 差评 cases")


@cases_cli.command("backfill")
@click.option("--campaign", "campaign_code", help="只处理这个评议活动（短码）/ only this campaign (short code)")
@click.option("--restart-deadlines", is_flag=True,
              help="期限从今天起算，而不是从提交日 / count deadlines from today instead of the submission day")
def backfill_command(campaign_code: str | None, restart_deadlines: bool) -> None:
    """Open the cases that existing responses call for (responses stored before cases existed)."""
    from survey.services.cases.batch import backfill

    try:
        result = backfill(db.session, campaign_code=campaign_code, restart_deadlines=restart_deadlines)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"检查了 {result.responses} 份答卷，新开 {result.opened} 个处理件（其中差评 {result.bad_ratings} 个）。")


@cases_cli.command("overdue")
@click.option("--days-ahead", default=3, show_default=True, help="同时列出几天内到期的 / also list cases due within N days")
def overdue_command(days_ahead: int) -> None:
    """The daily report: overdue and soon-due cases per unit (for a cron job's mail)."""
    from survey.core.clock import org_today
    from survey.services.cases.batch import overdue_report

    today = org_today()
    rows = overdue_report(db.session, today, days_ahead)
    click.echo(f"{today.isoformat()} 超期与即将到期的处理件")
    if not rows:
        click.echo("  没有超期或即将到期的处理件。")
        return
    for row in rows:
        click.echo(f"  {row.unit_code:10s} {row.unit_name}  超期 {row.overdue} 件  {days_ahead} 天内到期 {row.due_soon} 件"
                   + (f"  最早期限 {row.oldest_due.isoformat()}" if row.oldest_due else ""))


@cases_cli.command("import-calendar")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace-year", is_flag=True, help="替换文件所涉年份的已有安排 / replace those years' entries")
def import_calendar_command(path: Path, replace_year: bool) -> None:
    """Import a year's holiday schedule: CSV rows ``date,kind,name`` (kind holiday/休 or workday/班)."""
    from survey.core.spreadsheets import SpreadsheetError, decode_text
    from survey.services.cases.calendar import import_calendar, parse_calendar_csv

    try:
        text = decode_text(path.read_bytes())
    except SpreadsheetError as exc:
        raise click.ClickException(str(exc)) from exc
    preview = parse_calendar_csv(text)
    if not preview.ok:
        for row in preview.bad:
            click.echo(f"  第 {row.line} 行：{row.error}", err=True)
        raise click.ClickException(preview.error or f"{len(preview.bad)} 行有错误，未导入任何内容。")
    count = import_calendar(db.session, preview, None, replace_years=replace_year)
    db.session.commit()
    click.echo(f"已导入 {count} 天（{', '.join(map(str, preview.years))} 年）。")


@cases_cli.command("purge-contacts")
def purge_contacts_command() -> None:
    """Delete follow-up phone numbers whose retention has ended (run daily)."""
    from survey.models import utcnow
    from survey.services.cases.batch import purge_expired_contacts

    removed = purge_expired_contacts(db.session, utcnow())
    db.session.commit()
    click.echo(f"已删除 {removed} 个到期的回访电话。")


def register(app: Flask) -> None:
    app.cli.add_command(cases_cli)

