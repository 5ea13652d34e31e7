"""Retention from the command line: ``flask --app wsgi retention [--dry-run]``, daily from cron."""
from __future__ import annotations

import click
from flask import Flask, current_app

from survey.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("retention")
    @click.option("--dry-run", is_flag=True, help="只统计，不删除 / count only, change nothing")
    def retention_command(dry_run: bool) -> None:
        """Delete follow-up phone numbers, fingerprints and invitation phone numbers past their retention."""
        from survey.services.ops.retention import RetentionPolicy, apply_retention

        config = current_app.config
        policy = RetentionPolicy(fingerprint_days=config["FINGERPRINT_RETENTION_DAYS"],
                                 invitation_phone_days=config["INVITATION_PHONE_RETENTION_DAYS"])
        result = apply_retention(db.session, policy, dry_run=dry_run)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        verb = "将删除" if dry_run else "已删除"
        click.echo(f"{verb}：到期回访电话 {result.contacts_expired} 个，已办结处理件的回访电话 "
                   f"{result.contacts_of_closed_cases} 个，{policy.fingerprint_days} 天前的设备指纹 "
                   f"{result.fingerprints_cleared} 个，活动结束 {policy.invitation_phone_days} 天后的邀请手机号 "
                   f"{result.invitation_phones_deleted} 个。")
