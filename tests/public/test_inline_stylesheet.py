"""First paint on a slow phone: every citizen page carries its stylesheet in a ``<style>`` element (no
second connection and request before it can paint), allowed by the Content-Security-Policy through
the hash of exactly those bytes; the script stays deferred. Staff pages still link the file."""
from __future__ import annotations

import base64
import gzip
import hashlib
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from survey import assets
from survey.models import CampaignStatus, Channel, Invitation, utcnow
from survey.services.campaigns import invitations
from survey.services.questionnaires import cache as questionnaire_cache
from tests.public.helpers import filled
from tests.test_invitations import GOOD, csv_bytes

ROOT = Path(__file__).resolve().parent.parent.parent
GZIP = {"Accept-Encoding": "gzip"}
STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
#: every template a citizen may see: each extends the layout that inlines the stylesheet
CITIZEN_TEMPLATES = ["public/questionnaire.html", "public/thanks.html", "public/closed.html", "public/already.html",
                     "public/refused.html", "public/unit_list.html", "public/choose_units.html", "public/index.html",
                     "links/gone.html", "links/desk_late.html", "errors/error.html"]


def _source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _style_src(reply) -> list[str]:
    policy = {p.split()[0]: p.split()[1:] for p in reply.headers["Content-Security-Policy"].split(";") if p.strip()}
    return policy["style-src"]


def assert_inlined(client, reply) -> str:
    """The page paints from itself: one ``<style>``, the stylesheet's served bytes, named by the policy's
    one hash; no stylesheet link; every script an external, deferred file. Returns the page."""
    data = reply.get_data()
    html = (gzip.decompress(data) if reply.headers.get("Content-Encoding") == "gzip" else data).decode("utf-8")
    blocks = STYLE_BLOCK.findall(html)
    assert len(blocks) == 1 and html.lower().count("<style") == 1, blocks
    served = client.get(f"/static/{assets.INLINE_STYLESHEET}")
    assert blocks[0].encode("utf-8") == served.get_data()  # the file's bytes, unchanged
    served.close()
    assert _style_src(reply) == ["'self'", _source(blocks[0])]  # and exactly its hash, nothing else inline
    assert "stylesheet" not in html  # no <link rel="stylesheet">, no preload of one
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(" src=" in s and " defer" in s for s in scripts), scripts
    return html


@pytest.fixture
def window(make):
    campaign = make.campaign(channels=[Channel.POSTER.value, Channel.WEB.value])
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


class TestEveryCitizenPage:
    def test_every_citizen_template_extends_the_inlining_layout(self):
        for name in CITIZEN_TEMPLATES:
            first = (ROOT / "templates" / name).read_text(encoding="utf-8").splitlines()[0]
            assert first == '{% extends "public/layout.html" %}', name

    def test_the_fresh_questionnaire_cached_once_per_process(self, client, window):
        _campaign, code = window
        questionnaire_cache.clear()
        assert_inlined(client, client.get(f"/s/{code}", headers=GZIP))
        again = client.get(f"/s/{code}", headers=GZIP)  # from the page cache
        assert again.headers["Content-Encoding"] == "gzip"
        assert_inlined(client, again)

    def test_the_questionnaire_with_errors(self, client, window):
        campaign, code = window
        page = client.get(f"/s/{code}")
        data = filled(campaign.questionnaire, page)
        for key in [k for k in data if k.startswith("q")]:
            data.pop(key)
        reply = client.post(f"/s/{code}", data=data)
        assert reply.status_code == 422
        assert_inlined(client, reply)

    @pytest.mark.parametrize("level", ["5", "1"])  # the plain thank-you page, and the follow-up offer
    def test_the_thank_you_pages_and_then_already_rated(self, client, window, level):
        campaign, code = window
        posted = client.post(f"/s/{code}", data=filled(campaign.questionnaire, client.get(f"/s/{code}"), level=level))
        assert posted.status_code == 303
        html = assert_inlined(client, client.get(posted.headers["Location"]))
        assert ('name="phone"' in html) == (level == "1")
        already = client.get(f"/s/{code}")
        assert "已" in already.get_data(as_text=True)
        assert_inlined(client, already)

    def test_closed_unit_list_and_chooser(self, client, make):
        closed = make.campaign(status=CampaignStatus.CLOSED)
        listed = make.campaign(units=[make.unit(), make.unit()])
        appraisal = make.campaign(units=[make.unit(), make.unit()], kind="appraisal")
        make.commit()
        reply = client.get(f"/s/{closed.campaign_units[0].short_code}")
        assert reply.status_code == 410
        assert_inlined(client, reply)
        reply = client.get(f"/s/{listed.short_code}")
        assert reply.status_code == 200 and listed.campaign_units[1].unit.name in reply.get_data(as_text=True)
        assert_inlined(client, reply)
        reply = client.get(f"/s/{appraisal.short_code}")
        assert reply.status_code == 200 and 'name="u"' in reply.get_data(as_text=True)
        assert_inlined(client, reply)

    def test_a_used_invitation_is_gone(self, client, make, session):
        campaign = make.campaign(units=[make.unit(), make.unit()], kind="appraisal",
                                 channels=[Channel.WEB.value, Channel.INVITATION.value])
        analyst = make.user(role="analyst")
        [link] = invitations.create(session, campaign, invitations.preview(session, campaign, csv_bytes(GOOD[:2])),
                                    analyst)
        session.scalar(select(Invitation).where(Invitation.id == link.id)).used_at = utcnow()
        session.commit()
        reply = client.get(f"/i/{link.code}")
        assert reply.status_code == 410
        assert_inlined(client, reply)

    def test_the_home_page_and_not_found(self, client):
        assert_inlined(client, client.get("/", headers=GZIP))
        assert_inlined(client, client.get("/no/such/page"))


class TestTheCachedPageFollowsTheStylesheet:
    def test_a_changed_stylesheet_is_a_new_page_with_its_own_hash(self, client, window, app, monkeypatch):
        """``page_once`` keys a page by the stylesheet's hashed URL, whose digest is of the bytes inlined:
        a new sheet (a deployment, an edit in development) is never served in an old page or policy."""
        _campaign, code = window
        before = assert_inlined(client, client.get(f"/s/{code}"))  # cached now
        sheet = assets.inline_stylesheet(app.static_folder)
        changed = sheet.data + b".pingyi-test-marker{color:red}\n"
        sha256 = hashlib.sha256(changed).digest()
        fake = assets.Asset(sheet.path, sheet.mtime_ns + 1, sha256.hex()[:assets.HASH_CHARS], sheet.mimetype, changed,
                            gzip.compress(changed), "sha256-" + base64.b64encode(sha256).decode())
        monkeypatch.setattr(assets, "URL_RECHECK_SECONDS", 3600.0)  # the fake stays current for the test
        monkeypatch.setitem(assets._checked, (app.static_folder, assets.INLINE_STYLESHEET), (time.monotonic(), fake))
        reply = client.get(f"/s/{code}")
        html = reply.get_data(as_text=True)
        block = STYLE_BLOCK.findall(html)[0]
        assert block.encode() == changed and ".pingyi-test-marker" not in before
        assert _style_src(reply) == ["'self'", _source(block)]
        assert _source(block) != _source(STYLE_BLOCK.findall(before)[0])
        assert html.count("<style") == 1 and "stylesheet" not in html

