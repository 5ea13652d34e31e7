"""Uploaded files held between "preview" and "confirm" (nothing reaches the database before).

The file waits in the instance folder under a random name, bound to the uploader
and to what it is for; it is removed when confirmed and swept after an hour. With
several application hosts, the instance folder must be shared (or sessions sticky).
"""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

MAX_AGE_SECONDS = 3600
_FOLDER = "staging"


def _valid(token: str) -> bool:
    """Tokens are ours (URL-safe base64): nothing that could name another path."""
    return bool(token) and len(token) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in token)


def _folder(instance_path: str) -> Path:
    folder = Path(instance_path) / _FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage(instance_path: str, purpose: str, owner_id: int, data: bytes) -> str:
    """Keep ``data`` for ``owner_id``'s later confirmation; returns the token that names it."""
    sweep(instance_path)
    token = secrets.token_urlsafe(24)
    folder = _folder(instance_path)
    (folder / f"{token}.bin").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps({"purpose": purpose, "owner": owner_id}), encoding="utf-8")
    return token


def load(instance_path: str, token: str, purpose: str, owner_id: int) -> bytes | None:
    """The staged bytes, only for the same owner and purpose and within the hour; else None."""
    if not _valid(token):
        return None
    folder = _folder(instance_path)
    meta_path, data_path = folder / f"{token}.json", folder / f"{token}.bin"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if time.time() - data_path.stat().st_mtime > MAX_AGE_SECONDS:
            return None
        if meta.get("purpose") != purpose or meta.get("owner") != owner_id:
            return None
        return data_path.read_bytes()
    except (OSError, ValueError):
        return None


def discard(instance_path: str, token: str) -> None:
    if not _valid(token):
        return
    folder = _folder(instance_path)
    for suffix in (".bin", ".json"):
        (folder / f"{token}{suffix}").unlink(missing_ok=True)


def sweep(instance_path: str) -> None:
    """Remove staged files older than an hour."""
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in _folder(instance_path).iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue
