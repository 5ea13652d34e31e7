"""Results from the command line: ``flask --app wsgi compute``, ``tally`` and ``verify-snapshot``.

``compute`` does what the analyst's 计算 button does (a draft snapshot with everything it
depends on), optionally publishes it and writes the Excel export; long phases show a
progress bar. Errors are one clear line and a non-zero exit status.

Publishing from the command line is as deliberate as on the page: ``--publish`` (or
``--public``) always prints what becomes official and every warning, and publishes only
with ``--yes``; without it the draft is kept, nothing is published and the exit status is 1.
When the campaign already has an official result, publishing is a correction and needs
``--reason``.

``tally`` does, for every campaign not in draft, what a view of the fieldwork monitor does: it tallies the
responses stored since and packs their answers for the computation, so that a period's computation at its
end does not pack a million at once. Run it from cron every few minutes while fieldwork runs.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from survey.core import labels
from survey.extensions import db

PHASES = {"load": "读取答卷 loading", "compute": "计算 computing", "write": "保存 writing"}


def register(app: Flask) -> None:
    @app.cli.command("compute")
    @click.option("--campaign", "campaign_code", required=True, help="评议活动短码 / campaign short code")
    @click.option("--period", help="核对期次（与活动的期次不符时报错）/ check the campaign's period")
    @click.option("--include-flagged", is_flag=True, default=None, help="计入存疑答卷 / count flagged responses")
    @click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="把结果导出为 .xlsx / write the Excel export here")
    @click.option("--publish", is_flag=True, help="发布为正式结果 / publish as the official result")
    @click.option("--public", is_flag=True, help="发布并向公众公开（需活动开启公开）/ publish and show publicly")
    @click.option("--yes", "--confirm", "confirmed", is_flag=True,
                  help="确认发布（已核对列出的提示）/ confirm publishing after the warnings printed")
    @click.option("--reason", help="更正原因（活动已有正式结果时必填）/ why an official result is corrected")
    @click.option("--note", help="备注 / a note stored with the snapshot")
    def compute_command(campaign_code: str, period: str | None, include_flagged: bool | None,
                        export_path: Path | None, publish: bool, public: bool, confirmed: bool, reason: str | None,
                        note: str | None) -> None:
        """Compute a campaign's results into a new snapshot (and optionally publish and export it)."""
        from survey.core import codes
        from survey.models import Campaign
        from survey.services.results import exports, snapshots

        code = codes.normalise(campaign_code or "")
        campaign = db.session.scalar(select(Campaign).where(Campaign.short_code == code)) if code else None
        if campaign is None:
            raise click.ClickException(f"没有短码为 {campaign_code} 的评议活动。")
        if period and period != campaign.period:
            raise click.ClickException(f"活动 {campaign.short_code} 的期次是 {campaign.period}，不是 {period}。")
        if export_path is not None and export_path.suffix.lower() != ".xlsx":
            raise click.ClickException("导出文件应以 .xlsx 结尾。")
        if public and not campaign.public_results:
            raise click.ClickException("该评议活动未开启“向公众公布结果”，不能公开。")
        with click.progressbar(length=snapshots.STEPS, label="计算 / computing", show_eta=False,
                               item_show_func=lambda phase: PHASES.get(phase or "", "")) as bar:
            done = [0]

            def progress(phase: str, step: int, _total: int) -> None:
                if step > done[0]:
                    bar.update(step - done[0], phase)
                    done[0] = step
                else:
                    bar.update(0, phase)

            timings: dict[str, float] = {}
            try:
                snapshot = snapshots.compute_snapshot(db.session, campaign, None, include_flagged=include_flagged,
                                                    note=note, timings=timings, progress=progress)
                review = snapshots.review(db.session, snapshot) if publish or public else None
                if review is not None and confirmed:
                    snapshots.publish(db.session, snapshot, None, public=public, reason=reason)
            except snapshots.ResultsError as exc:
                db.session.rollback()
                raise click.ClickException(str(exc)) from exc
            db.session.commit()
        if review is not None:
            _print_review(review, public)
        summary = snapshot.summary or {}
        click.echo(f"结果 #{snapshot.id}（{labels.label('snapshot_status', snapshot.status)}）：{campaign.title} {campaign.period}，"
                   f"{summary.get('responses', 0)} 份答卷，{summary.get('units', 0)} 个单位；"
                   + "，".join(f"{k} {v:.2f} s" for k, v in timings.items()))
        if export_path is not None:
            try:
                export_path.write_bytes(exports.workbook(db.session, snapshot))
            except OSError as exc:
                raise click.ClickException(f"无法写入 {export_path}：{exc.strerror}") from exc
            click.echo(f"已导出 {export_path}")
        if review is not None and not confirmed:
            raise click.ClickException(f"未发布：草稿结果 #{snapshot.id} 已保存。核对以上提示后，加 --yes 重新运行"
                                       "（或在结果页面确认发布）。")

    def _print_review(review, public: bool) -> None:
        snapshot = review.snapshot
        click.echo(f"发布内容：{review.campaign.title}（{review.campaign.short_code}）{snapshot.period}，"
                   f"{review.units} 个单位；公众页面：{'显示' if public else '不显示'}。")
        if review.replaces is not None:
            click.echo(f"更正：将替代正式结果 #{review.replaces.id}（需 --reason）。")
        if not review.warnings:
            click.echo("提示：无。")
        for warning in review.warnings:
            click.echo(f"提示：{warning.text}")
            for unit in warning.units[:20]:
                click.echo(f"  - {unit}")
            if len(warning.units) > 20:
                click.echo(f"  … 另 {len(warning.units) - 20} 个")

    @app.cli.command("tally")
    @click.option("--campaign", "campaign_code", help="只处理此活动（短码）/ only this campaign (short code)")
    def tally_command(campaign_code: str | None) -> None:
        """Tally and pack the responses stored since the last run, for every campaign not in draft (what the
        fieldwork monitor does when viewed); from cron every few minutes while fieldwork runs."""
        from survey.cli.posters import find_campaign
        from survey.models import Campaign, CampaignStatus
        from survey.services.campaigns import fieldwork

        if campaign_code is not None:
            campaign = find_campaign(campaign_code)
            if campaign is None or campaign.status == CampaignStatus.DRAFT:
                raise click.ClickException(f"没有短码为 {campaign_code} 的评议活动（草稿不计）。")
            campaigns = [campaign]
        else:
            campaigns = list(db.session.scalars(
                select(Campaign).where(Campaign.status != CampaignStatus.DRAFT).order_by(Campaign.id)))
        for campaign in campaigns:
            tallied, packed = fieldwork.keep_up(db.session, campaign)
            if tallied or packed:
                click.echo(f"{campaign.short_code}：新统计 {tallied} 份答卷" + ("，已为计算打包" if packed else "")
                           + f" / {tallied} responses tallied" + (", packed for the computation" if packed else ""))
        click.echo(f"已检查 {len(campaigns)} 个评议活动 / {len(campaigns)} campaigns checked")

    @app.cli.command("verify-snapshot")
    @click.argument("snapshot_id", type=int)
    def verify_command(snapshot_id: int) -> None:
        """Recompute a snapshot from its stored parameters and compare every number bit for bit."""
        from survey.core.lookups import by_id
        from survey.models import Snapshot
        from survey.services.results import snapshots

        snapshot = by_id(db.session, Snapshot, snapshot_id)
        if snapshot is None:
            raise click.ClickException(f"没有编号为 {snapshot_id} 的结果。")
        outcome = snapshots.verify(db.session, snapshot, None)
        db.session.commit()
        if outcome.identical:
            click.echo(f"结果 #{snapshot_id} 复算一致（{outcome.seconds:.2f} s）。")
            return
        for line in outcome.differences[:20]:
            click.echo(f"  {line}")
        raise click.ClickException(f"结果 #{snapshot_id} 复算不一致：{len(outcome.differences)} 处差异。")
