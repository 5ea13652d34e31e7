"""One error type with field errors, and the collector that builds it."""
from __future__ import annotations

import pytest

from survey.core.errors import Collector, DomainError


def test_a_message_or_messages_per_field():
    plain = DomainError("不能执行此操作。")
    assert plain.errors == {"": "不能执行此操作。"} and plain.message == str(plain) == "不能执行此操作。"
    fields = DomainError({"code": ["代码已被占用。", "代码太长。"], "name": "请填写名称。"})
    assert fields.fields == {"code": ["代码已被占用。", "代码太长。"], "name": ["请填写名称。"]}
    assert fields.errors == {"code": "代码已被占用。", "name": "请填写名称。"}
    assert str(fields) == fields.message == "代码已被占用。；请填写名称。"
    assert isinstance(fields, ValueError)


def test_the_collector_gathers_then_raises_once():
    check = Collector()
    assert check.take("n", int, "12") == 12 and not check
    assert check.take("n", int, "x") is None
    check.add("n", "另一个问题。")
    check.add("", "整张表单的问题。")
    assert "n" in check and check.errors["n"].startswith("invalid literal")
    with pytest.raises(DomainError) as caught:
        check.raise_if_any()
    assert caught.value.fields["n"][1] == "另一个问题。" and caught.value.message == "整张表单的问题。"
    Collector().raise_if_any()  # nothing gathered: nothing raised
