"""Short codes people can type from a poster: no 0/O, 1/I/L, case-insensitive."""
from __future__ import annotations

import secrets

# 30 symbols: digits 2-9 and the letters without I, L, O (and U, to avoid accidental words).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(code: str) -> str | None:
    """A typed code upper-cased, without spaces or dashes; None if it cannot be one of ours.

    The alphabet has no 0/O, 1/I/L, so a look-alike cannot be mistaken for another code:
    it simply matches nothing.
    """
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    if not cleaned or len(cleaned) > 16 or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned
