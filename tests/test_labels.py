"""Every coded value has one label, kept in survey/core/labels.py: each enum kind covers its model
enum, no template or module writes its own label dictionary, and the labels translate."""
from __future__ import annotations

import ast
import enum
import re
from pathlib import Path

import pytest
from flask import render_template_string

from survey import models
from survey.core import labels
from survey.models import CampaignStatus, Channel, ResponseStatus
from survey.services.responses.imports.common import parse_channel

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("kind", sorted(labels.ENUMS))
def test_every_enum_kind_covers_every_value_of_its_model_enum(kind):
    assert set(labels.LABELS[kind]) == {member.value for member in labels.ENUMS[kind]}


def test_every_model_enum_has_a_label_kind():
    enums = {obj for obj in vars(models).values() if isinstance(obj, type) and issubclass(obj, enum.Enum)}
    assert enums and enums <= set(labels.ENUMS.values())


def test_every_label_is_a_lazy_string_and_choices_keep_the_order():
    for kind, texts in labels.LABELS.items():
        assert texts, kind
        assert all(hasattr(text, "_args") for text in texts.values()), kind  # lazy_gettext
    assert [value for value, _ in labels.choices("channel")] == [c.value for c in Channel]
    assert labels.values("level") == (5, 4, 3, 2, 1)


# A dict literal that maps codes to translated words: {'draft': _('草稿'), ...} or {% set x = {'a': _(...
INLINE_LABELS = re.compile(r"\{\s*['\"][\w-]+['\"]\s*:\s*(_|gettext|pgettext)\(")


def test_no_template_writes_its_own_label_dictionary():
    found = [f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
             for path in sorted((ROOT / "templates").rglob("*.html"))
             for text in [path.read_text(encoding="utf-8")] for m in INLINE_LABELS.finditer(text)]
    assert found == []


ENUM_NAMES = {e.__name__ for e in labels.ENUMS.values()}


def _enum_keyed_label_dicts(path: Path, root: Path = ROOT) -> list[str]:
    """Module-level dicts whose keys are enum members (Channel.WEB: ...) and whose values are lazy texts."""
    out = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, ast.Dict) and value.keys and all(
                isinstance(k, ast.Attribute) and isinstance(k.value, ast.Name) and k.value.id in ENUM_NAMES
                for k in value.keys) and all(
                isinstance(v, ast.Call) and getattr(v.func, "id", "") in ("_l", "lazy_gettext") for v in value.values):
            out.append(f"{path.relative_to(root)}:{node.lineno}")
    return out


def test_no_module_but_labels_keys_label_texts_by_enum_member():
    found = [hit for path in sorted((ROOT / "survey").rglob("*.py")) if path.name != "labels.py"
             for hit in _enum_keyed_label_dicts(path)]
    assert found == []


def test_the_dictionary_checks_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('X = {Channel.WEB: _l("网页")}\n', encoding="utf-8")
    assert _enum_keyed_label_dicts(bad, tmp_path) == ["bad.py:1"]
    assert INLINE_LABELS.search("{{ {'draft': _('草稿')}[s] }}")
    assert INLINE_LABELS.search("{% set names = {\n  'web': _('网页链接') } %}")
    assert not INLINE_LABELS.search("{{ url_for('x', **{'back': 'edit'}) }}")


def test_labels_in_chinese_by_default(app):
    with app.test_request_context("/"):
        assert labels.label("channel", Channel.DESK) == "窗口一事一评"
        assert labels.label("channel", "phone") == "电话访问"
        assert labels.label("campaign_status", CampaignStatus.PAUSED) == "已暂停"
        assert labels.label("level", 3) == "基本满意"
        assert labels.label("flag", "not_a_flag") == "not_a_flag"  # an unknown code shows as itself
        assert labels.label("verdict", None) == ""


def test_labels_render_in_english(app):
    with app.test_request_context("/?lang=en"):
        assert labels.label("channel", Channel.WEB) == "Web link"
        assert labels.label("channel", Channel.POSTER) == "Poster QR code"
        assert labels.label("response_status", ResponseStatus.EXCLUDED) == "Excluded"
        assert labels.label("campaign_status", "draft") == "Draft"
        assert labels.label("grade", "优秀") == "Excellent"
        html = render_template_string(
            "{{ s|label('snapshot_status') }}|{% for v, t in label_choices('day_kind') %}{{ v }}={{ t }};{% endfor %}",
            s=models.SnapshotStatus.SUPERSEDED)
        assert html == "Superseded|holiday=Day off (holiday);workday=" + labels.label("day_kind", "workday") + ";"


def test_filter_renders_the_chinese_label(app):
    with app.test_request_context("/"):
        assert render_template_string("{{ c|label('channel') }}", c=Channel.IMPORTED) == "外部导入"


@pytest.mark.parametrize("word, channel", [
    ("电话访问", Channel.PHONE), ("纸质问卷", Channel.PAPER), ("外部导入", Channel.IMPORTED),
    # wordings used before the labels were unified still import
    ("电话访问（录入）", Channel.PHONE), ("纸质问卷（录入）", Channel.PAPER), ("导入", Channel.IMPORTED),
    ("Phone interview", Channel.PHONE), ("Paper questionnaire (entered)", Channel.PAPER),
])
def test_the_response_import_reads_the_channel_labels_old_and_new(word, channel):
    assert parse_channel(word) == channel


POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.DOTALL | re.IGNORECASE)


def test_every_post_form_carries_the_csrf_token_from_the_shared_macro():
    """Plain forms use csrf() from templates/macros/forms.html; WTForms forms their hidden_tag()."""
    bare = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert "csrf_token()" not in text or path.parts[-2:] == ("macros", "forms.html"), path
        bare += [f"{path.relative_to(ROOT)}" for m in POST_FORM.finditer(text)
                 if not re.search(r"\bcsrf\([a-z_]*\)", m.group(1)) and "hidden_tag()" not in m.group(1)]
    assert bare == []
