"""The layers of the house, as rules on imports (read from the source, so a lazy import inside a
function counts as much as one at the top of a module).

- ``analysis/`` is a pure library: nothing from ``survey``, Flask or SQLAlchemy.
- Services take plain values and a session: they never touch the request (``flask.request``,
  ``flask.session``, ``flask.g``, ``flask_login.current_user``) nor a blueprint.
- Models import no services.
- ``survey/core/`` is what every domain uses: it imports no domain package and no blueprint.
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = ("survey.admin", "survey.public", "survey.desk", "survey.api", "survey.auth")
REQUEST_STATE = {"request", "session", "g"}


def _imports(path: Path, root: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every import in the file; name is None for ``import module``."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def _violations(folder: str, forbidden: Callable[[str, str | None], bool], root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / folder).rglob("*.py")):
        for line, module, name in _imports(path, root):
            if forbidden(module, name):
                out.append(f"{path.relative_to(root)}:{line}: {module}.{name}" if name else
                           f"{path.relative_to(root)}:{line}: {module}")
    return out


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _reaches(module: str, name: str | None, *prefixes: str) -> bool:
    """Whether ``from module import name`` (or ``import module``) reaches into one of the packages."""
    return _under(module, *prefixes) or (name is not None and _under(f"{module}.{name}", *prefixes))


def _site(module: str, name: str | None) -> bool:
    return _reaches(module, name, "survey", "flask", "flask_babel", "flask_login", "flask_wtf", "flask_sqlalchemy",
                    "sqlalchemy", "werkzeug", "jinja2")


def _request_or_blueprint(module: str, name: str | None) -> bool:
    return ((module == "flask" and name in REQUEST_STATE) or (module == "flask_login" and name == "current_user")
            or _reaches(module, name, *BLUEPRINTS))


def _services_or_blueprints(module: str, name: str | None) -> bool:
    return _reaches(module, name, "survey.services", *BLUEPRINTS)


def _domain_request_or_blueprint(module: str, name: str | None) -> bool:
    return _request_or_blueprint(module, name) or _services_or_blueprints(module, name)


def test_the_engine_imports_nothing_of_the_site():
    assert _violations("analysis", _site) == []


def test_services_never_touch_the_request_nor_a_blueprint():
    assert _violations("survey/services", _request_or_blueprint) == []


def test_models_import_no_services():
    assert _violations("survey/models", _services_or_blueprints) == []


def test_core_imports_no_domain_package_and_no_blueprint():
    assert _violations("survey/core", _domain_request_or_blueprint) == []


@pytest.mark.parametrize("folder", ["survey", "analysis"])
def test_no_folder_holds_more_than_fifteen_modules(folder):
    crowded = [f"{d.relative_to(ROOT)} ({n})" for d in [ROOT / folder, *(ROOT / folder).rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and (n := len(list(d.glob("*.py")))) > 15]
    assert crowded == []


def test_every_package_says_what_it_owns():
    inits = [*(ROOT / "survey").rglob("__init__.py"), *(ROOT / "analysis").rglob("__init__.py")]
    silent = [str(p.relative_to(ROOT)) for p in inits if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert silent == []


def test_the_rules_catch_what_they_forbid(tmp_path):
    """The checks can fail: a service reading the request or importing a blueprint (also lazily and
    relatively), core importing a domain package, and the engine importing the site are reported."""
    (tmp_path / "survey" / "services" / "x").mkdir(parents=True)
    (tmp_path / "survey" / "services" / "x" / "bad.py").write_text(
        "def f():\n    from flask import request\n    from ...admin import bp\n    from flask import current_app\n"
        "    from flask_login import current_user\n")
    (tmp_path / "survey" / "core").mkdir()
    (tmp_path / "survey" / "core" / "bad.py").write_text("from survey.services.results import snapshots\n")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "bad.py").write_text("import numpy\nimport sqlalchemy.orm\nfrom survey import models\n")
    assert _violations("survey/services", _request_or_blueprint, tmp_path) == [
        "survey/services/x/bad.py:2: flask.request", "survey/services/x/bad.py:3: survey.admin.bp",
        "survey/services/x/bad.py:5: flask_login.current_user"]
    assert _violations("survey/core", _domain_request_or_blueprint, tmp_path) == [
        "survey/core/bad.py:1: survey.services.results.snapshots"]
    assert _violations("analysis", _site, tmp_path) == [
        "analysis/bad.py:2: sqlalchemy.orm", "analysis/bad.py:3: survey.models"]
