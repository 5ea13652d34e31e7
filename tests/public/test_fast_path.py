"""Issue 17: the submit path's speed levers keep every answer right, pages travel compressed, static
files live under content-hashed URLs, and a new questionnaire version is served fresh."""
from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path

from sqlalchemy import func, select

from survey import assets
from survey.models import Answer, Case, FollowUpContact, Response
from survey.services.questionnaires import cache as questionnaire_cache
from survey.services.questionnaires import editor
from tests.public.helpers import SITE_REVISION, csrf_from, filled, hidden_from, statements

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


class _Unpacked:
    """A gzip-compressed page, unpacked, as the page helpers read a reply."""

    def __init__(self, html: str) -> None:
        self.html = html

    def get_data(self, as_text: bool = False) -> str | bytes:
        return self.html if as_text else self.html.encode()


def _window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def _wire_size(reply) -> int:
    """Bytes of an HTTP/1.1 answer: status line, headers and body as sent."""
    head = f"HTTP/1.1 {reply.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items()) + "\r\n"
    return len(head.encode()) + len(reply.get_data())


class TestCompression:
    def test_the_page_is_gzipped_only_for_a_client_that_accepts_it(self, client, make):
        _campaign, code = _window(make)
        plain = client.get(f"/s/{code}")
        packed = client.get(f"/s/{code}", headers=GZIP)
        assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
        assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
        html = gzip.decompress(packed.get_data()).decode()
        assert "<form" in html and "csrf_token" in html
        assert len(packed.get_data()) < len(plain.get_data()) / 3
        refused = client.get(f"/s/{code}", headers={"Accept-Encoding": "gzip;q=0, identity"})
        assert "Content-Encoding" not in refused.headers

    def test_css_and_js_are_gzipped_and_the_same_bytes_once_unpacked(self, client, app):
        for name in ("css/app.css", "js/questionnaire.js"):
            raw = assets.minify(name, (Path(app.static_folder) / name).read_bytes())
            reply = client.get(f"/static/{name}", headers=GZIP)
            assert reply.status_code == 200 and reply.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(reply.get_data()) == raw
            assert client.get(f"/static/{name}").get_data() == raw  # no gzip asked, none given
            reply.close()

    def test_pages_opening_with_the_inlined_stylesheet_continue_one_primed_gzip_stream(self, monkeypatch):
        monkeypatch.setattr(assets, "_primed", {})
        opening = b'\n<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<style>' + b"a{b:c}" * 2000
        pages = [opening + b"</style><title>%d</title>" % n + b"<p>answer</p>" * n for n in range(1, 4)]
        for page in pages + [b"<!doctype html><p>no style</p>" * 40, b'{"json": true}' * 60]:
            packed = assets.gzip_page(page)
            stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
            assert stream.decompress(packed) == page and stream.eof and stream.unused_data == b""  # one stream
            assert len(packed) <= len(gzip.compress(page, assets.GZIP_LEVEL)) + 8
        assert list(assets._primed) == [opening + b"</style>"]  # compressed once, used by the three pages
        for lang in range(assets.PRIMED_MAX + 1):  # the states kept stay bounded
            assets.gzip_page(opening.replace(b"zh-CN", b"x%d" % lang) + b"</style>")
        assert 1 <= len(assets._primed) <= assets.PRIMED_MAX

    def test_a_page_with_holes_is_one_gzip_stream_of_the_filled_page(self):
        """Compressed once with NULs in its holes; each visitor's values go in as stored blocks, of any
        length, a mark any number of times, at the start or the end; a page holding a NUL is compressed whole."""
        body = "".join(f"<p>问题 {n}：满意、不满意、说不清</p>" for n in range(400))
        html = f"@@a@@<!doctype html><style>p{{x:y}}</style>{body}<input value=\"@@a@@\"><i>@@b@@</i>尾@@a@@"
        page = assets.HoledPage(html, ("@@a@@", "@@b@@", "@@absent@@"))
        assert page.holes == ["@@a@@", "@@a@@", "@@b@@", "@@a@@"]
        for a, b in (("tok-1", "1733600000"), ("x" * 91, ""), ("", "z" * 3000), ("a", "b")):
            values = {"@@a@@": a, "@@b@@": b}
            expected = html.replace("@@a@@", a).replace("@@b@@", b).encode()
            assert page.text(values) == expected
            packed = page.gzipped(values)
            stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
            assert stream.decompress(packed) == expected and stream.eof and stream.unused_data == b""
            stored = sum(len(values[mark]) + 10 for mark in page.holes)  # a value is stored, not compressed
            assert len(packed) <= len(gzip.compress(expected, assets.GZIP_LEVEL)) + stored
        assert gzip.decompress(assets.HoledPage("<p>no holes</p>" * 50).gzipped({})) == b"<p>no holes</p>" * 50
        with_nul = assets.HoledPage("<p>\x00</p>@@a@@" * 40, ("@@a@@",))
        assert gzip.decompress(with_nul.gzipped({"@@a@@": "v"})) == ("<p>\x00</p>v" * 40).encode()

    def test_a_page_with_holes_is_compressed_once_per_length_of_its_values(self, monkeypatch):
        page = assets.HoledPage("<p>text</p>" * 200 + "@@a@@" + "<p>more</p>" * 100, ("@@a@@",))
        calls = []
        deflate = page._deflate
        monkeypatch.setattr(page, "_deflate", lambda lengths: calls.append(lengths) or deflate(lengths))
        for value in ("abc", "xyz", "abc", "longer"):
            assert gzip.decompress(page.gzipped({"@@a@@": value})) == page.text({"@@a@@": value})
        assert calls == [(3,), (6,)]

    def test_the_cached_pages_travel_compressed_with_working_tokens(self, client, make, session):
        """The fresh questionnaire and the thank-you page with its follow-up offer come from their
        once-compressed parts: unpacked, they are the pages, and the tokens spliced in work."""
        campaign, code = _window(make)
        first = client.get(f"/s/{code}", headers=GZIP)
        assert first.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in first.headers["Vary"]
        html = gzip.decompress(first.get_data()).decode()
        plain = client.get(f"/s/{code}").get_data(as_text=True)
        hidden = re.compile(r'(name="(?:csrf_token|submission_id|started)"[^>]*value=")[^"]*"')
        assert hidden.sub(r"\1", html) == hidden.sub(r"\1", plain)  # the same page but for this visitor's values
        assert "@@pingyi" not in html and "\x00" not in html
        data = filled(campaign.questionnaire, _Unpacked(html), level="1")
        answered = client.post(f"/s/{code}?js=1", data=data, headers=GZIP)
        assert answered.status_code == 200 and answered.headers["Content-Encoding"] == "gzip"
        thanks = gzip.decompress(answered.get_data()).decode()
        assert 'name="phone"' in thanks and "@@pingyi" not in thanks
        offer = {"csrf_token": csrf_from(_Unpacked(thanks)), "token": hidden_from(_Unpacked(thanks), "token")}
        saved = client.post(f"/thanks/{code}", data={**offer, "phone": "138 1234 5678", "consent": "y"}, headers=GZIP)
        assert saved.status_code == 303, saved.status_code  # the CSRF token and the signed submission id held
        contact = session.scalar(select(FollowUpContact))
        assert contact.phone == "13812345678"
        assert contact.response_id == session.scalar(select(Response.id).where(
            Response.submission_id == data["submission_id"]))

    def test_the_questionnaire_page_with_its_assets_is_at_most_12_kb_on_the_wire(self, app, make):
        """A first visit (nothing cached, no cookies): the page, its stylesheet inside it, and the deferred
        script; nothing else is fetched."""
        _campaign, code = _window(make)
        first_visit = app.test_client()
        page = first_visit.get(f"/s/{code}", headers=GZIP)
        html = gzip.decompress(page.get_data()).decode()
        assets = ASSET.findall(html)
        assert len(assets) == 1 and re.fullmatch(r"/static/js/questionnaire\.[0-9a-f]{10}\.js", assets[0])
        assert html.count("<style>") == 1 and "stylesheet" not in html
        total = _wire_size(page)
        for url in assets:
            reply = first_visit.get(url, headers=GZIP)
            assert reply.status_code == 200 and reply.headers["Content-Encoding"] == "gzip"
            total += _wire_size(reply)
            reply.close()
        print(f"first visit: {1 + len(assets)} requests, {total} bytes with their headers (limit 12,288)")
        assert total <= 12 * 1024, total


