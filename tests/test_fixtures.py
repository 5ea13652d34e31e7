"""The test fixtures' own promises (tests/conftest.py): what many tests stand on is checked once here."""
from __future__ import annotations

import pytest
from jinja2 import Environment, FileSystemLoader

from survey.models import Unit
from tests.conftest import COMPILED_TEMPLATES, BuiltOnce, _data_tables


def _empty(session, request) -> None:
    """As between two tests: no rows (and on PostgreSQL its sequences back at 1, by the suite's own reset)."""
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        request.getfixturevalue("pg_reset")()
    else:
        for table in reversed(_data_tables()):  # dependants first
            session.execute(table.delete())
        session.commit()


def test_a_restored_build_has_its_rows_and_ids_and_rows_made_after_it_get_new_ids(session, make, request):
    once = BuiltOnce()
    built = once("fixture check", session, lambda: [make.unit(name=f"单位{i}") for i in range(3)])
    ids = [unit.id for unit in built]
    _empty(session, request)
    assert session.query(Unit).count() == 0

    again = once("fixture check", session, lambda: pytest.fail("built a second time instead of restored"))
    assert [unit.id for unit in again] == ids
    assert [unit.name for unit in again] == ["单位0", "单位1", "单位2"]
    # PostgreSQL's sequences were moved past the restored ids (SQLite takes the largest id + 1 itself).
    new = make.unit(name="新单位")
    session.commit()
    assert new.id > max(ids)


@pytest.mark.sqlite_only  # templates, not the database
def test_the_compiled_templates_are_shared_but_an_edited_template_is_compiled_afresh(app, tmp_path):
    assert app.jinja_env.bytecode_cache is COMPILED_TEMPLATES
    source = tmp_path / "t.html"
    source.write_text("one {{ x }}", encoding="utf-8")
    first = Environment(loader=FileSystemLoader(str(tmp_path)), bytecode_cache=COMPILED_TEMPLATES)
    assert first.get_template("t.html").render(x=1) == "one 1"
    source.write_text("two {{ x }}", encoding="utf-8")
    second = Environment(loader=FileSystemLoader(str(tmp_path)), bytecode_cache=COMPILED_TEMPLATES)
    assert second.get_template("t.html").render(x=2) == "two 2"
