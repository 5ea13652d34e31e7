"""Uploads held between preview and confirmation: only for their owner and purpose, for an hour."""
from __future__ import annotations

import os
import time

from survey.core import staging


def test_round_trip_for_the_owner_only(tmp_path):
    token = staging.stage(str(tmp_path), "invitations:1", 7, b"data")
    assert staging.load(str(tmp_path), token, "invitations:1", 7) == b"data"
    assert staging.load(str(tmp_path), token, "invitations:1", 8) is None  # another user
    assert staging.load(str(tmp_path), token, "invitations:2", 7) is None  # another campaign
    staging.discard(str(tmp_path), token)
    assert staging.load(str(tmp_path), token, "invitations:1", 7) is None


def test_tokens_cannot_name_other_files(tmp_path):
    (tmp_path / "secret_key").write_text("x")
    for token in ("../secret_key", "..", "a/b", "", "é" * 3, "x" * 65):
        assert staging.load(str(tmp_path), token, "p", 1) is None
        staging.discard(str(tmp_path), token)
    assert (tmp_path / "secret_key").exists()


def test_staged_files_expire_after_an_hour(tmp_path):
    token = staging.stage(str(tmp_path), "p", 1, b"old")
    past = time.time() - staging.MAX_AGE_SECONDS - 5
    for path in (tmp_path / "staging").iterdir():
        os.utime(path, (past, past))
    assert staging.load(str(tmp_path), token, "p", 1) is None
    staging.stage(str(tmp_path), "p", 1, b"new")  # staging sweeps the old ones
    assert not any(token in p.name for p in (tmp_path / "staging").iterdir())


def test_a_token_confirms_once(tmp_path):
    token = staging.stage(str(tmp_path), "p", 1, b"data")
    assert staging.take(str(tmp_path), token, "p", 2) is None  # someone else: refused, and not used up
    assert staging.take(str(tmp_path), token, "q", 1) is None  # another purpose: the same
    assert staging.take(str(tmp_path), token, "p", 1) == b"data"
    assert staging.take(str(tmp_path), token, "p", 1) is None
    assert staging.load(str(tmp_path), token, "p", 1) is None
    assert list((tmp_path / "staging").iterdir()) == []


def test_parsed_rows_round_trip_and_may_be_kept_longer(tmp_path):
    token = staging.stage_json(str(tmp_path), "units", 1, {"rows": [["D1", 90.0]], "source": "考核办"},
                               max_age=6 * 3600)
    two_hours_ago = time.time() - 2 * 3600
    for path in (tmp_path / "staging").iterdir():
        os.utime(path, (two_hours_ago, two_hours_ago))
    staging.sweep(str(tmp_path))
    assert staging.load_json(str(tmp_path), token, "units", 1) == {"rows": [["D1", 90.0]], "source": "考核办"}
    assert staging.take_json(str(tmp_path), token, "units", 1) == {"rows": [["D1", 90.0]], "source": "考核办"}
    assert staging.take_json(str(tmp_path), token, "units", 1) is None