class TestHashedStaticUrls:
    def test_urls_carry_the_content_hash_and_live_a_year(self, client):
        html = client.get("/login").get_data(as_text=True)  # staff pages link the stylesheet; citizen pages inline it
        css = next(u for u in ASSET.findall(html) if "/css/app." in u)
        assert re.fullmatch(r"/static/css/app\.[0-9a-f]{10}\.css", css)
        reply = client.get(css)
        assert reply.status_code == 200 and reply.mimetype == "text/css"
        assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        etag = reply.headers["ETag"]
        reply.close()
        again = client.get(css, headers={"If-None-Match": etag})
        assert again.status_code == 304

    def test_the_plain_name_and_an_old_hash_are_served_briefly(self, client):
        for url in ("/static/css/app.css", "/static/css/app.0123456789.css"):
            reply = client.get(url)
            assert reply.status_code == 200 and "immutable" not in reply.headers["Cache-Control"]
            assert "max-age=3600" in reply.headers["Cache-Control"]
            reply.close()
        assert client.get("/static/css/nothing.0123456789.css").status_code == 404
        assert client.get("/static/../survey/config.py").status_code == 404

    def test_a_changed_file_gets_a_new_url(self, tmp_path):
        folder = tmp_path / "static"
        (folder / "css").mkdir(parents=True)
        sheet = folder / "css" / "x.css"
        sheet.write_text("a{color:red}")

        first = assets.load(str(folder), "css/x.css")
        sheet.write_text("a{color:blue}")
        os.utime(sheet, ns=(first.mtime_ns + 10**9, first.mtime_ns + 10**9))
        second = assets.load(str(folder), "css/x.css")
        assert first.digest != second.digest and second.data == b"a{color:blue}\n"
        assert assets.split_hash(assets.hashed_name("css/x.css", second.digest)) == ("css/x.css", second.digest)

    def test_minified_css_and_js_keep_their_code(self):
        css = b"/* head\n comment */\na{color:red}\n\n  b{x:1} /* trailing */\n"
        assert assets.minify("x.css", css) == b"a{color:red}\nb{x:1}\n"
        js = b"/* about\n   it */\n/* a */ g(); /* b */\nvar s = '/* kept */';\n  f(); /* gone */\n  if (a) { /* gone */\n  }\n"
        assert assets.minify("x.js", js) == b"/* a */ g();\nvar s = '/* kept */';\nf();\nif (a) {\n}\n"
        assert assets.minify("x.txt", b"  /* kept */") == b"  /* kept */"


