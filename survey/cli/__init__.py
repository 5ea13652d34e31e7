"""Command-line tools for operators: ``flask --app wsgi <command>``, thin wrappers over services.

Each module registers the commands of one area.
"""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from survey.cli import accounts

    accounts.register(app)
    from survey.cli import posters

    posters.register(app)
    from survey.cli import cases

    cases.register(app)
    from survey.cli import results

    results.register(app)
    from survey.cli import backup, retention

    backup.register(app)
    retention.register(app)
    from survey.cli import responses

    responses.register(app)
