"""Parsed uploads kept between the preview and the confirmation of an import.

The rows are written as JSON to the instance folder under an unguessable token, bound to
the user who uploaded them, and removed on confirmation or after a few hours. Nothing
big travels back and forth in the page.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from flask import current_app

MAX_AGE_SECONDS = 6 * 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _purge(folder: Path) -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


def put(kind: str, user_id: int, payload: dict[str, Any]) -> str:
    folder = _folder()
    _purge(folder)
    token = secrets.token_urlsafe(24)
    data = {"kind": kind, "user_id": user_id, "created": time.time(), "payload": payload}
    path = folder / f"{token}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    return token


def get(kind: str, user_id: int, token: str) -> dict[str, Any] | None:
    """The payload stored under ``token`` by this user, or None (unknown, expired, someone else's)."""
    if not TOKEN.match(token or ""):
        return None
    path = _folder() / f"{token}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if data.get("kind") != kind or data.get("user_id") != user_id:
        return None
    if time.time() - float(data.get("created", 0)) > MAX_AGE_SECONDS:
        return None
    return data["payload"]


def drop(token: str) -> None:
    if TOKEN.match(token or ""):
        (_folder() / f"{token}.json").unlink(missing_ok=True)
