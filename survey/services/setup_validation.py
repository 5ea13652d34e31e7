"""Checks shared by the setup services (units, categories, groups, questionnaires, campaigns).

A setup service validates everything before it changes anything and raises
:class:`SetupError` with a message per form field, so a page can show each message
beside its field and nothing is half-written.
"""
from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _

CODE_PATTERN = re.compile(r"^[^\s/\\?#%]{1,32}$")


class SetupError(ValueError):
    """Input that breaks a setup rule. ``errors`` maps a field name ("" = the whole form) to a message."""

    def __init__(self, errors: dict[str, str] | str) -> None:
        self.errors = {"": errors} if isinstance(errors, str) else dict(errors)
        super().__init__("；".join(self.errors.values()))


def clean_text(value: Any, label: str, *, limit: int, required: bool = False) -> str | None:
    """Stripped text, or None when empty; raises a message naming ``label``."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise ValueError(_("请填写%(label)s。", label=label))
        return None
    if len(text) > limit:
        raise ValueError(_("%(label)s最长 %(n)d 个字。", label=label, n=limit))
    return text


def clean_code(value: Any, label: str) -> str:
    """A code: 1–32 characters without spaces or / \\ ? # % (codes appear in links and files)."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(_("请填写%(label)s。", label=label))
    if not CODE_PATTERN.match(text):
        raise ValueError(_("%(label)s“%(v)s”无效：最长 32 个字符，不能含空格和 / \\ ? # %%。", label=label, v=text[:40]))
    return text


class Collector:
    """Gathers per-field messages, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def take(self, field: str, func, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN001
        """Run a cleaner; a ValueError becomes the field's message and the result None."""
        try:
            return func(*args, **kwargs)
        except ValueError as exc:
            self.errors.setdefault(field, str(exc))
            return None

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SetupError(self.errors)
