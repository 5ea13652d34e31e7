"""The stylesheets: one staff sheet, and no selector given two different values by sheets that are
loaded together (app.css under every page; staff.css on top for /admin/, desk.css for the desk)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parent.parent / "static" / "css"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _top_level(text: str) -> str:
    """The sheet without comments and without @media/@supports blocks (those refine, by design)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    out, i = [], 0
    while i < len(text):
        if text.startswith(("@media", "@supports"), i):
            j, depth = text.index("{", i) + 1, 1
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _rules(text: str) -> list[tuple[str, dict[str, str]]]:
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", _top_level(text)):
        declarations = {k.strip(): v.strip() for k, v in
                            (d.split(":", 1) for d in body.split(";") if ":" in d)}
        rules += [(" ".join(s.split()), declarations) for s in selectors.split(",")]
    return rules


def conflicts(*sheets: tuple[str, str]) -> list[str]:
    """(selector, property) set to different values by two different sheets, or twice in one
    sheet other than app.css (whose citizen controls refine themselves by design)."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    found = []
    for name, text in sheets:
        own: set[tuple[str, str]] = set()
        for selector, declarations in _rules(text):
            for prop, value in declarations.items():
                key = (selector, prop)
                if key in seen and seen[key][0] != value and (seen[key][1] != name or name != "app.css"):
                    found.append(f"{selector} {{{prop}}}: {seen[key][1]} {seen[key][0]!r}, {name} {value!r}")
                if key not in own:
                    seen[key] = (value, name)
                    own.add(key)
    return found


@pytest.mark.parametrize("layer", ["staff.css", "desk.css"])
def test_no_selector_gets_two_values_from_sheets_loaded_together(layer):
    sheets = [(name, (CSS / name).read_text(encoding="utf-8")) for name in ("app.css", layer)]
    assert conflicts(*sheets) == []


def test_the_conflict_check_can_fail():
    assert conflicts(("app.css", ".pager{gap:6px}"), ("staff.css", ".x,.pager{gap:16px}")) == [
        ".pager {gap}: app.css '6px', staff.css '16px'"]
    assert conflicts(("staff.css", "dl.facts{gap:4px}dl.facts{gap:8px}")) == [
        "dl.facts {gap}: staff.css '4px', staff.css '8px'"]
    assert conflicts(("app.css", "@media print{.a{b:c}}.a{b:d}")) == []


def test_one_staff_sheet_and_every_linked_sheet_exists():
    assert sorted(p.name for p in CSS.glob("*.css")) == ["app.css", "desk.css", "staff.css"]
    linked = {m for path in TEMPLATES.rglob("*.html")
              for m in re.findall(r"filename='css/([\w.-]+)'", path.read_text(encoding="utf-8"))}
    assert linked == {"app.css", "desk.css", "staff.css"}
