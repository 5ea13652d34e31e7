"""导入答卷: telephone interviews, paper questionnaires and other tools' exports, brought into a campaign.

Most 群众满意度测评 are done by a survey firm (第三方测评机构) that phones people or
hands out paper questionnaires and keys the answers into a spreadsheet. The analyst
downloads a template made from the campaign's questionnaire, the firm fills it in, and
the analyst uploads it: every row is checked first and nothing is written unless the
whole file is valid; then all responses are stored in one transaction, or none.

The rules:

* one row per respondent; in an appraisal (万人评议) one row per respondent and rated
  unit, and the rows sharing a 答卷编号 form one response;
* answers are checked by the citizen page's own rules (:func:`submission.parse_answers`):
  a row is turned into the form fields that page would post;
* the submission id is derived from the campaign and the 答卷编号, so importing the same
  file again (or another file repeating 答卷编号 already imported) stores nothing twice:
  those respondents are skipped, and the preview says how many;
* responses are stored the way :func:`submission.submit_response` stores them and run
  the same after-insert hooks, so 差评 and comments open cases as web responses do. The
  deadline of such a case counts from the day of the import, because the unit could not
  act on a questionnaire before it was entered;
* the channel (电话访问, 纸质问卷, 外部导入) and the time come from the file, no
  fingerprint is stored, and the analyst who imported is recorded as ``entered_by``;
* a closed campaign still takes imports (paper questionnaires arrive late), a draft or
  a campaign not yet started does not, and neither does a channel the campaign does not
  allow. One audit entry per import names the file, the count and the channels.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from survey.core import audit, spreadsheets
from survey.core.clock import get_timezone, local_date, org_timezone
from survey.core.validation import bad_character, strip_control
from survey.models import (
    Answer,
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
    ResponseStatus,
    Unit,
    User,
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
}
# Satisfaction cells: the five levels by name (基本满意 is also written 一般) or number, and 不了解.
LEVEL_WORDS = {"非常满意": 5, "满意": 4, "基本满意": 3, "一般": 3, "不满意": 2, "非常不满意": 1}
DONT_KNOW_WORDS = ("不了解",)
CHOICE_SEPARATORS = re.compile(r"([；;、])")
_PHONE_LIKE = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}")
_INTEGER = re.compile(r"[0-9]{1,9}(?:\.0+)?")
_MOMENT = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:：时点](\d{1,2})(?:[:：分](\d{1,2})(?:\.\d+)?秒?)?分?)?"
)


class ResponseImportError(ValueError):
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


def channel_label(channel: Channel) -> str:
    return {Channel.PHONE: _("电话访问"), Channel.PAPER: _("纸质问卷"), Channel.IMPORTED: _("外部导入")}.get(
        channel, channel.value)


def parse_channel(raw: str | None) -> Channel | None:
    """An import channel from its Chinese or English name (电话/纸质/外部, phone/paper/imported)."""
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


def submission_id_for(campaign: Campaign, respondent: str) -> str:
    """The same campaign and 答卷编号 always give the same submission id (so a re-import stores nothing twice).

    The 答卷编号 is compared after NFKC (full-width letters and digits as ASCII) and case folding.
    """
    key = respondent_key(respondent)
    digest = hashlib.sha256(f"pingyi-import\x1f{campaign.id}\x1f{key}".encode("utf-8")).hexdigest()
    return f"imp-{digest[:40]}"


def respondent_key(respondent: str) -> str:
    return unicodedata.normalize("NFKC", respondent).strip().casefold()


# --- the template ------------------------------------------------------------------------------

def import_questions(questionnaire: Questionnaire) -> list[Question]:
    """The questions a row answers: all but the respondent-group question (the 样本类别 column gives the group,
    as an invitation does, and the citizen page then does not ask it either)."""
    return [q for q in questionnaire.questions if q.type != QuestionType.GROUP]


def question_header(question: Question) -> str:
    text = " ".join((question.text or "").split())
    return f"{question.code} {text}"[:120].strip()


def template_headers(campaign: Campaign) -> list[str]:
    headers = [TEMPLATE_HEADERS["respondent"], TEMPLATE_HEADERS["unit"]]
    if not _group_preset(campaign):
        headers.append(TEMPLATE_HEADERS["group"])
    headers += [TEMPLATE_HEADERS["channel"], TEMPLATE_HEADERS["time"]]
    return headers + [question_header(q) for q in import_questions(campaign.questionnaire)]


def _group_preset(campaign: Campaign) -> bool:
    return campaign.group_mode == GroupMode.PRESET and campaign.preset_group_id is not None


def _type_label(question: Question) -> str:
    return {
        QuestionType.SATISFACTION: _("满意度"), QuestionType.SINGLE: _("单选"), QuestionType.MULTIPLE: _("多选"),
        QuestionType.RATING: _("0–10 分"), QuestionType.TEXT: _("文字"), QuestionType.GROUP: _("样本类别"),
    }[question.type]


def _how_to_answer(question: Question) -> str:
    if question.type == QuestionType.SATISFACTION:
        text = _("5 非常满意、4 满意、3 基本满意（一般）、2 不满意、1 非常不满意；填文字或数字均可")
        return text + (_("；可填“不了解”") if question.allow_dont_know else _("；本题不设“不了解”"))
    if question.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        options = _("、").join(f"{i} {o.label}" for i, o in enumerate(question.options, start=1))
        if question.type == QuestionType.SINGLE:
            return _("填选项文字或序号：%(o)s", o=options)
        limit = _max_choices(question)
        text = _("填选项文字或序号，多个用；或、分隔：%(o)s", o=options)
        return text + (_("（最多 %(n)d 项）", n=limit) if limit else "")
    if question.type == QuestionType.RATING:
        return _("0 到 10 的整数")
    return _("最多 %(n)d 字", n=submission.text_limit(question))


def _max_choices(question: Question) -> int | None:
    raw = (question.settings or {}).get("max_choices")
    return int(raw) if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()) else None


def template_notes(session: Session, campaign: Campaign) -> list[list[str]]:
    """The 说明 sheet: every column, what it takes, and the codes of units, groups and channels."""
    questionnaire = campaign.questionnaire
    appraisal = questionnaire.kind == QuestionnaireKind.APPRAISAL
    rows: list[list[str]] = [
        [_("列"), _("是否必填"), _("怎样填写")],
        [TEMPLATE_HEADERS["respondent"], _("必填"),
         _("每位受访者一个编号（不要用姓名、手机号等个人信息）；同一活动内不能重复，已导入过的编号再次导入会被跳过。")],
        [TEMPLATE_HEADERS["unit"], _("必填") if not _single_unit(session, campaign) else _("选填"),
         _("被评单位的代码（见下方单位列表）。万人评议：受访者评价几个单位就填几行，这几行的答卷编号相同。")
         if appraisal else _("被评单位的代码（见下方单位列表），每位受访者一行。")],
    ]
    if not _group_preset(campaign):
        rows.append([TEMPLATE_HEADERS["group"], _("必填") if _group_required(questionnaire) else _("选填"),
                     _("样本类别的代码或名称（见下方列表）。")])
    channels = _("、").join(channel_label(c) for c in allowed_channels(campaign))
    rows.append([TEMPLATE_HEADERS["channel"], _("选填"),
                 _("电话、纸质或外部（也可写 phone、paper、imported）；空白时用导入页面上选择的渠道。本活动开通的渠道：%(c)s",
                   c=channels or "—")])
    rows.append([TEMPLATE_HEADERS["time"], _("选填"),
                 _("受访者作答的日期或时间，如 2026-10-12 或 2026-10-12 14:30（本地时间）；须在活动开始之后、不晚于现在和活动结束时间；空白时取导入时间。")])
    for question in import_questions(questionnaire):
        where = _("（每个单位一行）") if submission.asks_per_unit(questionnaire, question) else (
            _("（每份答卷一次，填在任一行即可）") if appraisal else "")
        rows.append([question_header(question), (_("必填") if question.required else _("选填")) + where,
                     _type_label(question) + _("：") + _how_to_answer(question)])
    rows.append([])
    rows.append([_("单位代码"), _("单位名称"), ""])
    rows += [[cu.unit.code, cu.unit.name, ""] for cu in campaign_service.campaign_units(session, campaign)]
    if not _group_preset(campaign):
        rows.append([])
        rows.append([_("样本类别代码"), _("样本类别名称"), ""])
        rows += [[g.code, g.name, ""] for g in _active_groups(session)]
    return rows


def template_csv(session: Session, campaign: Campaign) -> bytes:
    return spreadsheets.to_csv(template_headers(campaign), [])


def template_xlsx(session: Session, campaign: Campaign) -> bytes:
    """The template workbook: the sheet to fill in (header only) and a 说明 sheet. Every cell neutralised."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    sheet = workbook.create_sheet(_("答卷"))
    sheet.freeze_panes = "A2"
    headers = template_headers(campaign)
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, min(36, len(header) * 2 + 2))
    cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=spreadsheets.safe_cell(header))
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    notes = workbook.create_sheet(_("说明"))
    for letter, width in (("A", 28), ("B", 24), ("C", 90)):
        notes.column_dimensions[letter].width = width
    for row in template_notes(session, campaign):
        notes.append([spreadsheets.safe_cell(v) for v in row])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook.save(buffer)
    return buffer.getvalue()


