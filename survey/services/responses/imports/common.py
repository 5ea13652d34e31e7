"""What every step of an import shares: the campaign's import channels, the file's vocabulary,
the checked file (:class:`Preview`) and the submission id of a 答卷编号."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core import spreadsheets
from survey.core.errors import DomainError
from survey.models import (
    Campaign,
    CampaignStatus,
    Channel,
    GroupMode,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionType,
    RespondentGroup,
    Response,
    Unit,
    utcnow,
)
from survey.services.campaigns import lookup as campaign_service
from survey.services.responses import submission

IMPORT_CHANNELS = (Channel.PHONE, Channel.PAPER, Channel.IMPORTED)
MAX_ROWS = spreadsheets.MAX_ROWS  # a file from the command line
# A file uploaded on the page: storing a response with its answers and hooks takes about 2–4 ms
# (PostgreSQL), so 5,000 rows stay well inside a web worker's timeout (PINGYI_TIMEOUT, 60 s).
WEB_MAX_ROWS = 5000
RESPONDENT_MAX = 64
WRITE_BATCH = 500
TEMPLATE_HEADERS = {
    "respondent": "答卷编号",
    "unit": "单位代码",
    "group": "样本类别",
    "channel": "渠道",
    "time": "提交时间",
}
# The template asked for in English: English headers, each one an alias the import reads (COLUMNS).
TEMPLATE_HEADERS_EN = {
    "respondent": "respondent_id",
    "unit": "unit_code",
    "group": "group",
    "channel": "channel",
    "time": "submitted_at",
}


def template_header(key: str) -> str:
    """A fixed column's header (in the template and in problems): Chinese, or in English the English
    name the import reads as well."""
    locale = get_locale()
    return (TEMPLATE_HEADERS_EN if locale is not None and locale.language == "en" else TEMPLATE_HEADERS)[key]


# Fixed columns: the template's header first, then aliases a survey firm's own sheet may use.
COLUMNS = {
    "respondent": ("答卷编号", "问卷编号", "样本编号", "编号", "respondent_id", "respondent id", "respondent"),
    "unit": ("单位代码", "单位编码", "被评单位代码", "单位", "被评单位", "unit_code", "unit code", "unit"),
    "group": ("样本类别", "样本类型", "身份", "group", "respondent group"),
    "channel": ("渠道", "调查方式", "channel"),
    "time": ("提交时间", "填写时间", "访问时间", "调查时间", "submitted_at", "submitted at", "time"),
}
CHANNEL_WORDS = {
    "电话": Channel.PHONE, "电话访问": Channel.PHONE, "电话调查": Channel.PHONE, "phone": Channel.PHONE,
    "纸质": Channel.PAPER, "纸质问卷": Channel.PAPER, "问卷": Channel.PAPER, "paper": Channel.PAPER,
    "外部": Channel.IMPORTED, "外部导入": Channel.IMPORTED, "导入": Channel.IMPORTED, "imported": Channel.IMPORTED,
    # Wordings the site used before every page took labels.py's one (files written then still import),
    # and the English labels; compared after NFKC, so full-width brackets are written plain here.
    "电话访问(录入)": Channel.PHONE, "纸质问卷(录入)": Channel.PAPER,
    "phone interview": Channel.PHONE, "phone interview (entered)": Channel.PHONE,
    "paper questionnaire": Channel.PAPER, "paper questionnaire (entered)": Channel.PAPER,
}
# Satisfaction cells: the five levels by name (基本满意 is also written 一般) or number, and 不了解.
# The English labels are read too (compared case-folded), so a template filled in English imports.
LEVEL_WORDS = {"非常满意": 5, "满意": 4, "基本满意": 3, "一般": 3, "不满意": 2, "非常不满意": 1,
               "very satisfied": 5, "satisfied": 4, "fairly satisfied": 3, "dissatisfied": 2, "very dissatisfied": 1}
DONT_KNOW_WORDS = ("不了解", "don't know", "don’t know", "dk")
CHOICE_SEPARATORS = re.compile(r"([；;、])")


class ResponseImportError(DomainError):
    """The file or the campaign cannot be imported at all; the message says why."""


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: the row number as the spreadsheet shows it (1 = the header) and the column."""

    line: int
    column: str
    message: str


@dataclass
class Respondent:
    """One response to be stored: a respondent's row, or an appraisal respondent's rows."""

    key: str  # the 答卷编号 as written in its first row
    lines: list[int]
    submission_id: str
    channel: Channel
    group: RespondentGroup | None
    units: list[Unit]
    submitted_at: dt.datetime
    answers: list[submission.ParsedAnswer]
    already_imported: bool = False


@dataclass
class Preview:
    """The checked file: the responses it holds and every problem, with row and column."""

    filename: str = ""
    total_rows: int = 0
    respondents: list[Respondent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)

    @property
    def new(self) -> list[Respondent]:
        return [r for r in self.respondents if not r.already_imported]

    @property
    def skipped(self) -> list[Respondent]:
        return [r for r in self.respondents if r.already_imported]

    @property
    def ok(self) -> bool:
        """Nothing wrong and something to store."""
        return not self.problems and bool(self.new)

    def by_channel(self) -> list[tuple[Channel, int]]:
        counts = Counter(r.channel for r in self.new)
        return [(c, counts[c]) for c in IMPORT_CHANNELS if counts[c]]

    def by_group(self) -> list[tuple[str, int]]:
        counts = Counter(r.group.name if r.group else "—" for r in self.new)
        return sorted(counts.items(), key=lambda item: -item[1])

    def by_unit(self) -> list[tuple[Unit, int]]:
        counts: Counter[int] = Counter(u.id for r in self.new for u in r.units)
        units = {u.id: u for r in self.new for u in r.units}
        return sorted(((units[i], n) for i, n in counts.items()), key=lambda item: item[0].code)