class TestQuestionnaireCache:
    def test_a_new_published_version_is_served_fresh(self, client, make, session):
        campaign, code = _window(make)
        old = campaign.questionnaire
        first = old.questions[0]
        assert first.text in client.get(f"/s/{code}").get_data(as_text=True)  # cached now
        draft = editor.new_version(session, None, old)
        session.flush()
        question = draft.questions[0]
        data = editor.question_data(session, question)
        editor.update_question(session, None, question, {**data, "text": "新版本的第一题"})
        editor.publish(session, None, draft)
        campaign.questionnaire = draft
        session.commit()
        html = client.get(f"/s/{code}").get_data(as_text=True)
        assert "新版本的第一题" in html and f'name="q{question.id}"' in html
        assert f'name="q{first.id}"' not in html
        # and the answers go to the new version's questions
        reply = client.post(f"/s/{code}", data=filled(draft, client.get(f"/s/{code}")))
        assert reply.status_code == 303
        stored = session.scalar(select(Response).order_by(Response.id.desc()))
        assert stored.questionnaire_id == draft.id
        assert {a.question_id for a in stored.answers} <= {q.id for q in draft.questions}

    def test_a_draft_is_never_cached(self, client, make, session):
        questionnaire = make.questionnaire(published=False)
        campaign = make.campaign(questionnaire=questionnaire)
        make.commit()
        code = campaign.campaign_units[0].short_code
        assert questionnaire.questions[0].text in client.get(f"/s/{code}").get_data(as_text=True)
        question = questionnaire.questions[0]
        editor.update_question(session, None, question, {**editor.question_data(session, question), "text": "草稿改了"})
        session.commit()
        assert "草稿改了" in client.get(f"/s/{code}").get_data(as_text=True)

    def test_the_second_page_loads_no_questions(self, client, make):
        _campaign, code = _window(make)
        questionnaire_cache.clear()
        with statements() as cold:
            assert client.get(f"/s/{code}").status_code == 200
        with statements() as warm:
            assert client.get(f"/s/{code}").status_code == 200
        assert any("FROM question" in s for s in cold)
        assert not any("FROM question" in s or "FROM option" in s for s in warm), warm
        assert warm == [SITE_REVISION], warm  # the short code and settings are kept per site revision