def _single_unit(session: Session, campaign: Campaign) -> Unit | None:
    """A service survey of one unit needs no 单位代码 column."""
    if campaign.questionnaire.kind != QuestionnaireKind.SERVICE:
        return None
    units = campaign_service.campaign_units(session, campaign)
    return units[0].unit if len(units) == 1 else None


def _group_required(questionnaire: Questionnaire) -> bool:
    """The group is required when the questionnaire's own group question is; with no group question it is optional."""
    return any(q.type == QuestionType.GROUP and q.required for q in questionnaire.questions)


def _active_groups(session: Session) -> list[RespondentGroup]:
    return list(session.scalars(
        select(RespondentGroup).where(RespondentGroup.active.is_(True)).order_by(RespondentGroup.sort_order)
    ))


# --- reading a file ------------------------------------------------------------------------------

@dataclass
class _Columns:
    fixed: dict[str, int]
    questions: dict[int, int]  # question id -> column index
    headers: list[str]


def _match_columns(headers: list[str], questionnaire: Questionnaire, questions: list[Question],
                   preview: Preview) -> _Columns:
    """Which column is what. A fixed column may go by an alias; when two columns name the same thing, the
    template's own name wins and the other is ignored (a firm's sheet may have both 单位代码 and 单位).
    The questionnaire's group question (e.g. "Q7 您的身份") counts as the 样本类别 column."""
    by_code = {q.code.casefold(): q for q in questions}
    by_text = {" ".join((q.text or "").split()).casefold(): q for q in questions}
    aliases = {name.casefold(): (key, rank) for key, names in COLUMNS.items() for rank, name in enumerate(names)}
    for question in questionnaire.questions:
        if question.type == QuestionType.GROUP:
            for name in (question.code, " ".join((question.text or "").split()), question_header(question)):
                aliases.setdefault(name.casefold(), ("group", len(COLUMNS["group"])))
    fixed: dict[str, int] = {}
    ranks: dict[str, int] = {}
    found: dict[int, int] = {}
    for index, raw in enumerate(headers):
        header = raw.strip()
        if not header:
            continue
        if char := bad_character(header):
            preview.problems.append(Problem(1, header[:40], _("表头含有控制字符或无效字符（%(char)s）", char=char)))
            continue
        folded = " ".join(header.split()).casefold()
        key, rank = aliases.get(folded, (None, 0))
        question = None if key else (by_code.get(folded.split(" ", 1)[0]) or by_text.get(folded))
        if key is not None:
            if key in fixed and ranks[key] == rank:
                preview.problems.append(Problem(1, header, _("与第 %(n)d 列重复", n=fixed[key] + 1)))
            elif key in fixed and ranks[key] < rank:
                preview.ignored_columns.append(header)
                continue
            elif key in fixed:
                preview.ignored_columns.append(headers[fixed[key]])
            fixed[key], ranks[key] = index, rank
        elif question is not None:
            if question.id in found:
                preview.problems.append(Problem(1, header, _("与第 %(n)d 列是同一题", n=found[question.id] + 1)))
            found[question.id] = index
        else:
            preview.ignored_columns.append(header)
    preview.ignored_columns.sort(key=headers.index)
    return _Columns(fixed, found, headers)


