"""Invitations in the staff pages (upload, check, confirm, export) and the personal link itself."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import AuditLog, Channel, Invitation, Response
from survey.services.campaigns import invitations
from tests.desk.answers import form_for
from tests.factories import csrf_from, hidden_from
from tests.test_invitations import GOOD, count, csv_bytes


@pytest.fixture
def appraisal(make):
    units = [make.unit(name="市教育局"), make.unit(name="市公安局"), make.unit(name="市民政局")]
    campaign = make.campaign(units=units, kind="appraisal", title="2026年度万人评议机关",
                             channels=[Channel.WEB.value, Channel.INVITATION.value])
    make.commit()
    return campaign


def upload(client, campaign, data: bytes, name: str = "名单.csv"):
    page = client.get(f"/admin/distribution/{campaign.id}/invitations")
    return client.post(f"/admin/distribution/{campaign.id}/invitations/preview",
                       data={"csrf_token": csrf_from(page), "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")



class TestAdminPages:
    def test_upload_preview_confirm_export(self, client, auth, session, appraisal):
        auth.login_as("analyst")
        preview = upload(client, appraisal, csv_bytes(GOOD))
        html = preview.get_data(as_text=True)
        assert preview.status_code == 200 and "全部有效" in html and "张代表" in html
        assert count(session, Invitation) == 0  # nothing before confirmation
        staged = hidden_from(preview, "staged")
        done = client.post(f"/admin/distribution/{appraisal.id}/invitations/confirm",
                           data={"csrf_token": csrf_from(preview), "staged": staged})
        assert done.status_code == 302
        assert count(session, Invitation) == 3
        codes = list(session.scalars(select(Invitation.code)))
        assert len(set(codes)) == 3 and all(len(c) >= 22 for c in codes)  # 128 bits, URL-safe
        assert session.scalars(select(AuditLog).where(AuditLog.action == "invitation.import")).one()
        # Confirming the same preview twice does not create a second batch.
        again = client.post(f"/admin/distribution/{appraisal.id}/invitations/confirm",
                            data={"csrf_token": csrf_from(preview), "staged": staged})
        assert again.status_code == 422 and count(session, Invitation) == 3

        exported = client.get(f"/admin/distribution/{appraisal.id}/invitations.csv")
        assert exported.status_code == 200 and exported.data.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
        assert rows[0][:4] == ["姓名或编号", "样本类别", "手机", "个人链接"]
        assert {r[3].rsplit("/", 1)[1] for r in rows[1:]} == set(codes)
        assert all(r[3].startswith("http://localhost/i/") for r in rows[1:])
        workbook = load_workbook(io.BytesIO(client.get(f"/admin/distribution/{appraisal.id}/invitations.xlsx").data))
        sheet = workbook.active
        assert sheet.max_row == 4 and sheet["A2"].value == "张代表"

    def test_a_list_with_errors_writes_nothing(self, client, auth, session, appraisal):
        auth.login_as("analyst")
        page = upload(client, appraisal, csv_bytes(GOOD + [["王五", "外星人", ""]]))
        html = page.get_data(as_text=True)
        assert page.status_code == 422 and "外星人" in html and 'name="staged"' not in html
        assert count(session, Invitation) == 0

    def test_no_file_and_bad_files_are_explained(self, client, auth, appraisal):
        auth.login_as("analyst")
        page = client.get(f"/admin/distribution/{appraisal.id}/invitations")
        empty = client.post(f"/admin/distribution/{appraisal.id}/invitations/preview",
                            data={"csrf_token": csrf_from(page)})
        assert empty.status_code == 422 and "请选择要上传的名单文件" in empty.get_data(as_text=True)
        assert upload(client, appraisal, b"\x00\x01garbage\xff").status_code == 422

    def test_a_forged_staging_token_is_refused(self, client, auth, session, appraisal):
        auth.login_as("analyst")
        page = client.get(f"/admin/distribution/{appraisal.id}/invitations")
        for staged in ("../../secret_key", "nope", ""):
            reply = client.post(f"/admin/distribution/{appraisal.id}/invitations/confirm",
                                data={"csrf_token": csrf_from(page), "staged": staged})
            assert reply.status_code == 422
        assert count(session, Invitation) == 0

    def test_export_neutralises_formulas(self, client, auth, session, appraisal):
        auth.login_as("analyst")
        rows = [["姓名或编号", "样本类别"], ["=HYPERLINK(\"http://evil\",\"x\")", "RD"], ["@SUM(A1)", "QY"]]
        preview = upload(client, appraisal, csv_bytes(rows))
        client.post(f"/admin/distribution/{appraisal.id}/invitations/confirm",
                    data={"csrf_token": csrf_from(preview), "staged": hidden_from(preview, "staged")})
        text = client.get(f"/admin/distribution/{appraisal.id}/invitations.csv").data.decode("utf-8-sig")
        assert "'=HYPERLINK" in text and "'@SUM" in text
        xlsx = client.get(f"/admin/distribution/{appraisal.id}/invitations.xlsx").data
        sheet = load_workbook(io.BytesIO(xlsx)).active
        assert str(sheet["A2"].value).startswith("'=")

    def test_a_campaign_that_cannot_take_invitations_says_so_up_front(self, client, auth, make):
        campaign = make.campaign(units=[make.unit(), make.unit()], kind="service")
        make.commit()
        auth.login_as("analyst")
        html = client.get(f"/admin/distribution/{campaign.id}/invitations").get_data(as_text=True)
        assert "邀请链接用于万人评议类问卷" in html and 'type="file"' not in html

    @pytest.mark.parametrize("role", ["unit"])
    def test_unit_contacts_cannot_see_invitations(self, client, auth, appraisal, role):
        auth.login_as(role, unit=appraisal.campaign_units[0].unit)
        assert client.get(f"/admin/distribution/{appraisal.id}/invitations").status_code == 403
        assert client.get(f"/admin/distribution/{appraisal.id}/invitations.csv").status_code == 403


class TestPersonalLink:
    @pytest.fixture
    def link(self, session, make, appraisal):
        analyst = make.user(role="analyst")
        [created] = invitations.create(session, appraisal,
                                       invitations.preview(session, appraisal, csv_bytes(GOOD[:2])), analyst)
        return created

    def test_choose_units_rate_once_with_the_group_preset(self, client, session, appraisal, link):
        path = f"/i/{link.code}"
        chooser = client.get(path)
        assert chooser.status_code == 200 and "市教育局" in chooser.get_data(as_text=True)
        units = [cu.unit for cu in appraisal.campaign_units][:2]
        page = client.post(path, data={"u": [u.code for u in units], "step": "units",
                                       "csrf_token": hidden_from(chooser, "csrf_token")}) \
            if 'name="csrf_token"' in chooser.get_data(as_text=True) else client.get(
            path, query_string={"u": [u.code for u in units], "step": "units"})
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "您的身份" not in html  # the group is known: not asked
        reply = client.post(path, data=form_for(page, appraisal.questionnaire, units))
        assert reply.status_code in (302, 303), reply.get_data(as_text=True)[:500]
        session.expire_all()
        stored = session.scalars(select(Response)).one()
        assert stored.channel == Channel.INVITATION and stored.invitation_id == link.id
        assert stored.respondent_group_id == link.respondent_group_id
        assert {a.unit_id for a in stored.answers if a.unit_id} == {u.id for u in units}
        assert session.get(Invitation, link.id).used_at is not None
        again = client.get(path)
        assert again.status_code == 410 and "已经使用过" in again.get_data(as_text=True)

    def test_unknown_links_are_not_found(self, client, link):
        assert client.get("/i/" + "x" * 22).status_code == 404
        assert client.get("/i/" + link.code.upper() + "Z").status_code == 404
