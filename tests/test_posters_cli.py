"""The operators' command: ``flask --app wsgi posters CAMPAIGN -o posters.pdf [--base-url URL] [--zip codes.zip]``."""
from __future__ import annotations

import zipfile

import pytest

from tests.test_posters import BASE, pdf_text_pypdf


@pytest.fixture
def window_campaign(make):
    windows = [make.unit(name="不动产登记窗口", window_no="12"), make.unit(name="社保医保窗口", window_no="5"),
               make.unit(name="国网市供电公司")]
    campaign = make.campaign(units=windows, title="2026年第四季度政务服务满意度评议")
    make.commit()
    return campaign


class TestCommandLine:
    def test_writes_the_pdf_and_zip(self, runner, window_campaign, tmp_path):
        out, codes = tmp_path / "posters.pdf", tmp_path / "codes.zip"
        result = runner.invoke(args=["posters", window_campaign.short_code.lower(), "-o", str(out),
                                     "--base-url", BASE + "/", "--zip", str(codes)])
        assert result.exit_code == 0, result.output
        assert "3 张海报" in result.output
        texts = pdf_text_pypdf(out.read_bytes())
        assert len(texts) == 3 and any("12号窗口" in t for t in texts)
        assert all(f"{BASE}/s/" in t for t in texts)
        assert len([n for n in zipfile.ZipFile(codes).namelist() if n.endswith(".png")]) == 3

    def test_campaign_by_id_and_base_url_from_config(self, app, runner, window_campaign, tmp_path):
        app.config["PUBLIC_BASE_URL"] = "https://pingyi.city.gov.cn"
        out = tmp_path / "p.pdf"
        result = runner.invoke(args=["posters", str(window_campaign.id), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "https://pingyi.city.gov.cn/s/" in pdf_text_pypdf(out.read_bytes())[0]

    def test_unknown_campaign(self, runner, tmp_path):
        result = runner.invoke(args=["posters", "NOSUCH", "-o", str(tmp_path / "p.pdf"), "--base-url", BASE])
        assert result.exit_code != 0 and "找不到评议活动" in result.output
        assert not (tmp_path / "p.pdf").exists()

    def test_missing_base_url(self, app, runner, window_campaign, tmp_path):
        app.config["PUBLIC_BASE_URL"] = None
        result = runner.invoke(args=["posters", window_campaign.short_code, "-o", str(tmp_path / "p.pdf")])
        assert result.exit_code != 0 and "PINGYI_PUBLIC_BASE_URL" in result.output

    def test_unwritable_output(self, runner, window_campaign, tmp_path):
        target = tmp_path / "missing-folder" / "p.pdf"
        result = runner.invoke(args=["posters", window_campaign.short_code, "-o", str(target), "--base-url", BASE])
        assert result.exit_code != 0 and "无法写入" in result.output