def _check_header(session: Session, campaign: Campaign, columns: _Columns, questions: list[Question],
                  preview: Preview) -> None:
    if "respondent" not in columns.fixed:
        preview.problems.append(Problem(1, TEMPLATE_HEADERS["respondent"], _("找不到“答卷编号”列。请使用本活动的导入模板。")))
    if "unit" not in columns.fixed and _single_unit(session, campaign) is None:
        preview.problems.append(Problem(1, TEMPLATE_HEADERS["unit"], _("找不到“单位代码”列。")))
    if "group" not in columns.fixed and not _group_preset(campaign) and _group_required(campaign.questionnaire):
        preview.problems.append(Problem(1, TEMPLATE_HEADERS["group"], _("找不到“样本类别”列。")))
    for question in questions:
        if question.id in columns.questions:
            continue
        if question.required:
            preview.problems.append(Problem(1, question_header(question), _("找不到这道必答题的列。")))
        else:
            preview.missing_optional.append(question_header(question))


class _Lookup:
    """Units, groups and options as a survey firm may write them."""

    def __init__(self, session: Session, campaign: Campaign) -> None:
        units = [cu.unit for cu in campaign_service.campaign_units(session, campaign)]
        self.units_by_code = {u.code.casefold(): u for u in units}
        names = Counter(u.name for u in units)
        self.units_by_name = {u.name: u for u in units if names[u.name] == 1}
        self.single_unit = _single_unit(session, campaign)
        self.groups: dict[str, RespondentGroup] = {}
        groups = _active_groups(session)
        for group in groups:
            for key in (group.code, group.name, group.name_en):
                if key:
                    self.groups.setdefault(key.strip().casefold(), group)
        by_id = {g.id: g for g in groups}
        for question in campaign.questionnaire.questions:  # the group question's option labels name groups too
            if question.type == QuestionType.GROUP:
                for option in question.options:
                    if option.respondent_group_id in by_id:
                        self.groups.setdefault(option.label.strip().casefold(), by_id[option.respondent_group_id])

    def unit(self, raw: str) -> Unit | None:
        return self.units_by_code.get(raw.casefold()) or self.units_by_name.get(raw)

    def group(self, raw: str) -> RespondentGroup | None:
        return self.groups.get(unicodedata.normalize("NFKC", raw).strip().casefold()) or self.groups.get(
            raw.strip().casefold())


