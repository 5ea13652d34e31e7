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
