"""The one staging store: what an upload's preview showed, held until its confirmation.

Every preview→confirm upload (units, invitations, responses, leader ratings, the holiday
calendar) works the same way: the preview checks the file and stages what it read, nothing
reaches the database; the page carries only a token. The confirmation takes the staged data
back with that token — only for the same owner and purpose (e.g. "invitations:12"), only
before it expires, and only once: :func:`take` removes it, so a second confirmation (a double
click, a replayed form) finds nothing.

The data waits in the instance folder under a random name. With several application hosts,
the instance folder must be shared (or sessions sticky).
"""
from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

MAX_AGE_SECONDS = 3600
LONGEST_AGE_SECONDS = 6 * 3600  # nothing may ask to be kept longer
_FOLDER = "staging"


def _valid(token: str) -> bool:
    """Tokens are ours (URL-safe base64): nothing that could name another path."""
    return bool(token) and len(token) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in token)


def _folder(instance_path: str) -> Path:
    folder = Path(instance_path) / _FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage(instance_path: str, purpose: str, owner_id: int, data: bytes, *,
          max_age: int = MAX_AGE_SECONDS) -> str:
    """Keep ``data`` for ``owner_id``'s later confirmation of ``purpose``; returns the token that names it."""
    sweep(instance_path)
    token = secrets.token_urlsafe(24)
    folder = _folder(instance_path)
    _write_new(folder / f"{token}.bin", data)
    meta = {"purpose": purpose, "owner": owner_id, "max_age": min(max_age, LONGEST_AGE_SECONDS)}
    _write_new(folder / f"{token}.json", json.dumps(meta).encode("utf-8"))
    return token


def stage_json(instance_path: str, purpose: str, owner_id: int, value: Any, *, max_age: int = MAX_AGE_SECONDS) -> str:
    """:func:`stage` for what a preview parsed (rows, a source name …) rather than the file itself."""
    return stage(instance_path, purpose, owner_id, json.dumps(value, ensure_ascii=False).encode("utf-8"),
                 max_age=max_age)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _checked(instance_path: str, token: str, purpose: str, owner_id: int) -> Path | None:
    """The one token check: the staged data's path, only for the same owner and purpose and before expiry."""
    if not _valid(token):
        return None
    folder = _folder(instance_path)
    meta_path, data_path = folder / f"{token}.json", folder / f"{token}.bin"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if time.time() - data_path.stat().st_mtime > meta.get("max_age", MAX_AGE_SECONDS):
            return None
    except (OSError, ValueError):
        return None
    if meta.get("purpose") != purpose or meta.get("owner") != owner_id:
        return None
    return data_path


def load(instance_path: str, token: str, purpose: str, owner_id: int) -> bytes | None:
    """The staged bytes, to show the preview again; they stay staged. None when the token does not pass."""
    path = _checked(instance_path, token, purpose, owner_id)
    try:
        return path.read_bytes() if path is not None else None
    except OSError:
        return None


def load_json(instance_path: str, token: str, purpose: str, owner_id: int) -> Any:
    data = load(instance_path, token, purpose, owner_id)
    return None if data is None else json.loads(data)


def take(instance_path: str, token: str, purpose: str, owner_id: int) -> bytes | None:
    """The staged bytes for a confirmation, removed in the same step: a token confirms once.

    Of two confirmations racing with one token, exactly one gets the data (the file is renamed
    away atomically before it is read); the other gets None, as does anyone failing the check.
    """
    path = _checked(instance_path, token, purpose, owner_id)
    if path is None:
        return None
    claimed = path.with_name(f"{token}.taken-{secrets.token_hex(8)}")
    try:
        path.rename(claimed)
    except OSError:
        return None
    try:
        return claimed.read_bytes()
    finally:
        claimed.unlink(missing_ok=True)
        discard(instance_path, token)


def take_json(instance_path: str, token: str, purpose: str, owner_id: int) -> Any:
    data = take(instance_path, token, purpose, owner_id)
    return None if data is None else json.loads(data)


def discard(instance_path: str, token: str) -> None:
    if not _valid(token):
        return
    folder = _folder(instance_path)
    for suffix in (".bin", ".json"):
        (folder / f"{token}{suffix}").unlink(missing_ok=True)


def sweep(instance_path: str) -> None:
    """Remove staged data past its expiry (and anything older than the longest expiry)."""
    now = time.time()
    for path in _folder(instance_path).iterdir():
        try:
            age = now - path.stat().st_mtime
            if age <= MAX_AGE_SECONDS:
                continue
            limit = LONGEST_AGE_SECONDS
            if path.suffix in (".json", ".bin"):
                meta_path = path.with_suffix(".json")
                try:
                    limit = json.loads(meta_path.read_text(encoding="utf-8")).get("max_age", MAX_AGE_SECONDS)
                except (OSError, ValueError):
                    limit = MAX_AGE_SECONDS
            if age > limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue
