"""导入答卷: phone interviews, paper questionnaires and exports brought into a campaign.

Template → fill → upload → preview (nothing written) → confirm (all or nothing), the
rules of the citizen page, no duplicates on re-import, cases for 差评, and the CLI.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import (
    Answer,
    AuditLog,
    CampaignStatus,
    Case,
    CaseKind,
    Channel,
    GroupMode,
    Response,
    utcnow,
)
from survey.services.responses.imports import common, reader, writer
from tests.factories import csrf_from, hidden_from

TZ = ZoneInfo("Asia/Shanghai")


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def local(days_ago: int, hour: int = 10) -> dt.datetime:
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(hour, 30), tzinfo=TZ)


@pytest.fixture
def service(make):
    """A window-service campaign over two windows, open for two weeks already."""
    units = [make.unit(code="W01", name="不动产登记窗口"), make.unit(code="W02", name="社保窗口")]
    campaign = make.campaign(units=units, title="2026年四季度窗口服务评价",
                             opens_at=utcnow() - dt.timedelta(days=14))
    make.commit()
    return campaign


@pytest.fixture
def appraisal(make):
    units = [make.unit(code="JY", name="市教育局"), make.unit(code="GA", name="市公安局"),
             make.unit(code="MZ", name="市民政局")]
    campaign = make.campaign(units=units, kind="appraisal", title="2026年度万人评议机关",
                             opens_at=utcnow() - dt.timedelta(days=14))
    make.commit()
    return campaign


def upload(client, campaign, data: bytes, name: str = "答卷.xlsx", channel: str = "paper"):
    page = client.get(f"/admin/distribution/{campaign.id}/responses/import")
    return client.post(f"/admin/distribution/{campaign.id}/responses/import/preview",
                       data={"csrf_token": csrf_from(page), "channel": channel, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def confirm(client, preview):
    campaign_id = preview.request.path.split("/")[3]
    return client.post(f"/admin/distribution/{campaign_id}/responses/import/confirm",
                       data={"csrf_token": csrf_from(preview), "staged": hidden_from(preview, "staged"),
                             "channel": hidden_from(preview, "channel"), "filename": hidden_from(preview, "filename")})


def filled_template(template: bytes, rows: list[list[object]]) -> bytes:
    book = load_workbook(io.BytesIO(template))
    sheet = book.worksheets[0]
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SERVICE_HEADERS = ["答卷编号", "单位代码", "样本类别", "渠道", "提交时间",
                   "Q1 您对本次服务的整体满意度", "Q2 服务效率（等候时间、办理速度）", "Q3 服务态度（热情、耐心、文明用语）",
                   "Q4 服务水平（业务熟练、解答准确）", "Q5 办事指南和告知材料的清晰度", "Q6 办理这件事，您一共跑了几次？",
                   "Q9 您不满意的主要问题是什么？", "Q10 请说明其他问题", "Q8 您对我们的工作有什么意见和建议？（选填）"]


def good_row(respondent: str = "P001", unit: str = "W01", **changes: str) -> list[str]:
    row = dict(zip(SERVICE_HEADERS, [respondent, unit, "SM", "", "", "5", "4", "3", "5", "4", "1", "", "", ""]))
    for key, value in changes.items():
        header = next(h for h in SERVICE_HEADERS if h.split(" ")[0] == key)
        row[header] = value
    return list(row.values())


class TestRoundTrip:
    def test_template_fill_preview_confirm(self, client, auth, session, service):
        analyst = auth.login_as("analyst")
        page = client.get(f"/admin/distribution/{service.id}/")
        assert "导入答卷（电话/纸质/外部）" in page.get_data(as_text=True)
        template = client.get(f"/admin/distribution/{service.id}/responses/template.xlsx")
        assert template.status_code == 200
        book = load_workbook(io.BytesIO(template.data))
        assert [c.value for c in book.worksheets[0][1]] == SERVICE_HEADERS
        notes = [[c for c in row] for row in book["说明"].iter_rows(values_only=True)]
        assert any(r[0] == "W01" and r[1] == "不动产登记窗口" for r in notes)
        assert any("5 非常满意" in (r[2] or "") for r in notes)

        when = local(3)
        rows = [
            ["P001", "W01", "企业代表", "电话", when.replace(tzinfo=None),  # an Excel date-time cell
             "非常满意", "满意", "一般", "5", "4", "一次办成", "", "", "希望增加周末窗口"],
            ["P002", "W02", "SM", "", "", "不满意", "2", "1", "3", "不了解", "2", "办事效率", "", ""],
            ["P003", "w01", "办事群众（服务对象）", "paper", local(1).date(),  # an Excel date cell
             "5", "5", "5", "5", "5", "三次及以上", "", "", None],
        ]
        data = filled_template(template.data, rows)
        preview = upload(client, service, data, name="第三方电话访问.xlsx", channel="paper")
        html = preview.get_data(as_text=True)
        assert preview.status_code == 200, html
        assert "全部有效" in html and "3 份将导入" in html and "0 份此前已导入" in html
        assert count(session, Response) == 0  # nothing before confirmation

        done = confirm(client, preview)
        assert done.status_code == 302
        session.expire_all()
        responses = {r.submission_id: r for r in session.scalars(select(Response))}
        assert len(responses) == 3
        p1 = responses[common.submission_id_for(service, "P001")]
        p2 = responses[common.submission_id_for(service, "P002")]
        p3 = responses[common.submission_id_for(service, "P003")]
        units = {cu.unit.code: cu.unit for cu in service.campaign_units}
        groups = {g.code: g for g in _groups(session)}
        assert (p1.channel, p2.channel, p3.channel) == (Channel.PHONE, Channel.PAPER, Channel.PAPER)
        assert (p1.unit_id, p2.unit_id, p3.unit_id) == (units["W01"].id, units["W02"].id, units["W01"].id)
        assert (p1.respondent_group_id, p2.respondent_group_id, p3.respondent_group_id) == (
            groups["QY"].id, groups["SM"].id, groups["FW"].id)
        assert p1.submitted_at == when.astimezone(dt.UTC)
        assert p3.submitted_at.astimezone(TZ).date() == local(1).date() and p3.submitted_at.astimezone(TZ).hour == 12
        assert abs((p2.submitted_at - utcnow()).total_seconds()) < 120  # no time given: now
        assert all(r.fingerprint is None and r.entered_by_id == analyst.id for r in responses.values())

        def answers(response):
            return {a.question_id: a for a in session.scalars(select(Answer).where(Answer.response_id == response.id))}

        questions = {q.code: q for q in service.questionnaire.questions}
        a1 = answers(p1)
        assert [a1[questions[c].id].level for c in ("Q1", "Q2", "Q3", "Q4", "Q5")] == [5, 4, 3, 5, 4]
        assert a1[questions["Q6"].id].option_id == questions["Q6"].options[0].id
        assert a1[questions["Q8"].id].text == "希望增加周末窗口"
        assert all(a.unit_id == units["W01"].id for a in a1.values())
        a2 = answers(p2)
        assert a2[questions["Q5"].id].dont_know and a2[questions["Q5"].id].level is None
        assert a2[questions["Q6"].id].option_id == questions["Q6"].options[1].id  # by position
        assert answers(p3)[questions["Q6"].id].option_id == questions["Q6"].options[2].id

        cases = list(session.scalars(select(Case).order_by(Case.id)))
        assert {(c.response_id, c.kind, c.unit_id) for c in cases} == {
            (p1.id, CaseKind.COMMENT, units["W01"].id), (p2.id, CaseKind.BAD_RATING, units["W02"].id)}
        assert all(c.opened_on == org_today() for c in cases)  # the deadline counts from the import day

        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "response.import"))
        assert entry.user_id == analyst.id and "第三方电话访问.xlsx" in entry.summary
        assert entry.detail["count"] == 3 and entry.detail["channels"] == {"phone": 1, "paper": 2}
        assert entry.detail["file"] == "第三方电话访问.xlsx"

        # The same file again: every respondent is already there and is skipped.
        again = upload(client, service, data)
        html = again.get_data(as_text=True)
        assert again.status_code == 422 and "3 份此前已导入" in html and 'name="staged"' not in html
        # A file repeating one imported 答卷编号 (in another case) and a new one: one stored, one skipped.
        slashed = good_row("P004")
        slashed[4] = local(2).strftime("%Y/%m/%d")
        more = upload(client, service, csv_bytes([SERVICE_HEADERS, good_row("p001"), slashed]), "more.csv")
        assert more.status_code == 200 and "1 份将导入" in more.get_data(as_text=True)
        assert confirm(client, more).status_code == 302
        assert count(session, Response) == 4
        # Confirming the same preview twice stores nothing more.
        assert confirm(client, more).status_code == 422 and count(session, Response) == 4

    def test_csv_template_in_gbk(self, client, auth, session, service):
        auth.login_as("analyst")
        template = client.get(f"/admin/distribution/{service.id}/responses/template.csv")
        assert template.status_code == 200 and template.data.startswith("\ufeff".encode())
        assert "charset=utf-8" in template.headers["Content-Type"]
        headers = next(csv.reader(io.StringIO(template.data.decode("utf-8-sig"))))
        assert headers == SERVICE_HEADERS
        data = csv_bytes([headers, good_row("A-1"), good_row("A-2", unit="社保窗口")], encoding="gb18030")
        preview = upload(client, service, data, "答卷.csv")
        assert preview.status_code == 200, preview.get_data(as_text=True)
        assert confirm(client, preview).status_code == 302
        assert count(session, Response) == 2

    def test_preset_group_campaign_has_no_group_column(self, client, auth, session, make):
        group = make.groups()["RD"]
        campaign = make.campaign(units=[make.unit(code="ONE")], group_mode=GroupMode.PRESET, preset_group=group,
                                 channels=[Channel.WEB.value, Channel.PHONE.value])
        make.commit()
        auth.login_as("analyst")
        headers = next(csv.reader(io.StringIO(client.get(
            f"/admin/distribution/{campaign.id}/responses/template.csv").data.decode("utf-8-sig"))))
        assert "样本类别" not in headers and headers[:4] == ["答卷编号", "单位代码", "渠道", "提交时间"]
        row = dict(zip(SERVICE_HEADERS, good_row()))
        row.pop("样本类别")
        row["单位代码"] = ""  # one unit: the code may be left out
        preview = upload(client, campaign, csv_bytes([headers, list(row.values())]), "x.csv", channel="phone")
        assert preview.status_code == 200, preview.get_data(as_text=True)
        confirm(client, preview)
        response = session.scalars(select(Response)).one()
        assert response.respondent_group_id == group.id and response.channel == Channel.PHONE


def _groups(session):
    from survey.models import RespondentGroup

    return list(session.scalars(select(RespondentGroup)))


class TestBadRows:
    def test_every_problem_is_reported_with_row_and_column_and_nothing_is_written(self, client, auth, session,
                                                                                   make, service):
        auth.login_as("analyst")
        service.channels = [Channel.WEB.value, Channel.PAPER.value, Channel.PHONE.value]
        make.commit()
        rows = [
            SERVICE_HEADERS,
            good_row("OK1"),                                        # 2: fine
            good_row("", ),                                         # 3: no respondent id
            good_row("B4", unit="NOPE"),                            # 4: unit not in campaign
            good_row("B5", Q1="很好"),                              # 5: not a level
            good_row("B6", Q1=""),                                  # 6: required question empty
            good_row("B7", Q6="七次"),                              # 7: not an option
            good_row("B8", Q8="长" * 501),                          # 8: over the question's limit
            good_row("B9", Q2="满\x00意"),                          # 9: NUL
            good_row("OK1"),                                        # 10: duplicate respondent id
            good_row("B11", Q3="6"),                                # 11: level out of range
        ]
        rows.append(good_row("B12")); rows[-1][2] = "外星人"          # 12: unknown group
        rows.append(good_row("B13")); rows[-1][3] = "外部"            # 13: channel not allowed
        rows.append(good_row("B14")); rows[-1][3] = "短信"            # 14: not a channel
        rows.append(good_row("B15")); rows[-1][4] = "2020-01-01"      # 15: before the campaign
        rows.append(good_row("B16")); rows[-1][4] = local(-2).strftime("%Y-%m-%d %H:%M")  # 16: future
        rows.append(good_row("B17")); rows[-1][4] = "下周二"          # 17: not a date
        rows.append(good_row("13800138000"))                         # 18: a phone number as id
        checked = reader.preview(session, service, csv_bytes(rows), "paper")
        found = {(p.line, p.column): p.message for p in checked.problems}
        expected = {
            (3, "答卷编号"): "缺少答卷编号",
            (4, "单位代码"): "不在本活动中",
            (5, SERVICE_HEADERS[5]): "不是满意度选项",
            (6, SERVICE_HEADERS[5]): "请回答此题",
            (7, SERVICE_HEADERS[10]): "不是本题的选项",
            (8, SERVICE_HEADERS[13]): "最多 500 个字",
            (9, SERVICE_HEADERS[6]): "控制字符",
            (10, "答卷编号"): "与第 2 行重复",
            (11, SERVICE_HEADERS[7]): "不是满意度选项",
            (12, "样本类别"): "不存在",
            (13, "渠道"): "没有开通“外部导入”",
            (14, "渠道"): "无效",
            (15, "提交时间"): "早于活动开始",
            (16, "提交时间"): "不能晚于",
            (17, "提交时间"): "不是日期时间",
            (18, "答卷编号"): "手机号",
        }
        for where, text in expected.items():
            assert where in found, f"{where} not reported; got {sorted(found)}"
            assert text in found[where], (where, found[where])
        assert not any(p.line == 2 for p in checked.problems)
        assert not checked.ok

        preview = upload(client, service, csv_bytes(rows), "bad.csv")
        html = preview.get_data(as_text=True)
        assert preview.status_code == 422 and "没有导入任何答卷" in html and 'name="staged"' not in html
        assert "不是满意度选项" in html and "Q1 您对本次服务的整体满意度" in html
        assert count(session, Response) == 0 and count(session, AuditLog) == 0

    def test_missing_columns_and_unreadable_files(self, client, auth, session, service):
        auth.login_as("analyst")
        checked = reader.preview(session, service, csv_bytes([["单位代码", "Q1"], ["W01", "5"]]), "paper")
        messages = {(p.line, p.column): p.message for p in checked.problems}
        assert "找不到“答卷编号”列" in messages[(1, "答卷编号")]
        assert "必答题" in messages[(1, SERVICE_HEADERS[6])]  # Q2 … are required and missing
        for data, text in ((b"", "文件是空的"), (b"\xd0\xcf\x11\xe0old", "旧版 Excel"),
                           (b"PK\x03\x04broken", "无法读取这个 Excel")):
            reply = upload(client, service, data, "x.xlsx")
            assert reply.status_code == 422 and text in reply.get_data(as_text=True)
        page = client.get(f"/admin/distribution/{service.id}/responses/import")
        no_file = client.post(f"/admin/distribution/{service.id}/responses/import/preview",
                              data={"csrf_token": csrf_from(page), "channel": "paper"})
        assert no_file.status_code == 422 and "请选择要上传的答卷文件" in no_file.get_data(as_text=True)
        too_many = csv_bytes([["答卷编号"]] + [[f"R{i}"] for i in range(common.WEB_MAX_ROWS + 1)])
        reply = upload(client, service, too_many, "big.csv")
        html = reply.get_data(as_text=True)
        assert reply.status_code == 422 and "文件超过 5000 行，这里一次最多导入 5000 行" in html
        far_too_many = csv_bytes([["答卷编号"]] + [[f"R{i}"] for i in range(common.MAX_ROWS + 1)])
        with pytest.raises(common.ResponseImportError, match="超过 20000 行"):
            reader.preview(session, service, far_too_many, "paper")
        assert count(session, Response) == 0

    def test_unknown_columns_are_named_and_ignored(self, session, service):
        checked = reader.preview(session, service, csv_bytes([SERVICE_HEADERS + ["访问员"], good_row() + ["王"]]),
                                          "paper")
        assert checked.ok and checked.ignored_columns == ["访问员"]
        # A firm's own sheet: the unit's name beside its code, the group as the questionnaire's question.
        headers = ["单位", "编号"] + SERVICE_HEADERS[:2] + ["Q7 您的身份"] + SERVICE_HEADERS[3:]
        row = ["不动产登记窗口", "1", "P9", "W01", "企业代表"] + good_row()[3:]
        checked = reader.preview(session, service, csv_bytes([headers, row]), "paper")
        assert checked.ok, checked.problems
        assert checked.ignored_columns == ["单位", "编号"]
        assert checked.new[0].key == "P9" and checked.new[0].group.code == "QY"
        doubled = reader.preview(session, service, csv_bytes([SERVICE_HEADERS + ["答卷编号"],
                                                                       good_row() + ["x"]]), "paper")
        assert [(p.line, p.column) for p in doubled.problems] == [(1, "答卷编号")]
        assert "与第 1 列重复" in doubled.problems[0].message

    def test_a_forged_staging_token_is_refused(self, client, auth, session, service):
        auth.login_as("analyst")
        page = client.get(f"/admin/distribution/{service.id}/responses/import")
        for staged in ("../../secret_key", "nope", ""):
            reply = client.post(f"/admin/distribution/{service.id}/responses/import/confirm",
                                data={"csrf_token": csrf_from(page), "staged": staged, "channel": "paper"})
            assert reply.status_code == 422 and "预览已过期" in reply.get_data(as_text=True)
        assert count(session, Response) == 0


class TestAppraisal:
    HEADERS: ClassVar[list[str]] = ["答卷编号", "单位代码", "样本类别", "渠道", "提交时间",
               "A1 工作作风（廉洁勤政、不推诿扯皮）", "A2 服务质量（办事效率、服务态度）", "A3 依法办事、政务公开",
               "A4 总体评价", "A5 对该单位的意见建议（选填）"]

    def test_one_response_per_respondent_with_several_units(self, client, auth, session, appraisal):
        auth.login_as("analyst")
        headers = next(csv.reader(io.StringIO(client.get(
            f"/admin/distribution/{appraisal.id}/responses/template.csv").data.decode("utf-8-sig"))))
        assert headers == self.HEADERS  # the group question is the 样本类别 column
        rows = [headers,
                ["R1", "JY", "QY", "电话", "", "5", "4", "4", "5", ""],
                ["R2", "MZ", "RD", "电话", "", "1", "2", "3", "2", "办事推诿"],
                ["R1", "GA", "QY", "电话", "", "3", "不了解", "3", "3", ""]]
        preview = upload(client, appraisal, csv_bytes(rows), "万人评议.csv", channel="phone")
        html = preview.get_data(as_text=True)
        assert preview.status_code == 200, html
        assert "共 3 行、2 份答卷" in html and "2 份将导入" in html
        confirm(client, preview)
        session.expire_all()
        responses = {r.submission_id: r for r in session.scalars(select(Response))}
        assert len(responses) == 2
        r1 = responses[common.submission_id_for(appraisal, "R1")]
        r2 = responses[common.submission_id_for(appraisal, "R2")]
        units = {cu.unit.code: cu.unit.id for cu in appraisal.campaign_units}
        assert r1.unit_id is None and r1.channel == Channel.PHONE
        rated = session.execute(select(Answer.unit_id, func.count()).where(Answer.response_id == r1.id)
                                .group_by(Answer.unit_id)).all()
        assert dict(rated) == {units["JY"]: 4, units["GA"]: 4}
        questions = {q.code: q.id for q in appraisal.questionnaire.questions}
        ga_a2 = session.scalar(select(Answer).where(Answer.response_id == r1.id, Answer.unit_id == units["GA"],
                                                    Answer.question_id == questions["A2"]))
        assert ga_a2.dont_know
        cases = {(c.kind, c.unit_id) for c in session.scalars(select(Case).where(Case.response_id == r2.id))}
        assert cases == {(CaseKind.BAD_RATING, units["MZ"])}  # the 差评 and its comment: one case
        assert not session.scalars(select(Case).where(Case.response_id == r1.id)).all()

    def test_rows_of_one_respondent_must_agree(self, session, appraisal):
        rows = [self.HEADERS,
                ["R1", "JY", "QY", "", "", "5", "4", "4", "5", ""],
                ["R1", "GA", "SM", "", "", "5", "4", "4", "5", ""],
                ["R1", "JY", "QY", "", "", "5", "4", "4", "5", ""],
                ["R2", "教育局", "QY", "", "", "5", "4", "4", "5", ""]]
        checked = reader.preview(session, appraisal, csv_bytes(rows), "paper")
        found = {(p.line, p.column): p.message for p in checked.problems}
        assert "不一致" in found[(3, "样本类别")]
        assert "评价了两次" in found[(4, "单位代码")]
        assert "不在本活动中" in found[(5, "单位代码")]
        assert count(session, Response) == 0


    def test_a_respondent_split_over_two_files_is_refused_not_skipped(self, session, appraisal):
        first = [self.HEADERS, ["R1", "JY", "QY", "", "", "5", "4", "4", "5", ""]]
        checked = reader.preview(session, appraisal, csv_bytes(first), "paper")
        writer.write(session, appraisal, checked, None)
        second = [self.HEADERS,
                  ["R1", "GA", "QY", "", "", "1", "1", "1", "1", ""],
                  ["R1", "JY", "QY", "", "", "5", "4", "4", "5", ""],
                  ["R2", "GA", "QY", "", "", "5", "5", "5", "5", ""]]
        checked = reader.preview(session, appraisal, csv_bytes(second), "paper")
        [problem] = checked.problems
        assert (problem.line, problem.column) == (2, "答卷编号") and "已导入的答卷评价的是 JY" in problem.message
        assert not checked.ok and count(session, Response) == 1


class TestCampaignRules:
    def test_draft_and_missing_channels_are_refused(self, client, auth, session, make):
        draft = make.campaign(status=CampaignStatus.DRAFT)
        web_only = make.campaign(channels=[Channel.WEB.value])
        paper_only = make.campaign(channels=[Channel.PAPER.value])
        make.commit()
        auth.login_as("analyst")
        for campaign, text in ((draft, "还是草稿"), (web_only, "没有开通")):
            html = client.get(f"/admin/distribution/{campaign.id}/responses/import").get_data(as_text=True)
            assert text in html and 'type="file"' not in html
            reply = upload(client, campaign, csv_bytes([SERVICE_HEADERS, good_row()]))
            assert reply.status_code == 422 and text in reply.get_data(as_text=True)
        reply = upload(client, paper_only, csv_bytes([SERVICE_HEADERS, good_row()]), channel="phone")
        assert reply.status_code == 422 and "没有开通“电话访问”" in reply.get_data(as_text=True)
        assert count(session, Response) == 0

    def test_a_closed_campaign_still_takes_late_paper(self, client, auth, session, make):
        unit = make.unit(code="W09")
        closed = make.campaign(units=[unit], status=CampaignStatus.CLOSED,
                               opens_at=utcnow() - dt.timedelta(days=60), closes_at=utcnow() - dt.timedelta(days=5))
        make.commit()
        auth.login_as("analyst")
        html = client.get(f"/admin/distribution/{closed.id}/responses/import").get_data(as_text=True)
        assert "本评议活动已经结束" in html and "仍可由分析员在此导入" in html
        late = good_row("L1", unit="W09")
        late[4] = local(10).strftime("%Y-%m-%d")
        after = good_row("L2", unit="W09")
        after[4] = local(2).strftime("%Y-%m-%d %H:%M")
        checked = reader.preview(session, closed, csv_bytes([SERVICE_HEADERS, late, after]), "paper")
        assert [(p.line, p.column) for p in checked.problems] == [(3, "提交时间")]
        assert "晚于活动结束" in checked.problems[0].message
        preview = upload(client, closed, csv_bytes([SERVICE_HEADERS, late]), "late.csv")
        assert preview.status_code == 200
        confirm(client, preview)
        assert session.scalars(select(Response)).one().submitted_at.astimezone(TZ).date() == local(10).date()


class TestAccess:
    def test_unit_contacts_get_403_and_unknown_campaigns_404(self, client, auth, session, service):
        auth.login_as("unit", unit=service.campaign_units[0].unit)
        base = f"/admin/distribution/{service.id}/responses"
        assert client.get(f"{base}/import").status_code == 403
        assert client.get(f"{base}/template.xlsx").status_code == 403
        page = client.get("/admin/")
        reply = client.post(f"{base}/import/preview", data={"csrf_token": csrf_from(page), "channel": "paper",
                                                           "file": (io.BytesIO(b"x"), "a.csv")},
                            content_type="multipart/form-data")
        assert reply.status_code == 403
        html = client.get(f"/admin/distribution/{service.id}/").get_data(as_text=True)
        assert "导入答卷" not in html
        auth.logout()
        auth.login_as("analyst")
        assert client.get("/admin/distribution/999999/responses/import").status_code == 404

    def test_csrf_is_required(self, client, auth, session, service):
        auth.login_as("analyst")
        data = csv_bytes([SERVICE_HEADERS, good_row()])
        reply = client.post(f"/admin/distribution/{service.id}/responses/import/preview",
                            data={"channel": "paper", "file": (io.BytesIO(data), "a.csv")},
                            content_type="multipart/form-data")
        assert reply.status_code == 400
        preview = upload(client, service, data, "a.csv")
        no_token = client.post(f"/admin/distribution/{service.id}/responses/import/confirm",
                               data={"staged": hidden_from(preview, "staged"), "channel": "paper"})
        assert no_token.status_code == 400 and count(session, Response) == 0


def test_template_cells_are_neutralised(client, auth, make):
    questionnaire = make.questionnaire(data={
        "kind": "service", "title": "测试", "questions": [
            {"code": "-Q1", "type": "satisfaction", "text": "=HYPERLINK(\"http://evil\",\"点我\")"},
            {"code": "Q2", "type": "single", "text": "渠道", "options": [
                {"code": "a", "label": "=cmd|' /C calc'!A0"}, {"code": "b", "label": "其他"}]},
        ]})
    unit = make.unit(code="EV1", name="@SUM(1+1)")
    campaign = make.campaign(units=[unit], questionnaire=questionnaire)
    make.commit()
    auth.login_as("analyst")
    book = load_workbook(io.BytesIO(client.get(f"/admin/distribution/{campaign.id}/responses/template.xlsx").data))
    header = [c.value for c in book.worksheets[0][1]]
    assert header[-2].startswith("'-Q1 =HYPERLINK")
    cells = [v for row in book["说明"].iter_rows(values_only=True) for v in row if isinstance(v, str)]
    assert "'@SUM(1+1)" in cells and not any(v.startswith(("=", "@", "+", "-")) for v in cells)
    text = client.get(f"/admin/distribution/{campaign.id}/responses/template.csv").data.decode("utf-8-sig")
    assert "'-Q1 =HYPERLINK" in text
    # The neutralised header still reads back as its question.
    filled = csv_bytes([next(csv.reader(io.StringIO(text))), ["X1", "EV1", "SM", "", "", "5", "1"]])
    checked = reader.preview(make.session, campaign, filled, "paper")
    assert checked.ok, checked.problems
    assert checked.new[0].answers[1].option_id == questionnaire.questions[1].options[0].id


class TestCli:
    def test_dry_run_import_and_problems(self, runner, session, service, tmp_path):
        good = tmp_path / "good.csv"
        good.write_bytes(csv_bytes([SERVICE_HEADERS, good_row("C1"), good_row("C2", Q1="1", Q9="等候时间")]))
        dry = runner.invoke(args=["import-responses", service.short_code, str(good), "--channel", "paper", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "2 份新答卷" in dry.output and "试运行" in dry.output and count(session, Response) == 0

        real = runner.invoke(args=["import-responses", str(service.id), str(good), "--channel", "纸质"])
        assert real.exit_code == 0, real.output
        assert "已导入 2 份" in real.output and count(session, Response) == 2
        assert count(session, Case) == 1
        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "response.import"))
        assert entry.user_id is None and entry.detail["file"] == "good.csv"
        assert {r.channel for r in session.scalars(select(Response))} == {Channel.PAPER}

        again = runner.invoke(args=["import-responses", service.short_code, str(good), "--channel", "paper"])
        assert again.exit_code == 0 and "2 份此前已导入" in again.output and count(session, Response) == 2

        bad = tmp_path / "bad.csv"
        bad.write_bytes(csv_bytes([SERVICE_HEADERS, good_row("C3"), good_row("C4", Q2="很好")]))
        failed = runner.invoke(args=["import-responses", service.short_code, str(bad), "--channel", "paper"])
        assert failed.exit_code == 1
        assert "第 3 行［Q2 服务效率（等候时间、办理速度）］" in failed.output and count(session, Response) == 2

    def test_channel_must_be_given_when_several_are_open(self, runner, service, tmp_path):
        path = tmp_path / "a.csv"
        path.write_bytes(csv_bytes([SERVICE_HEADERS, good_row()]))
        result = runner.invoke(args=["import-responses", service.short_code, str(path)])
        assert result.exit_code != 0 and "--channel" in result.output
        missing = runner.invoke(args=["import-responses", "NOSUCH", str(path), "--channel", "paper"])
        assert missing.exit_code != 0 and "找不到评议活动" in missing.output
