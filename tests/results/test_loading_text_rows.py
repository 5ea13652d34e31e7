"""SQLite's bulk read (one text of numbers per column, parsed by NumPy): the rows as a plain fetch gives
them, and a NULL or a value that is not an integer refused, whichever column it is in."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from survey.services.results.loading import DataError, _text_rows


@pytest.fixture
def driver():
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b, c INTEGER)")
    rng = np.random.default_rng(3)
    rows = [(int(a), int(b), int(c)) for a, b, c in rng.integers(-2**62, 2**62, (500, 3))]
    connection.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", rows + [(0, -1, 7), (1, 2, 3)])
    yield connection
    connection.close()


def test_the_rows_of_every_statement_in_order(driver):
    statements = ["SELECT id, a, b, c FROM t WHERE id <= 250 ORDER BY id",
                  "SELECT id, a, b, c FROM t WHERE id > 1000",  # nothing
                  "SELECT id, a, b, c FROM t WHERE id > 250 ORDER BY id DESC"]
    got = _text_rows(driver, statements, 4)
    expected = [r for sql in statements for r in driver.execute(sql).fetchall()]
    assert got.dtype == np.int64 and got.flags.c_contiguous
    assert got.tolist() == [list(r) for r in expected]
    assert _text_rows(driver, ["SELECT id, a FROM t WHERE id < 0"], 2).shape == (0, 2)


@pytest.mark.parametrize("value", [None, 1.5, "x", "", "1,2"])
@pytest.mark.parametrize("column", ["a", "b", "c"])
def test_a_null_or_a_value_not_an_integer_is_refused(driver, value, column):
    driver.execute(f"UPDATE t SET {column} = ? WHERE id = 17", (value,))
    with pytest.raises(DataError):
        _text_rows(driver, ["SELECT id, a, b, c FROM t ORDER BY id"], 4)
