"""The one scoped lookup: a row by its id, or a 404 — unknown, too big, outside the scope or the parent."""
from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound

from survey.core.lookups import by_id, get_or_404
from survey.models import Question, Unit


def test_unknown_and_impossible_ids_are_404(app, make):
    unit = make.unit()
    make.commit()
    with app.test_request_context():
        assert get_or_404(Unit, unit.id) is unit
        for ident in (unit.id + 1000, 0, -1, 2**31, 10**20):
            with pytest.raises(NotFound):
                get_or_404(Unit, ident)
        assert by_id(make.session, Unit, 10**20) is None


def test_scope_and_parent(app, make):
    parent, other = make.unit(), make.unit()
    first, second = make.questionnaire(), make.questionnaire()
    make.commit()
    question = first.questions[0]
    with app.test_request_context():
        assert get_or_404(Unit, parent.id, scope=None) is parent  # None: every unit (an analyst)
        assert get_or_404(Unit, parent.id, scope={parent.id}) is parent
        with pytest.raises(NotFound):
            get_or_404(Unit, other.id, scope={parent.id})
        with pytest.raises(NotFound):
            get_or_404(Unit, other.id, scope=set())  # a contact bound to no unit sees nothing
        assert get_or_404(Question, question.id, within=first) is question
        with pytest.raises(NotFound):
            get_or_404(Question, question.id, within=second)
