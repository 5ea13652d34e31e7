"""Published questionnaire versions, loaded once per process.

A published version never changes: editing it creates the next version (a new row, a new
id), and publishing a draft gives it its ``published_at``. So the submit path keeps each
published version it has loaded, with its questions and options, in a per-process
dictionary keyed by (id, family, version, published_at) — the family is a random UUID,
so a database restored or emptied and refilled (tests) cannot hand an old entry a new
questionnaire's id. Drafts are never cached: the admin's preview always sees the edit.

The cached objects are *detached* from every session, fully loaded (questions in order,
each with its options), and read-only: nothing may change them or lazy-load through them.
Several threads may read one at the same time. Its display conditions are compiled when it is
loaded (``conditions.plan``), so the submit path never parses them again.

:func:`fragment` keeps text made from a published version alone (the public page's rendered
question block) under the same version key plus the caller's own parts (units, language);
for a draft it always builds afresh.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from survey.models import Question, Questionnaire, QuestionnaireStatus
from survey.services.questionnaires import conditions

MAX_VERSIONS = 64  # a process serves a handful of campaigns; the oldest entry goes first
MAX_FRAGMENTS = 2048  # (question blocks and fresh pages) × units × languages; the least recently used goes first

_Key = tuple[int, str, int, object]
_versions: OrderedDict[_Key, Questionnaire] = OrderedDict()
_fragments: OrderedDict[tuple[_Key, Hashable], str] = OrderedDict()
_lock = threading.Lock()


def _key(questionnaire: Questionnaire) -> _Key:
    return (questionnaire.id, questionnaire.family, questionnaire.version, questionnaire.published_at)


def _load(session: Session, questionnaire_id: int) -> Questionnaire | None:
    return session.scalar(
        select(Questionnaire)
        .options(selectinload(Questionnaire.questions).selectinload(Question.options))
        .where(Questionnaire.id == questionnaire_id)
    )


def _is_draft(questionnaire: Questionnaire) -> bool:
    return questionnaire.status == QuestionnaireStatus.DRAFT or questionnaire.published_at is None


def questionnaire_version(session: Session, questionnaire: Questionnaire) -> Questionnaire:
    """``questionnaire`` with its questions and options: from the cache when it is published,
    else (a draft) loaded now through ``session``."""
    if _is_draft(questionnaire):
        loaded = _load(session, questionnaire.id)
        assert loaded is not None
        return loaded
    key = _key(questionnaire)
    cached = _versions.get(key)
    if cached is not None:
        return cached
    bind = session.get_bind(Questionnaire)
    with Session(bind, expire_on_commit=False) as own:  # its own session: the objects outlive it, detached
        loaded = _load(own, questionnaire.id)
        assert loaded is not None
        for question in loaded.questions:
            question.options  # noqa: B018 - loaded by selectinload; touched so that nothing is left to load
        conditions.plan(loaded)  # the display conditions compiled once, kept as long as this version is
    with _lock:
        _versions[key] = loaded
        while len(_versions) > MAX_VERSIONS:
            _versions.popitem(last=False)
    return loaded


def fragment(questionnaire: Questionnaire, parts: Hashable, build: Callable[[], str]) -> str:
    """The text ``build`` makes for this published version and ``parts`` (everything else it depends
    on, e.g. unit ids and names and the language), built once per process; a draft's is built
    every time."""
    if _is_draft(questionnaire):
        return build()
    key = (_key(questionnaire), parts)
    with _lock:
        text = _fragments.get(key)
        if text is not None:
            _fragments.move_to_end(key)
            return text
    text = build()
    with _lock:
        _fragments[key] = text
        while len(_fragments) > MAX_FRAGMENTS:
            _fragments.popitem(last=False)
    return text


def clear() -> None:
    """Forget every cached version and fragment (tests; never needed for correctness)."""
    with _lock:
        _versions.clear()
        _fragments.clear()
