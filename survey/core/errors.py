"""The one error a service raises when input breaks a domain rule, and the collector that builds it.

A service validates everything before it changes anything and raises :class:`DomainError`
with the messages per form field, so a page can show each message beside its field (the
field "" is the whole form) and nothing is half-written. The message is in the UI language.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask_babel import gettext as _

GENERAL = ""  # the field name of a message about the whole form


class DomainError(ValueError):
    """Input that breaks a domain rule.

    ``fields`` maps a field name (``""`` = the whole form) to its messages; ``errors`` gives the first
    message per field (what a page shows beside the field); ``message`` is the general message, or all
    messages joined when there is none. ``str(exc)`` joins every field's first message with "；" ("; " in English).
    """

    def __init__(self, errors: Mapping[str, str | Sequence[str]] | str | None = None) -> None:
        if errors is not None and not isinstance(errors, Mapping):
            errors = {GENERAL: errors}  # one message (also a lazily translated one)
        self.fields: dict[str, list[str]] = {}
        for field, messages in (errors or {}).items():
            listed = [str(m) for m in messages] if isinstance(messages, (list, tuple)) else [str(messages)]
            if listed:
                self.fields[field] = listed
        super().__init__(_("；").join(self.errors.values()))

    @property
    def errors(self) -> dict[str, str]:
        return {field: messages[0] for field, messages in self.fields.items()}

    @property
    def message(self) -> str:
        general = self.fields.get(GENERAL)
        return general[0] if general else str(self)


class Collector:
    """Gathers per-field messages, then raises them all at once as one :class:`DomainError`.

    A field keeps its messages in the order they came; a page shows the first.
    """

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    @property
    def errors(self) -> dict[str, str]:
        return {field: messages[0] for field, messages in self.fields.items()}

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def __bool__(self) -> bool:
        return bool(self.fields)

    def take(self, field: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a cleaner; a ValueError becomes the field's message and the result None."""
        try:
            return func(*args, **kwargs)
        except ValueError as exc:
            self.add(field, str(exc))
            return None

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(str(message))

    def error(self) -> DomainError:
        return DomainError(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise self.error()
