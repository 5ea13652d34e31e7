"""Backup and restore from the command line.

``flask --app wsgi export-all -o backup.tar.gz`` writes every table into one archive while
the site runs; ``flask --app wsgi import-all backup.tar.gz`` restores it into an empty
database migrated to the same schema revision (``flask db upgrade`` first).
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from survey.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("export-all")
    @click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="备份文件 (.tar.gz) / archive to write")
    def export_all_command(output: Path) -> None:
        """Write the whole database (every table, one consistent snapshot) into one .tar.gz archive."""
        from survey.core import audit
        from survey.models import utcnow
        from survey.services.ops.backup import BackupError, export_all

        if not output.parent.exists():
            raise click.ClickException(f"目录不存在：{output.parent}")
        try:
            summaries = export_all(db.session, output)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        total = sum(s.rows for s in summaries)
        audit.record(db.session, None, "backup.export", None, f"导出全部数据 {total} 行",
                     rows=total, at=utcnow().isoformat())
        db.session.commit()
        click.echo(f"已写入 {output}：{len(summaries)} 个表，共 {total} 行。")
        for summary in summaries:
            if summary.rows:
                click.echo(f"  {summary.name:20s} {summary.rows:>10d}")

    @app.cli.command("import-all")
    @click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def import_all_command(archive: Path) -> None:
        """Restore an export-all archive into this (empty, migrated) database; all or nothing."""
        from survey.services.ops.backup import BackupError, import_all

        try:
            summaries = import_all(db.session, archive)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        total = sum(s.rows for s in summaries)
        click.echo(f"已从 {archive} 导入 {len(summaries)} 个表，共 {total} 行。")
