"""Small builders for test data. Each returns a flushed model with sensible defaults."""
from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

from sqlalchemy.orm import Session

from survey.models import (
    Campaign,
    CampaignStatus,
    CampaignUnit,
    Category,
    Channel,
    GroupMode,
    Questionnaire,
    QuestionnaireStatus,
    RespondentGroup,
    Role,
    Unit,
    UnitKind,
    User,
    utcnow,
)
from survey.services.accounts.users import hash_password
from survey.services.campaigns.lookup import unique_short_code
from survey.services.questionnaires.builtin import APPRAISAL, WINDOW_SERVICE
from survey.services.questionnaires.serialise import build_questionnaire

PASSWORD = "correct horse battery"
_seq = itertools.count(1)

DEFAULT_GROUPS = [("QY", "企业代表", 0.25), ("SM", "市民", 0.30), ("FW", "办事群众（服务对象）", 0.20),
                  ("RD", "人大代表、政协委员", 0.15), ("ZZ", "行业协会、社会组织", 0.10)]


def csrf_from(response: Any) -> str:
    """The CSRF token of the first form on a page."""
    html = response.get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token on the page"
    return match.group(1)


def hidden_from(response: Any, name: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def category(self, code: str | None = None, name: str | None = None) -> Category:
        n = next(_seq)
        category = Category(code=code or f"C{n}", name=name or f"类别{n}", sort_order=n)
        self.session.add(category)
        self.session.flush()
        return category

    def unit(self, code: str | None = None, name: str | None = None, category: Category | None = None,
             parent: Unit | None = None, kind: UnitKind = UnitKind.DEPARTMENT, **kw: Any) -> Unit:
        n = next(_seq)
        unit = Unit(code=code or f"U{n}", name=name or f"测试单位{n}", category=category, parent=parent,
                    kind=kind, **kw)
        self.session.add(unit)
        self.session.flush()
        return unit

    def groups(self) -> dict[str, RespondentGroup]:
        from sqlalchemy import select

        existing = {g.code: g for g in self.session.scalars(select(RespondentGroup))}
        for order, (code, name, share) in enumerate(DEFAULT_GROUPS):
            if code not in existing:
                existing[code] = RespondentGroup(code=code, name=name, target_share=share, sort_order=order)
                self.session.add(existing[code])
        self.session.flush()
        return existing

    def questionnaire(self, data: dict[str, Any] | None = None, kind: str = "service",
                      published: bool = True) -> Questionnaire:
        self.groups()
        template = data or (WINDOW_SERVICE if kind == "service" else APPRAISAL)
        questionnaire = build_questionnaire(self.session, template)
        if published:
            questionnaire.status = QuestionnaireStatus.PUBLISHED
            questionnaire.published_at = utcnow()
        self.session.add(questionnaire)
        self.session.flush()
        return questionnaire

    def campaign(self, units: list[Unit] | None = None, questionnaire: Questionnaire | None = None,
                 kind: str = "service", status: CampaignStatus = CampaignStatus.OPEN, period: str = "2026Q4",
                 opens_at: dt.datetime | None = None, closes_at: dt.datetime | None = None,
                 channels: list[str] | None = None, group_mode: GroupMode = GroupMode.ASK,
                 preset_group: RespondentGroup | None = None, **kw: Any) -> Campaign:
        questionnaire = questionnaire or self.questionnaire(kind=kind)
        units = units if units is not None else [self.unit()]
        now = utcnow()
        campaign = Campaign(
            short_code=unique_short_code(self.session),
            title=kw.pop("title", f"测试评议{next(_seq)}"),
            questionnaire=questionnaire,
            period=period,
            status=status,
            opens_at=opens_at or now - dt.timedelta(days=1),
            closes_at=closes_at or now + dt.timedelta(days=30),
            channels=channels or [c.value for c in Channel],
            group_mode=group_mode,
            preset_group=preset_group,
            **kw,
        )
        self.session.add(campaign)
        self.session.flush()
        for unit in units:
            self.session.add(CampaignUnit(campaign=campaign, unit=unit, short_code=unique_short_code(self.session)))
        self.session.flush()
        return campaign

    def user(self, role: str | Role = "analyst", unit: Unit | None = None, username: str | None = None,
             password: str = PASSWORD) -> User:
        role = Role(role)
        if role in (Role.UNIT, Role.DESK) and unit is None:
            unit = self.unit()
        user = User(username=username or f"{role.value}{next(_seq)}", password_hash=hash_password(password),
                    role=role, unit=unit)
        self.session.add(user)
        self.session.commit()
        return user

    def commit(self) -> None:
        self.session.commit()


# --- Display conditions and the 差评 reasons (issue 18) ----------------------------------------------

BAD_REASONS = [("attitude", "服务态度", "Staff attitude"), ("efficiency", "办事效率", "Efficiency"),
               ("process", "材料与流程", "Paperwork and procedure"), ("waiting", "等候时间", "Waiting time"),
               ("facilities", "环境设施", "Premises and facilities"), ("other", "其他（请说明）", "Other (please say)")]
#: shown after any 不满意 or 非常不满意 on the window template's Q1 … Q5
BAD_REASONS_SHOW_IF = {"any": [{"question": f"Q{n}", "op": "le", "value": 2} for n in range(1, 6)]}


def window_with_bad_reasons(make: Factory, extra: list[dict[str, Any]] | None = None) -> Questionnaire:
    """The window template with a 差评-reasons question ``BR`` (multiple choice, ``settings["role"] ==
    "bad_reasons"``, shown after any level ≤ 2) and its "其他" explanation ``BRX`` (text, shown when
    "other" is chosen), whatever the built-in template already holds; ``extra`` questions appended."""
    import copy

    template = copy.deepcopy(WINDOW_SERVICE)
    template["questions"] = [q for q in template["questions"]
                             if (q.get("settings") or {}).get("role") != "bad_reasons" and not q.get("show_if")]
    template["questions"] += [
        {"code": "BR", "type": "multiple", "text": "您不满意的主要问题是什么？", "text_en": "What was the main problem?",
         "in_index": False, "required": False, "settings": {"role": "bad_reasons"},
         "options": [{"code": c, "label": zh, "label_en": en} for c, zh, en in BAD_REASONS]},
        {"code": "BRX", "type": "text", "text": "请说明其他问题", "text_en": "Please describe the other problem",
         "in_index": False, "required": False, "max_length": 200},
        *(extra or []),
    ]
    questionnaire = make.questionnaire(template)
    by_code = {q.code: q for q in questionnaire.questions}
    by_code["BR"].show_if = BAD_REASONS_SHOW_IF
    by_code["BRX"].show_if = {"any": [{"question": "BR", "op": "chosen", "value": "other"}]}
    make.session.flush()
    return questionnaire


def answer_bad_reasons(campaign: Campaign, response: Any, unit: Unit, reasons: Any = None,
                       other_text: str | None = None) -> None:
    """The reasons question's answers on ``response`` for ``unit``: ``reasons`` None — not shown (one
    row, ``not_shown``, every value NULL; the "其他" text question too); ``()`` — shown but skipped (no
    row); else one row per option code chosen, and ``other_text`` as the "其他" explanation (not shown
    when "other" was not chosen)."""
    from survey.models import Answer

    qs = {q.code: q for q in campaign.questionnaire.questions}
    reasons_q, other_q = qs["BR"], qs["BRX"]
    if reasons is None:
        for q in (reasons_q, other_q):
            response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=q.id, not_shown=True))
        return
    options = {o.code: o for o in reasons_q.options}
    for code in reasons:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=reasons_q.id,
                                       option_id=options[code].id))
    if "other" not in reasons:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=other_q.id, not_shown=True))
    elif other_text:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=other_q.id, text=other_text))
