"""Accounts and the demo: ``flask create-user``, ``flask seed-demo``, ``flask show-access``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import Flask

from survey.core.errors import DomainError
from survey.extensions import db

DEMO_LOGINS = "demo-logins.txt"


def _read_password(prompt: str = "密码 / Password") -> str:
    """Prompt twice on a terminal; read one line from standard input otherwise (scripts, CI)."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["admin", "analyst", "unit", "desk"]), required=True,
                  help="admin 管理员, analyst 绩效办分析员, unit 单位联络员, desk 窗口人员")
    @click.option("--unit", "unit_code", help="单位代码 (unit and desk roles)")
    @click.option("--name", "display_name", help="显示名称")
    def create_user_command(username: str, role: str, unit_code: str | None, display_name: str | None) -> None:
        """Create a staff account; the password is prompted, or read from standard input."""
        from survey.services.accounts.users import create_user

        password = _read_password()
        try:
            user = create_user(db.session, username, password, role, unit_code=unit_code, display_name=display_name)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        click.echo(f"已创建用户 {user.username}（{user.role.value}）")

    @app.cli.command("seed-demo")
    @click.option("--responses", default=3000, show_default=True, help="答卷数 / number of demo responses")
    @click.option("--seed", default=2026, show_default=True, help="随机种子 / random seed")
    @click.option("--if-empty", is_flag=True, help="只在数据库为空时载入 / only when the database has no units")
    def seed_demo_command(responses: int, seed: int, if_empty: bool) -> None:
        """Load a realistic demo: units, groups, two questionnaires, open campaigns, responses, users."""
        from survey.services.demo.seed import DemoError, database_is_empty, seed_demo

        if if_empty and not database_is_empty(db.session):
            click.echo("数据库已有数据，跳过演示数据。")
            _install_calendar()
            return
        try:
            summary = seed_demo(db.session, responses=responses, seed=seed)
        except DemoError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"演示数据已载入：{summary.units} 个单位，{summary.campaigns} 个评议活动，"
            f"{summary.responses} 份答卷，{summary.comments} 条意见。"
        )
        for username, password, role in summary.credentials:
            click.echo(f"  {role:8s} 用户名 {username}  密码 {password}")
        lines = [f"{role}\t{username}\t{password}" for username, password, role in summary.credentials]
        path = Path(app.instance_path) / DEMO_LOGINS
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        click.echo(f"演示账号已写入 {path}")

    def _install_calendar() -> None:
        """The first run of an install without the demo still gets the bundled holiday schedules
        (only years the calendar does not list yet)."""
        from survey.services.cases.calendar import install_bundled

        installed = install_bundled(db.session, None)
        db.session.commit()
        for year, days in installed.items():
            click.echo(f"已安装内置的 {year} 年节假日安排（{days} 天）。")

    @app.cli.command("show-access")
    @click.option("--url", default="http://127.0.0.1:8000", show_default=True)
    def show_access_command(url: str) -> None:
        """Print where to go and how to sign in (the demo accounts, when the demo was loaded)."""
        click.echo("")
        click.echo(f"  Pingyi 评议  {url}/")
        click.echo(f"  市民问卷 / citizens:      {url}/")
        click.echo(f"  工作人员登录 / staff:      {url}/login")
        path = Path(app.instance_path) / DEMO_LOGINS
        if path.exists():
            click.echo("  演示账号 / demo accounts (角色 用户名 密码):")
            for line in path.read_text(encoding="utf-8").splitlines():
                click.echo("    " + line.replace("\t", "  "))
        else:
            click.echo("  创建账号 / create an account:  .venv/bin/flask --app wsgi create-user NAME --role admin")
        click.echo("")
