"""``flask compute`` and ``flask verify-snapshot``."""
from __future__ import annotations

from openpyxl import load_workbook
from sqlalchemy import func, select

from survey.models import Answer, Snapshot, SnapshotStatus


def test_compute_publishes_and_exports(runner, computed, session, tmp_path):
    target = tmp_path / "result.xlsx"
    outcome = runner.invoke(args=["compute", "--campaign", computed.campaign.short_code.lower(), "--period", "2026Q4",
                                  "--publish", "--yes", "--export", str(target)])
    assert outcome.exit_code == 0, outcome.output
    assert f"结果 #{computed.snapshot.id + 1}（正式）" in outcome.output and "已导出" in outcome.output
    assert "发布内容：" in outcome.output and "3 个单位" in outcome.output
    session.expire_all()
    newest = session.scalar(select(Snapshot).order_by(Snapshot.id.desc()))
    assert newest.status == SnapshotStatus.OFFICIAL and newest.id != computed.snapshot.id
    book = load_workbook(target)
    assert book.sheetnames[:2] == ["图表", "单位得分"] and book["单位得分"].max_row == 4


def test_compute_publish_without_yes_prints_the_warnings_and_publishes_nothing(runner, computed, session):
    from survey.services.results import snapshots

    outcome = runner.invoke(args=["compute", "--campaign", computed.campaign.short_code, "--publish"])
    assert outcome.exit_code == 1 and "未发布" in outcome.output and "--yes" in outcome.output
    assert "（草稿）" in outcome.output and "draft" not in outcome.output.replace("--", "")
    session.expire_all()
    newest = session.scalar(select(Snapshot).order_by(Snapshot.id.desc()))
    assert newest.status == SnapshotStatus.DRAFT and newest.id != computed.snapshot.id  # the draft is kept
    assert session.scalar(select(func.count()).select_from(Snapshot)
                          .where(Snapshot.status == SnapshotStatus.OFFICIAL)) == 0
    for warning in snapshots.review(session, newest).warnings:
        assert f"提示：{warning.text}" in outcome.output
    assert "发布内容：" in outcome.output and "公众页面：不显示" in outcome.output
    # with --yes it publishes; a second one is a correction and needs --reason
    assert runner.invoke(args=["compute", "--campaign", computed.campaign.short_code, "--publish", "--yes"]
                         ).exit_code == 0
    first = session.scalar(select(Snapshot).where(Snapshot.status == SnapshotStatus.OFFICIAL))
    refused = runner.invoke(args=["compute", "--campaign", computed.campaign.short_code, "--publish", "--confirm"])
    assert refused.exit_code == 1 and "更正原因" in refused.output
    session.expire_all()
    assert session.scalar(select(Snapshot).where(Snapshot.status == SnapshotStatus.OFFICIAL)).id == first.id
    fixed = runner.invoke(args=["compute", "--campaign", computed.campaign.short_code, "--public", "--yes",
                                "--reason", "补录纸质问卷"])
    assert fixed.exit_code == 0, fixed.output
    assert f"更正：将替代正式结果 #{first.id}" in fixed.output and "公众页面：显示" in fixed.output
    session.expire_all()
    official = session.scalar(select(Snapshot).where(Snapshot.status == SnapshotStatus.OFFICIAL))
    assert official.corrects_id == first.id and official.correction_reason == "补录纸质问卷" and official.public


def test_compute_errors_are_one_clear_line(runner, computed, session):
    cases = [
        (["compute", "--campaign", "NOSUCH"], "没有短码为 NOSUCH"),
        (["compute", "--campaign", computed.campaign.short_code, "--period", "2025Q1"], "期次是 2026Q4"),
        (["compute", "--campaign", computed.campaign.short_code, "--export", "out.csv"], ".xlsx"),
        (["compute", "--campaign", computed.campaign.short_code, "--public"], None),
    ]
    before = session.scalar(select(func.count()).select_from(Snapshot))
    for args, message in cases[:3]:
        outcome = runner.invoke(args=args)
        assert outcome.exit_code != 0 and message in outcome.output
    assert session.scalar(select(func.count()).select_from(Snapshot)) == before
    computed.campaign.public_results = False
    session.commit()
    outcome = runner.invoke(args=cases[3][0])
    assert outcome.exit_code != 0 and "向公众公布" in outcome.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Snapshot)) == before  # rolled back, nothing half-written


def test_verify_snapshot_reports_identity_and_differences(runner, computed, session):
    ok = runner.invoke(args=["verify-snapshot", str(computed.snapshot.id)])
    assert ok.exit_code == 0 and "复算一致" in ok.output
    answer = session.scalar(select(Answer).where(Answer.level == 4).limit(1))
    answer.level = 1
    session.commit()
    changed = runner.invoke(args=["verify-snapshot", str(computed.snapshot.id)])
    assert changed.exit_code != 0 and "不一致" in changed.output
    missing = runner.invoke(args=["verify-snapshot", "999999"])
    assert missing.exit_code != 0 and "没有编号为 999999" in missing.output


def test_progress_goes_through_every_step_in_order(computed, session):
    from survey.services.results import snapshots

    seen: list[tuple[str, int, int]] = []
    snapshots.compute_snapshot(session, computed.campaign, None, progress=lambda *step: seen.append(step))
    done = [d for _p, d, _t in seen]
    assert done == sorted(done) and set(done) == set(range(snapshots.STEPS + 1))
    assert {t for _p, _d, t in seen} == {snapshots.STEPS} and seen[-1][0] == "write"
    assert [p for p, _d, _t in seen].index("compute") > [p for p, _d, _t in seen].index("load")
