"""Importing phone, paper or exported responses: ``flask --app wsgi import-responses CAMPAIGN FILE``."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from survey.cli.posters import find_campaign
from survey.extensions import db
from survey.services.responses.imports import common, reader, writer

SHOWN_PROBLEMS = 200


def register(app: Flask) -> None:
    @app.cli.command("import-responses")
    @click.argument("campaign")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--channel", help="默认渠道：paper/纸质、phone/电话、imported/外部（“渠道”列空白时使用）；"
                                    "活动只开通其中一个时可省略 / default channel")
    @click.option("--dry-run", is_flag=True, help="只检查，不写入 / check only, write nothing")
    def import_responses_command(campaign: str, file: Path, channel: str | None, dry_run: bool) -> None:
        """Import the responses in FILE (.xlsx or .csv, the import template's columns) into CAMPAIGN.

        Every row is checked first; any problem is printed with its row and column, nothing is
        written and the exit status is 1. Rows whose 答卷编号 was imported before are skipped.
        """
        found = find_campaign(campaign)
        if found is None:
            raise click.ClickException(f"找不到评议活动 {campaign!r}（请输入活动短码或编号）。")
        if channel is None:
            allowed = common.allowed_channels(found)
            if len(allowed) != 1:
                names = "、".join(c.value for c in allowed) or "—"
                raise click.ClickException(f"请用 --channel 指定默认渠道（本活动开通：{names}）。")
            channel = allowed[0].value
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"无法读取 {file}：{exc.strerror or exc}") from exc
        try:
            checked = reader.preview(db.session, found, data, channel, filename=file.name)
        except common.ResponseImportError as exc:
            raise click.ClickException(str(exc)) from exc
        for line in writer.problem_lines(checked, SHOWN_PROBLEMS):
            click.echo(line, err=True)
        if len(checked.problems) > SHOWN_PROBLEMS:
            click.echo(f"……另有 {len(checked.problems) - SHOWN_PROBLEMS} 个问题未列出。", err=True)
        for header in checked.ignored_columns:
            click.echo(f"已忽略不是本问卷题目的列：{header}", err=True)
        if checked.problems:
            click.echo(f"共 {checked.total_rows} 行，发现 {len(checked.problems)} 个问题，没有导入任何答卷。", err=True)
            raise SystemExit(1)
        summary = f"共 {checked.total_rows} 行、{len(checked.respondents)} 份答卷：" \
                  f"{len(checked.new)} 份新答卷，{len(checked.skipped)} 份此前已导入（跳过）。"
        if dry_run or not checked.new:
            click.echo(summary + ("（试运行，没有写入）" if dry_run else ""))
            return
        try:
            stored = writer.write(db.session, found, checked, None)
        except common.ResponseImportError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(summary + f"已导入 {stored} 份。")
