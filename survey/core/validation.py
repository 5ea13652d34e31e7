"""Checks shared by the setup services (units, categories, groups, questionnaires, campaigns).

A setup service validates everything before it changes anything and raises
:class:`survey.core.errors.DomainError` with a message per form field (see core/errors.py);
the cleaners here raise a ValueError naming the field, which a ``Collector`` turns into that field's message.
"""
from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _

CODE_PATTERN = re.compile(r"[^\s/\\?#%\x00-\x1f\ud800-\udfff]{1,32}")  # use with fullmatch
# C0 control characters (tab, line feed and carriage return are text in a note or an introduction) and lone
# surrogates (half of a UTF-16 pair, from a damaged file): PostgreSQL cannot store NUL, UTF-8 cannot encode a
# lone surrogate, and neither belongs in a name, a title or a label.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def bad_character(text: str) -> str | None:
    """The first control character (other than tab and line ends) or lone surrogate in ``text``, as U+XXXX;
    None when there is none."""
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def check_characters(text: str, label: str) -> str:
    """``text`` unchanged, or a ValueError naming ``label`` when it holds a control character or a lone
    surrogate (tab and line ends are allowed: a note may run over lines)."""
    char = bad_character(text)
    if char is not None:
        raise ValueError(_("%(label)s含有控制字符或无效字符（%(char)s），请删去后再试。", label=label, char=char))
    return text


def strip_control(text: str | None) -> str | None:
    """``text`` without any control character (line ends and tabs too) or lone surrogate: for a file name
    that is only shown and recorded (the audit trail), never refused."""
    return None if text is None else _CONTROL_ANY.sub("", text)


def is_code(text: str | None) -> bool:
    """Whether ``text`` has the shape of a code (see :func:`clean_code`), e.g. a code in an API path."""
    return bool(text) and CODE_PATTERN.fullmatch(text) is not None


def clean_text(value: Any, label: str, *, limit: int, required: bool = False) -> str | None:
    """Stripped text, or None when empty; raises a message naming ``label`` (also for a control character)."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise ValueError(_("请填写%(label)s。", label=label))
        return None
    if len(text) > limit:
        raise ValueError(_("%(label)s最长 %(n)d 个字。", label=label, n=limit))
    return check_characters(text, label)


def clean_code(value: Any, label: str) -> str:
    """A code: 1–32 characters without spaces, control characters or / \\ ? # % (codes appear in links and files)."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(_("请填写%(label)s。", label=label))
    check_characters(text, label)
    if not is_code(text):
        raise ValueError(_("%(label)s“%(v)s”无效：最长 32 个字符，不能含空格和 / \\ ? # %%。", label=label, v=text[:40]))
    return text
