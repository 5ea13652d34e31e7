"""The documentation holds together: every relative link in README.md, docs/*.md and
analysis/README.md points at a file that exists and, when it names a heading (``page.md#anchor``
or ``#anchor``), at a heading that page has. Anchors follow GitHub's rule: lower case, spaces to
hyphens, punctuation dropped, letters of any script kept, ``-1``, ``-2`` … for repeated headings.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "analysis" / "README.md", *(ROOT / "docs").glob("*.md")])

LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> list[str]:
    """Every line, blank inside fenced code blocks (a ``#`` there is a comment, not a heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its words
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(_prose(path.read_text(encoding="utf-8")), start=1):
        line = re.sub(r"`[^`]*`", "", line)  # a link inside a code span is code
        found += [(number, target) for target in LINK.findall(line)]
    return found


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # http:, https:, mailto: …


def test_there_are_pages_to_check():
    names = {path.relative_to(ROOT).as_posix() for path in PAGES}
    assert {"README.md", "analysis/README.md", "docs/README.md", "docs/configuration.md",
            "docs/development.md"} <= names


def test_slug_follows_github():
    assert slug("Setting up (绩效办)") == "setting-up-绩效办"
    assert slug("`make` variables") == "make-variables"
    assert slug("Retention and daily jobs") == "retention-and-daily-jobs"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    broken = []
    for number, target in links(page):
        if not _relative(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not destination.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_environment_variable_of_the_site_is_documented():
    """Every variable the site or gunicorn reads (``os.environ.get("NAME"…)``, ``os.environ["NAME"]``,
    ``_int("NAME", …)``) and every ``NAME ?=`` of the Makefile has a row in docs/configuration.md."""
    read = re.compile(r"""(?:os\.environ\.get|getenv|os\.environ\[|_int)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
    names = {name for path in (ROOT / "survey").rglob("*.py") for name in read.findall(path.read_text("utf-8"))}
    names |= set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*\?=", (ROOT / "Makefile").read_text("utf-8"), re.MULTILINE))
    assert "SECRET_KEY" in names and "PINGYI_BIND" in names and "HOST" in names
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    missing = sorted(name for name in names if f"`{name}`" not in documented)
    assert not missing, f"not in docs/configuration.md: {missing}"
