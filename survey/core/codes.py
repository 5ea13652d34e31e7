"""Short codes people can type from a poster: no 0/O, 1/I/L, case-insensitive."""
from __future__ import annotations

import secrets
import unicodedata

# 30 symbols: digits 2-9 and the letters without I, L, O (and U, to avoid accidental words).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# Typed between groups of a code and dropped: every dash (Unicode category Pd: - ‐ ‑ ‒ – — ― ﹣ －
# 〜 …) and the katakana prolonged sound mark ー (U+30FC; its half-width form ｰ becomes it under
# NFKC), which Chinese and Japanese input methods give for the minus key. None of these can be
# part of a code, so dropping them never turns one code into another. Invisible format characters
# (category Cf: zero-width space, BOM), which a copy and paste may carry, are dropped too.
_SEPARATORS = frozenset("\u30fc")


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _is_separator(ch: str) -> bool:
    return ch.isspace() or ch in _SEPARATORS or unicodedata.category(ch) in ("Pd", "Cf")


def normalise(code: str) -> str | None:
    """A typed code upper-cased, without spaces or dashes; None if it cannot be one of ours.

    The text is NFKC-normalised first, so full-width letters and digits (ＡＢ３４, as a Chinese
    input method types them) read as ASCII and the ideographic space U+3000 as a space. Spaces of
    every kind and dashes of every width are ignored (see ``_SEPARATORS``).

    The alphabet has no 0/O, 1/I/L, so a look-alike cannot be mistaken for another code:
    it simply matches nothing.
    """
    if len(code) > 64:  # nothing a person types for a 6-to-16-symbol code
        return None
    text = unicodedata.normalize("NFKC", code)
    cleaned = "".join(ch for ch in text if not _is_separator(ch)).upper()
    if not cleaned or len(cleaned) > 16 or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned
