"""Fixtures of the operations tests."""
from __future__ import annotations

import pytest

from tests.ops.databases import Fresh


@pytest.fixture
def fresh(tmp_path, sqlite_template, request):
    """Apps on fresh migrated databases of their own (``fresh("sqlite")``, ``fresh("postgresql")``)."""
    maker = Fresh(tmp_path, sqlite_template, lambda: request.getfixturevalue("pg_template"))
    yield maker
    maker.close()