def _option_for(question: Question, raw: str) -> Any:
    """An option by its text, else by its position (1 = first), else by its code."""
    text = unicodedata.normalize("NFKC", raw).strip()
    folded = text.casefold()
    for option in question.options:
        if unicodedata.normalize("NFKC", option.label).strip().casefold() == folded:
            return option
    if _INTEGER.fullmatch(text):
        position = int(float(text))
        if 1 <= position <= len(question.options):
            return question.options[position - 1]
    for option in question.options:
        if option.code.casefold() == folded:
            return option
    return None


def _choices(question: Question, raw: str) -> tuple[list[str], str | None]:
    """Option ids of a multiple-choice cell separated by ；; or 、 (an option text that itself holds 、 is kept whole)."""
    parts = CHOICE_SEPARATORS.split(raw)
    tokens, seps = parts[0::2], parts[1::2]
    chosen: list[str] = []
    i = 0
    while i < len(tokens):
        if not tokens[i].strip():
            i += 1
            continue
        for j in range(len(tokens), i, -1):
            candidate = tokens[i] + "".join(seps[k] + tokens[k + 1] for k in range(i, j - 1))
            option = _option_for(question, candidate)
            if option is not None:
                chosen.append(str(option.id))
                i = j
                break
        else:
            return [], tokens[i].strip()
    return chosen, None


def _cell_to_values(question: Question, raw: str) -> tuple[list[str], str | None]:
    """The form values the citizen page would post for this cell, or a message saying what the cell should hold."""
    text = raw.strip()
    if not text:
        return [], None
    qtype = question.type
    if qtype == QuestionType.SATISFACTION:
        normal = unicodedata.normalize("NFKC", text).strip()
        if normal in DONT_KNOW_WORDS:
            if not question.allow_dont_know:
                return [], _("本题不设“不了解”，请填 5 到 1 或满意度文字")
            return [submission.DONT_KNOW], None
        if normal in LEVEL_WORDS:
            return [str(LEVEL_WORDS[normal])], None
        if _INTEGER.fullmatch(normal) and 1 <= int(float(normal)) <= 5:
            return [str(int(float(normal)))], None
        return [], _("“%(v)s”不是满意度选项：请填 非常满意/满意/基本满意（一般）/不满意/非常不满意/不了解，或 5 到 1",
                     v=text[:20])
    if qtype == QuestionType.SINGLE:
        option = _option_for(question, text)
        if option is None:
            return [], _("“%(v)s”不是本题的选项（填选项文字或序号 1–%(n)d）", v=text[:20], n=len(question.options))
        return [str(option.id)], None
    if qtype == QuestionType.MULTIPLE:
        chosen, unknown = _choices(question, text)
        if unknown is not None:
            return [], _("“%(v)s”不是本题的选项（填选项文字或序号 1–%(n)d，多个用；或、分隔）",
                         v=unknown[:20], n=len(question.options))
        return chosen, None
    if qtype == QuestionType.RATING:
        normal = unicodedata.normalize("NFKC", text).strip()
        if not _INTEGER.fullmatch(normal) or int(float(normal)) > 10:
            return [], _("“%(v)s”不是 0 到 10 的整数", v=text[:20])
        return [str(int(float(normal)))], None
    return [raw], None  # free text: the citizen page's limit and cleaning apply