# --- the campaign --------------------------------------------------------------------------------

def allowed_channels(campaign: Campaign) -> list[Channel]:
    """The import channels (phone, paper, imported) this campaign takes."""
    return [c for c in IMPORT_CHANNELS if campaign.allows_channel(c)]


def campaign_problem(campaign: Campaign, now: dt.datetime | None = None) -> str | None:
    """Why this campaign cannot take imported responses, or None.

    A closed campaign may (paper questionnaires arrive late); a draft or a campaign not yet
    started may not, nor one without any of the phone, paper or import channels.
    """
    now = now or utcnow()
    if campaign.status == CampaignStatus.DRAFT:
        return _("本评议活动还是草稿，开始后才能导入答卷。")
    if now < campaign.opens_at:
        return _("本评议活动尚未开始，开始后才能导入答卷。")
    if not allowed_channels(campaign):
        return _("本评议活动没有开通“电话访问”“纸质问卷”或“外部导入”渠道，请先在活动设置中开通。")
    return None


def check_campaign(campaign: Campaign, now: dt.datetime | None = None) -> None:
    problem = campaign_problem(campaign, now)
    if problem is not None:
        raise ResponseImportError(problem)


def parse_channel(raw: str | None) -> Channel | None:
    """An import channel from its Chinese or English name (电话/纸质/外部, phone/paper/imported), or its label."""
    text = unicodedata.normalize("NFKC", raw or "").strip().lower()
    return CHANNEL_WORDS.get(text)


def imported_counts(session: Session, campaign: Campaign) -> list[tuple[Channel, int]]:
    """Responses of this campaign that came in by phone, paper or import so far (any status)."""
    rows = dict(session.execute(
        select(Response.channel, func.count(Response.id))
        .where(Response.campaign_id == campaign.id, Response.channel.in_(IMPORT_CHANNELS))
        .group_by(Response.channel)
    ).all())
    return [(c, rows.get(c, 0)) for c in IMPORT_CHANNELS]


def submission_id_for(campaign: Campaign, respondent: str, secret: str | bytes | None = None) -> str:
    """The same campaign and 答卷编号 always give the same submission id (so a re-import stores nothing twice).

    The id is an HMAC keyed with the site's ``SECRET_KEY``: knowing a campaign and a 答卷编号
    (often just a running number) is not enough to compute it, so it cannot be used to reach a
    stranger's response. The 答卷编号 is compared after NFKC (full-width letters and digits as
    ASCII) and case folding.
    """
    if secret is None:
        secret = current_app.config["SECRET_KEY"]
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"pingyi-import\x1f{campaign.id}\x1f{respondent_key(respondent)}".encode()
    return f"imk-{hmac.new(key, message, hashlib.sha256).hexdigest()[:40]}"


def earlier_submission_ids(campaign: Campaign, respondent: str) -> list[str]:
    """Ids the same 答卷编号 may have been stored under before: the unkeyed hash that versions before
    issue 14 used (``imp-…``). Responses imported then keep that id; a re-import still finds them.

    A changed ``SECRET_KEY`` changes every keyed id, so a file imported before the change is no
    longer recognised as imported (docs/operations.md says so).
    """
    message = f"pingyi-import\x1f{campaign.id}\x1f{respondent_key(respondent)}".encode()
    return [f"imp-{hashlib.sha256(message).hexdigest()[:40]}"]


def respondent_key(respondent: str) -> str:
    return unicodedata.normalize("NFKC", respondent).strip().casefold()


# --- the questionnaire and the campaign's facts ---------------------------------------------------

def import_questions(questionnaire: Questionnaire) -> list[Question]:
    """The questions a row answers: all but the respondent-group question (the 样本类别 column gives the group,
    as an invitation does, and the citizen page then does not ask it either)."""
    return [q for q in questionnaire.questions if q.type != QuestionType.GROUP]


def question_header(question: Question) -> str:
    text = " ".join((question.text or "").split())
    return f"{question.code} {text}"[:120].strip()


def group_preset(campaign: Campaign) -> bool:
    return campaign.group_mode == GroupMode.PRESET and campaign.preset_group_id is not None


def single_unit(session: Session, campaign: Campaign) -> Unit | None:
    """A service survey of one unit needs no 单位代码 column."""
    if campaign.questionnaire.kind != QuestionnaireKind.SERVICE:
        return None
    units = campaign_service.campaign_units(session, campaign)
    return units[0].unit if len(units) == 1 else None


def group_required(questionnaire: Questionnaire) -> bool:
    """The group is required when the questionnaire's own group question is; with no group question it is optional."""
    return any(q.type == QuestionType.GROUP and q.required for q in questionnaire.questions)


def active_groups(session: Session) -> list[RespondentGroup]:
    return list(session.scalars(
        select(RespondentGroup).where(RespondentGroup.active.is_(True)).order_by(RespondentGroup.sort_order)
    ))