class TestSubmitStatements:
    def test_a_good_rating_costs_no_settings_read_and_one_answer_insert(self, client, make, session):
        campaign, code = _window(make)
        client.get(f"/s/{code}")  # warm the cache
        comments = {f"q{q.id}": [] for q in campaign.questionnaire.questions if q.is_comment}
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5", **comments)
        with statements() as seen:
            assert client.post(f"/s/{code}", data=data).status_code == 303
        assert not any("FROM setting" in s for s in seen), "\n".join(s[:150] for s in seen)
        assert not any("FROM question" in s or "FROM option" in s for s in seen), seen
        assert sum(s.lstrip().upper().startswith("INSERT INTO ANSWER") for s in seen) == 1, seen
        assert sum("FROM response" in s and "submission_id" in s for s in seen) == 1, seen
        stored = session.scalar(select(Response).order_by(Response.id.desc()))
        # Q9 and Q10 (差评 reasons) are not shown after a good rating: one not_shown row each, what was sent dropped.
        conditional = {q.id for q in campaign.questionnaire.questions if q.show_if}
        assert session.scalar(select(func.count(Answer.id)).where(Answer.response_id == stored.id)) == sum(
            len(data.getlist(f"q{q.id}")) for q in campaign.questionnaire.questions if q.id not in conditional) + 2 == 9
        assert session.scalar(select(func.count(Answer.id)).where(
            Answer.response_id == stored.id, Answer.not_shown.is_(True), Answer.option_id.is_(None),
            Answer.text.is_(None))) == 2

    def test_the_thank_you_page_of_a_good_rating_reads_nothing_about_it(self, client, make):
        campaign, code = _window(make)
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5")
        posted = client.post(f"/s/{code}", data=data)
        with statements() as seen:
            page = client.get(posted.headers["Location"])
        assert page.status_code == 200 and 'name="phone"' not in page.get_data(as_text=True)
        assert seen == [SITE_REVISION], seen  # the short code, the 差评 level and the header's name: all kept

    def test_a_bad_rating_reads_the_settings_once_per_site_revision(self, client, make):
        campaign, code = _window(make)
        with statements() as first:
            page = client.get(f"/s/{code}")
        data = filled(campaign.questionnaire, page, level="1")
        with statements() as seen:
            assert client.post(f"/s/{code}", data=data).status_code == 303
        assert sum("FROM setting" in s for s in first) == 1, first
        assert not any("FROM setting" in s or "FROM campaign" in s for s in seen), seen
        assert seen[0] == SITE_REVISION, seen

    def test_a_bad_rating_still_opens_its_case(self, client, make, session):
        campaign, code = _window(make)
        client.get(f"/s/{code}")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="1")
        assert client.post(f"/s/{code}", data=data).status_code == 303
        assert session.scalar(select(func.count(Case.id))) >= 1

    def test_a_bad_rating_opens_its_case_from_the_parsed_answers(self, client, make, session):
        """Without a comment the case needs no stored row: no answer is read back, no case looked up."""
        campaign, code = _window(make)
        comments = {f"q{q.id}": [] for q in campaign.questionnaire.questions if q.is_comment}
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="1", **comments)
        with statements() as seen:
            assert client.post(f"/s/{code}", data=data).status_code == 303
        assert not any("FROM answer" in s or "FROM feedback_case" in s for s in seen), seen
        case = session.scalar(select(Case))
        assert case.kind.value == "bad_rating" and case.answer_id is None and case.due_on is not None
        assert "非常不满意" in case.summary

    def test_a_bad_rating_with_a_comment_names_the_stored_comment(self, client, make, session):
        campaign, code = _window(make)
        comment = next(q for q in campaign.questionnaire.questions if q.is_comment)
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="1",
                      **{f"q{comment.id}": "窗口人员态度差，让我跑了三趟。"})
        with statements() as seen:
            assert client.post(f"/s/{code}", data=data).status_code == 303
        # The comment's id comes back from its own INSERT, the other answers go in one: nothing is read back.
        assert not any("FROM answer" in s for s in seen), seen
        assert sum(s.lstrip().upper().startswith("INSERT INTO ANSWER") for s in seen) <= 3, seen
        case = session.scalar(select(Case))
        stored = session.get(Answer, case.answer_id)
        assert stored.question_id == comment.id and stored.text == "窗口人员态度差，让我跑了三趟。"
        assert stored.response_id == case.response_id
        assert case.summary.splitlines()[0].endswith("窗口人员态度差，让我跑了三趟。")

    def test_comments_alone_name_their_own_stored_rows(self, client, make, session):
        """Every comment box answered after a good rating: a case each, each naming its own row."""
        campaign, code = _window(make)
        boxes = [q for q in campaign.questionnaire.questions if q.type.value == "text" and q.is_comment]
        texts = ["办事大厅的指示牌很清楚，点赞。", "建议周六也开放半天。"]
        given = {f"q{q.id}": text for q, text in zip(boxes, texts, strict=False)}
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5", **given)
        with statements() as seen:
            assert client.post(f"/s/{code}", data=data).status_code == 303
        assert not any("FROM answer" in s for s in seen), seen
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert len(cases) == len(given) >= 1
        for case in cases:
            stored = session.get(Answer, case.answer_id)
            assert stored.response_id == case.response_id and case.summary == stored.text
            assert given[f"q{stored.question_id}"] == stored.text