def parse_moment(raw: str, tz_name: str) -> tuple[dt.datetime, bool] | None:
    """A local date or date and time as an aware UTC moment, and whether only a date was given; None if unreadable.

    Accepts 2026-10-12, 2026/10/12, 2026年10月12日, each optionally followed by 14:30 or 14:30:05.
    Midnight counts as a date alone: that is how a date cell of Excel reads back.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    match = _MOMENT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else None for g in match.groups())
    if hour == 0 and minute == 0 and not second:
        hour = None  # a date typed into Excel reads back as midnight: take it as the date alone
    try:
        date = dt.date(year, month, day)
        clock = dt.time(hour or 0, minute or 0, second or 0) if hour is not None else dt.time(12)
    except ValueError:
        return None
    tz = get_timezone(tz_name)
    naive = dt.datetime.combine(date, clock)
    localize = getattr(tz, "localize", None)
    moment = localize(naive) if localize else naive.replace(tzinfo=tz)
    return moment.astimezone(dt.timezone.utc), hour is None


def _check_moment(raw: str, campaign: Campaign, now: dt.datetime,
                  tz_name: str) -> tuple[dt.datetime | None, str | None]:
    """The submission time of a cell: inside the campaign, and not in the future. A date alone means noon that day
    (moved inside the campaign's hours on its first and last day)."""
    parsed = parse_moment(raw, tz_name)
    if parsed is None:
        return None, _("“%(v)s”不是日期时间，请写成 2026-10-12 或 2026-10-12 14:30", v=raw[:30])
    moment, date_only = parsed
    start, end = campaign.opens_at, min(now, campaign.closes_at)
    fmt = "%Y-%m-%d %H:%M"
    tz = get_timezone(tz_name)
    if date_only:
        day = local_date(moment, tz_name)
        if day < local_date(start, tz_name):
            return None, _("日期早于活动开始（%(t)s）", t=start.astimezone(tz).strftime(fmt))
        if day > local_date(end, tz_name):
            return None, (_("日期晚于活动结束（%(t)s）", t=end.astimezone(tz).strftime(fmt)) if end < now
                          else _("日期不能晚于今天"))
        return min(max(moment, start), end), None
    if moment < start:
        return None, _("时间早于活动开始（%(t)s）", t=start.astimezone(tz).strftime(fmt))
    if moment > now:
        return None, _("时间不能晚于现在")
    if moment >= campaign.closes_at:
        return None, _("时间晚于活动结束（%(t)s）", t=campaign.closes_at.astimezone(tz).strftime(fmt))
    return moment, None


@dataclass
class _Row:
    line: int
    cells: list[str]
    respondent: str
    unit: Unit | None
    group: RespondentGroup | None
    group_raw: str
    channel: Channel
    channel_raw: str
    moment: dt.datetime | None
    moment_raw: str


def preview(session: Session, campaign: Campaign, data: bytes, default_channel: Channel | str | None,
            filename: str = "", now: dt.datetime | None = None, max_rows: int = MAX_ROWS) -> Preview:
    """Read and check a filled-in template (.xlsx or CSV); nothing is written.

    Raises :class:`ResponseImportError` when the campaign takes no imports, the default
    channel is not one it allows, or the file is not a table; everything else is a
    :class:`Problem` with its row and column.
    """
    now = now or utcnow()
    check_campaign(campaign, now)
    default = _checked_channel(campaign, default_channel)
    try:
        table = spreadsheets.read_table(data)
    except spreadsheets.SpreadsheetError as exc:
        raise ResponseImportError(str(exc)) from exc
    if len(table.rows) > max_rows:
        raise ResponseImportError(_(
            "文件有 %(n)d 行，这里一次最多导入 %(m)d 行。请分成几个文件依次上传（同一答卷编号的各行须在同一个文件里），"
            "或由系统管理员用命令行 flask import-responses 导入（最多 %(c)d 行）。",
            n=len(table.rows), m=max_rows, c=MAX_ROWS))
    questionnaire = submission.load_questionnaire(session, campaign.questionnaire_id)
    questions = import_questions(questionnaire)
    result = Preview(filename=filename, total_rows=len(table.rows))
    columns = _match_columns(table.headers, questionnaire, questions, result)
    _check_header(session, campaign, columns, questions, result)
    if result.problems:
        return result
    if not table.rows:
        result.problems.append(Problem(1, "", _("文件里只有表头，没有答卷。")))
        return result

    lookup = _Lookup(session, campaign)
    tz_name = org_timezone()
    rows: dict[str, list[_Row]] = {}
    appraisal = questionnaire.kind == QuestionnaireKind.APPRAISAL
    for line, cells in zip(table.lines, table.rows, strict=True):
        row = _read_row(campaign, columns, lookup, line, cells, default, now, tz_name, result)
        if row is None:
            continue
        key = respondent_key(row.respondent)
        earlier = rows.get(key)
        if earlier and not appraisal:
            result.problems.append(Problem(line, TEMPLATE_HEADERS["respondent"],
                                           _("答卷编号“%(k)s”与第 %(n)d 行重复（每份答卷一行）", k=row.respondent,
                                             n=earlier[0].line)))
            continue
        if earlier and row.unit is not None and any(r.unit is not None and r.unit.id == row.unit.id for r in earlier):
            first = next(r for r in earlier if r.unit is not None and r.unit.id == row.unit.id)
            result.problems.append(Problem(line, TEMPLATE_HEADERS["unit"],
                                           _("同一答卷对单位“%(u)s”评价了两次（另见第 %(n)d 行）", u=row.unit.code,
                                             n=first.line)))
            continue
        rows.setdefault(key, []).append(row)

    for key, group_rows in rows.items():
        respondent = _respondent(campaign, questionnaire, questions, columns, group_rows, now, result)
        if respondent is not None:
            result.respondents.append(respondent)
    _mark_imported(session, campaign, result.respondents, result)
    result.problems.sort(key=lambda p: (p.line, columns.headers.index(p.column) if p.column in columns.headers else -1))
    return result


def _checked_channel(campaign: Campaign, raw: Channel | str | None) -> Channel:
    channel = raw if isinstance(raw, Channel) else parse_channel(raw)
    if channel is None:
        raise ResponseImportError(_("请选择默认渠道：电话访问、纸质问卷或外部导入。"))
    if not campaign.allows_channel(channel):
        raise ResponseImportError(_("本评议活动没有开通“%(c)s”渠道。", c=channel_label(channel)))
    return channel


def _read_row(campaign: Campaign, columns: _Columns, lookup: _Lookup, line: int, cells: list[str],
              default: Channel, now: dt.datetime, tz_name: str, result: Preview) -> _Row | None:
    """The fixed columns of one row, checked; None (with its problems recorded) when the row cannot be used."""
    problems: list[Problem] = []
    used = list(columns.fixed.values()) + list(columns.questions.values())
    for index in used:
        if char := bad_character(cells[index]):
            problems.append(Problem(line, columns.headers[index], _("含有控制字符或无效字符（%(char)s），请删去", char=char)))
    if problems:
        result.problems.extend(problems)
        return None

    def cell(key: str) -> str:
        return cells[columns.fixed[key]].strip() if key in columns.fixed else ""

    respondent = cell("respondent")
    if not respondent:
        problems.append(Problem(line, TEMPLATE_HEADERS["respondent"], _("缺少答卷编号")))
    elif len(respondent) > RESPONDENT_MAX:
        problems.append(Problem(line, TEMPLATE_HEADERS["respondent"], _("答卷编号超过 %(n)d 个字符", n=RESPONDENT_MAX)))
    elif _PHONE_LIKE.fullmatch(re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", respondent))):
        problems.append(Problem(line, TEMPLATE_HEADERS["respondent"],
                                _("答卷编号看起来是手机号：请改用不含个人信息的编号")))

    unit_raw = cell("unit")
    unit = lookup.unit(unit_raw) if unit_raw else lookup.single_unit
    if unit is None:
        problems.append(Problem(line, TEMPLATE_HEADERS["unit"],
                                _("单位“%(u)s”不在本活动中", u=unit_raw[:40]) if unit_raw else _("缺少单位代码")))

    group_raw = cell("group")
    group = None
    if _group_preset(campaign):
        preset = campaign.preset_group
        if group_raw and (lookup.group(group_raw) is None or lookup.group(group_raw).id != preset.id):
            problems.append(Problem(line, TEMPLATE_HEADERS["group"], _("本活动的样本类别固定为“%(g)s”", g=preset.name)))
        group = preset
    elif group_raw:
        group = lookup.group(group_raw)
        if group is None:
            problems.append(Problem(line, TEMPLATE_HEADERS["group"], _("样本类别“%(g)s”不存在", g=group_raw[:40])))
    elif _group_required(campaign.questionnaire):
        problems.append(Problem(line, TEMPLATE_HEADERS["group"], _("缺少样本类别")))

    channel_raw = cell("channel")
    channel = default
    if channel_raw:
        found = parse_channel(channel_raw)
        if found is None:
            problems.append(Problem(line, TEMPLATE_HEADERS["channel"],
                                    _("渠道“%(c)s”无效：请填 电话、纸质 或 外部", c=channel_raw[:20])))
        elif not campaign.allows_channel(found):
            problems.append(Problem(line, TEMPLATE_HEADERS["channel"],
                                    _("本活动没有开通“%(c)s”渠道", c=channel_label(found))))
        else:
            channel = found

    moment_raw = cell("time")
    moment = None
    if moment_raw:
        moment, message = _check_moment(moment_raw, campaign, now, tz_name)
        if message:
            problems.append(Problem(line, TEMPLATE_HEADERS["time"], message))
    if problems:
        result.problems.extend(problems)
        return None
    return _Row(line, cells, respondent, unit, group, group_raw, channel, channel_raw, moment, moment_raw)


def _respondent(campaign: Campaign, questionnaire: Questionnaire, questions: list[Question], columns: _Columns,
                rows: list[_Row], now: dt.datetime, result: Preview) -> Respondent | None:
    """One response from a respondent's rows, checked by the citizen page's rules."""
    first = rows[0]
    problems: list[Problem] = []
    for row in rows[1:]:  # an appraisal respondent's rows describe one person, one interview
        for header, mine, theirs in ((TEMPLATE_HEADERS["group"], row.group, first.group),
                                     (TEMPLATE_HEADERS["channel"], row.channel, first.channel),
                                     (TEMPLATE_HEADERS["time"], row.moment, first.moment)):
            same = (mine.id if mine is not None else None) == (theirs.id if theirs is not None else None) \
                if header == TEMPLATE_HEADERS["group"] else mine == theirs
            if not same:
                problems.append(Problem(row.line, header,
                                        _("与同一答卷的第 %(n)d 行不一致", n=first.line)))
    form = MultiDict()
    where: dict[str, tuple[int, str]] = {}
    converted_badly: set[str] = set()
    units = [row.unit for row in rows if row.unit is not None]
    for question in questions:
        index = columns.questions.get(question.id)
        header = columns.headers[index] if index is not None else question_header(question)
        if submission.asks_per_unit(questionnaire, question):
            targets = [(submission.field_name(question, row.unit), row) for row in rows]
        else:
            targets = [(submission.field_name(question), None)]
        for name, row in targets:
            if row is not None:
                source = [row]
            else:  # a shared question: given on any one of the respondent's rows, the same wherever repeated
                source = [r for r in rows if index is not None and r.cells[index].strip()] or [first]
            raw = source[0].cells[index] if index is not None else ""
            for other in source[1:]:
                if other.cells[index].strip() != raw.strip():
                    problems.append(Problem(other.line, header, _("与同一答卷的第 %(n)d 行不一致", n=source[0].line)))
            where[name] = (source[0].line, header)
            values, message = _cell_to_values(question, raw)
            if message:
                problems.append(Problem(source[0].line, header, message))
                converted_badly.add(name)
            for value in values:
                form.add(name, value)
    parsed = submission.parse_answers(questionnaire, questions, units, form)
    for name, message in parsed.errors.items():
        if name not in converted_badly:
            line, header = where.get(name, (first.line, ""))
            problems.append(Problem(line, header, message))
    if problems:
        result.problems.extend(problems)
        return None
    return Respondent(
        key=first.respondent, lines=[r.line for r in rows], submission_id=submission_id_for(campaign, first.respondent),
        channel=first.channel, group=first.group, units=units, submitted_at=first.moment or now,
        answers=parsed.answers,
    )


def _mark_imported(session: Session, campaign: Campaign, respondents: list[Respondent], result: Preview) -> None:
    """Respondents whose 答卷编号 this campaign already holds are skipped, never stored twice.

    A skipped respondent whose rows name other units than the stored response is a problem, not a
    skip: an appraisal respondent's rows split over two files, or one 答卷编号 given to two people.
    """
    ids = [r.submission_id for r in respondents]
    stored: dict[str, set[int]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Response.submission_id, Answer.unit_id)
            .outerjoin(Answer, Answer.response_id == Response.id)
            .where(Response.submission_id.in_(ids[start:start + 500]))
            .distinct()
        )
        for submission_id, unit_id in rows:
            stored.setdefault(submission_id, set())
            if unit_id is not None:
                stored[submission_id].add(unit_id)
    codes: dict[int, str] = {}
    if stored:
        codes = dict(session.execute(select(Unit.id, Unit.code).where(
            Unit.id.in_({u for units in stored.values() for u in units}))).all())
    for respondent in respondents:
        units = stored.get(respondent.submission_id)
        respondent.already_imported = units is not None
        if units is not None and units and units != {u.id for u in respondent.units}:
            result.problems.append(Problem(respondent.lines[0], TEMPLATE_HEADERS["respondent"], _(
                "答卷编号“%(k)s”已导入过，但已导入的答卷评价的是 %(old)s，与本文件（%(new)s）不同："
                "同一答卷的各行须在一个文件里一次导入，不同受访者不能共用编号",
                k=respondent.key, old=_("、").join(sorted(codes.get(u, "?") for u in units)),
                new=_("、").join(u.code for u in respondent.units))))


# --- writing -------------------------------------------------------------------------------------

def write(session: Session, campaign: Campaign, checked: Preview, user: User | None,
          now: dt.datetime | None = None) -> int:
    """Store every new response of a fully valid file in one transaction, or none; returns how many were stored.

    Each response is built as :func:`submission.submit_response` builds it and goes through
    the same after-insert hooks (cases for 差评 and comments). Their deadlines count from
    today: the unit learns of an imported questionnaire only now.
    """
    from survey.services.cases import workflow as case_service

    now = now or utcnow()
    check_campaign(campaign, now)
    if not checked.ok:
        raise ResponseImportError(_("文件还有错误，或没有需要导入的新答卷，没有导入任何答卷。"))
    new = checked.new
    start = local_date(now, org_timezone())
    service = campaign.questionnaire.kind == QuestionnaireKind.SERVICE
    rule = case_service.rules(session)
    try:
        for offset in range(0, len(new), WRITE_BATCH):
            batch = [(item, _response(campaign, item, service, user)) for item in new[offset:offset + WRITE_BATCH]]
            session.add_all(response for _item, response in batch)
            session.flush()
            for _item, response in batch:
                # Opened here with today as the start (none when the response calls for none);
                # the after-insert step then finds them open already.
                case_service.open_cases_for_response(session, response, start=start, rule=rule)
                submission.run_after_insert(session, response)
        channels = Counter(item.channel.value for item in new)
        name = strip_control(checked.filename or "")[:200]
        audit.record(
            session, user, "response.import", campaign,
            f"向“{campaign.title}”导入 {len(new)} 份答卷（{'、'.join(channel_label(Channel(c)) for c in channels)}），"
            f"文件 {name or '—'}",
            file=name, count=len(new), skipped=len(checked.skipped), rows=checked.total_rows,
            channels=dict(channels),
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ResponseImportError(_("有答卷刚刚被另一次导入写入，本次没有导入任何答卷。请重新上传检查。")) from exc
    except BaseException:
        session.rollback()
        raise
    return len(new)


def _response(campaign: Campaign, item: Respondent, service: bool, user: User | None) -> Response:
    response = Response(
        campaign_id=campaign.id,
        questionnaire_id=campaign.questionnaire_id,
        unit_id=item.units[0].id if service and item.units else None,
        respondent_group_id=item.group.id if item.group is not None else None,
        channel=item.channel,
        status=ResponseStatus.VALID,
        submission_id=item.submission_id,
        fingerprint=None,
        submitted_at=item.submitted_at,
        entered_by_id=user.id if user is not None else None,
    )
    response.answers = [
        Answer(campaign_id=campaign.id, unit_id=a.unit_id, question_id=a.question_id, level=a.level,
               dont_know=a.dont_know, option_id=a.option_id, number=a.number, text=a.text)
        for a in item.answers
    ]
    return response


def problem_lines(checked: Preview, limit: int | None = None) -> Iterable[str]:
    """The problems as lines of text (for the command line)."""
    for problem in checked.problems[:limit]:
        column = f"［{problem.column}］" if problem.column else ""
        yield _("第 %(n)d 行", n=problem.line) + f"{column}：{problem.message}"
