"""Invited panels: checking an uploaded list (nothing written), creating single-use links, mobile numbers."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from survey.models import Channel, GroupMode, Invitation
from survey.services.campaigns import invitations


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GOOD = [["姓名或编号", "样本类别", "手机"],
        ["张代表", "RD", "138 0013 8000"],
        ["李委员", "人大代表、政协委员", "+86 13900139000"],
        ["企业A-001", "qy", ""]]


@pytest.fixture
def appraisal(make):
    units = [make.unit(name="市教育局"), make.unit(name="市公安局"), make.unit(name="市民政局")]
    campaign = make.campaign(units=units, kind="appraisal", title="2026年度万人评议机关",
                             channels=[Channel.WEB.value, Channel.INVITATION.value])
    make.commit()
    return campaign


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


class TestPreview:
    def test_good_list_previews_without_writing(self, session, appraisal):
        checked = invitations.preview(session, appraisal, csv_bytes(GOOD))
        assert checked.ok and [r.label for r in checked.rows] == ["张代表", "李委员", "企业A-001"]
        assert [r.phone for r in checked.rows] == ["13800138000", "13900139000", None]
        assert [r.group.code for r in checked.rows] == ["RD", "RD", "QY"]
        assert count(session, Invitation) == 0

    def test_gbk_csv_and_xlsx_read_the_same(self, session, appraisal):
        gbk = invitations.preview(session, appraisal, csv_bytes(GOOD, "gb18030"))
        xlsx = invitations.preview(session, appraisal, xlsx_bytes([GOOD[0], ["张代表", "RD", 13800138000]]))
        assert gbk.ok and next(r.label for r in gbk.rows) == "张代表"
        assert xlsx.ok and xlsx.rows[0].phone == "13800138000"

    @pytest.mark.parametrize("row, message", [
        (["", "RD", ""], "缺少姓名或编号"),
        (["王五", "外星人", ""], "样本类别“外星人”不存在"),
        (["王五", "", ""], "缺少样本类别"),
        (["王五", "RD", "12345"], "不是 11 位手机号码"),
        (["王五", "RD", "13800138000"], "与第 2 行重复"),
        (["x" * 201, "RD", ""], "超过 200 个字"),
    ])
    def test_row_errors_name_the_line(self, session, appraisal, row, message):
        checked = invitations.preview(session, appraisal, csv_bytes(GOOD + [row]))
        assert not checked.ok
        assert [(line, msg) for line, msg in checked.errors if message in msg] and checked.errors[0][0] == 5

    def test_a_phone_already_invited_is_refused(self, session, appraisal, make):
        analyst = make.user(role="analyst")
        invitations.create(session, appraisal, invitations.preview(session, appraisal, csv_bytes(GOOD)), analyst)
        again = invitations.preview(session, appraisal, csv_bytes(GOOD[:2]))
        assert not again.ok and "已有本活动的邀请链接" in again.errors[0][1]

    @pytest.mark.parametrize("data, message", [
        (b"", "文件是空的"),
        (csv_bytes([["名字", "类别"], ["a", "RD"]]), "找不到“姓名或编号”列"),
        (csv_bytes([["姓名或编号"], ["a"]]), "找不到“样本类别”列"),
        (b"\xd0\xcf\x11\xe0rest-of-an-old-xls", ".xls"),
        (b"PK\x03\x04broken zip", "无法读取这个 Excel 文件"),
    ])
    def test_unreadable_files_get_a_clear_message(self, session, appraisal, data, message):
        with pytest.raises(invitations.InvitationError, match=message):
            invitations.preview(session, appraisal, data)

    def test_only_a_header_is_an_error(self, session, appraisal):
        assert not invitations.preview(session, appraisal, csv_bytes(GOOD[:1])).ok

    def test_a_campaign_without_the_invitation_channel_is_refused(self, session, make):
        campaign = make.campaign(kind="appraisal", channels=[Channel.WEB.value])
        with pytest.raises(invitations.InvitationError, match="没有开通"):
            invitations.preview(session, campaign, csv_bytes(GOOD))

    def test_preset_group_campaigns_take_rows_without_a_group(self, session, make):
        groups = make.groups()
        campaign = make.campaign(kind="appraisal", group_mode=GroupMode.PRESET, preset_group=groups["QY"])
        checked = invitations.preview(session, campaign, csv_bytes([["姓名或编号"], ["企业甲"]]))
        assert checked.ok and checked.rows[0].group.code == "QY"
        wrong = invitations.preview(session, campaign, csv_bytes([["姓名或编号", "样本类别"], ["企业甲", "SM"]]))
        assert not wrong.ok and "固定为" in wrong.errors[0][1]

    @pytest.mark.parametrize("raw, expected", [
        ("13800138000", "13800138000"), ("138-0013-8000", "13800138000"), ("+8613800138000", "13800138000"),
        ("008613800138000", "13800138000"), ("12800138000", None), ("1380013800", None), ("0571-88888888", None),
        ("１３８００１３８０００", "13800138000"), ("١٣٨٠٠١٣٨٠٠٠", None), ("1３8 0013 8000", "13800138000"),
    ])
    def test_mobile_numbers(self, raw, expected):
        assert invitations.normalise_phone(raw) == expected
