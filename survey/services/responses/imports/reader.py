"""Reading a filled-in file: every row checked by the citizen page's own rules, every problem listed
with its row and column; nothing is written."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from survey.core import spreadsheets
from survey.core.clock import get_timezone, local_date, org_timezone
from survey.core.labels import label
from survey.core.validation import bad_character
from survey.models import (
    Answer,
    Campaign,
    Channel,
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
from survey.services.responses.imports.common import (
    CHOICE_SEPARATORS,
    COLUMNS,
    DONT_KNOW_WORDS,
    LEVEL_WORDS,
    MAX_ROWS,
    RESPONDENT_MAX,
    Preview,
    Problem,
    Respondent,
    ResponseImportError,
    active_groups,
    check_campaign,
    earlier_submission_ids,
    group_preset,
    group_required,
    import_questions,
    parse_channel,
    question_header,
    respondent_key,
    single_unit,
    submission_id_for,
    template_header,
)

_PHONE_LIKE = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}")
_INTEGER = re.compile(r"[0-9]{1,9}(?:\.0+)?")
_MOMENT = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:：时点](\d{1,2})(?:[:：分](\d{1,2})(?:\.\d+)?秒?)?分?)?"
)



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
        preview.problems.append(Problem(1, template_header("respondent"), _("找不到“答卷编号”列。请使用本活动的导入模板。")))
    if "unit" not in columns.fixed and single_unit(session, campaign) is None:
        preview.problems.append(Problem(1, template_header("unit"), _("找不到“单位代码”列。")))
    if "group" not in columns.fixed and not group_preset(campaign) and group_required(campaign.questionnaire):
        preview.problems.append(Problem(1, template_header("group"), _("找不到“样本类别”列。")))
    for question in questions:
        if question.id in columns.questions:
            continue
        if question.required and not question.show_if:  # a conditional question may be absent: not shown
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
        self.single_unit = single_unit(session, campaign)
        self.groups: dict[str, RespondentGroup] = {}
        groups = active_groups(session)
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
        normal = unicodedata.normalize("NFKC", text).strip().casefold()
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
    return moment.astimezone(dt.UTC), hour is None


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
        table = spreadsheets.read_table(data, max_rows=max_rows)  # stops reading past max_rows
    except spreadsheets.TooManyRows as exc:
        raise ResponseImportError(_(
            "文件超过 %(m)d 行，这里一次最多导入 %(m)d 行。请分成几个文件依次上传（同一答卷编号的各行须在同一个文件里），"
            "或由系统管理员用命令行 flask import-responses 导入（最多 %(c)d 行）。",
            m=exc.limit, c=MAX_ROWS)) from exc
    except spreadsheets.SpreadsheetError as exc:
        raise ResponseImportError(str(exc)) from exc
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
            result.problems.append(Problem(line, template_header("respondent"),
                                           _("答卷编号“%(k)s”与第 %(n)d 行重复（每份答卷一行）", k=row.respondent,
                                             n=earlier[0].line)))
            continue
        if earlier and row.unit is not None and any(r.unit is not None and r.unit.id == row.unit.id for r in earlier):
            first = next(r for r in earlier if r.unit is not None and r.unit.id == row.unit.id)
            result.problems.append(Problem(line, template_header("unit"),
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
        raise ResponseImportError(_("本评议活动没有开通“%(c)s”渠道。", c=label("channel", channel)))
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
        problems.append(Problem(line, template_header("respondent"), _("缺少答卷编号")))
    elif len(respondent) > RESPONDENT_MAX:
        problems.append(Problem(line, template_header("respondent"), _("答卷编号超过 %(n)d 个字符", n=RESPONDENT_MAX)))
    elif _PHONE_LIKE.fullmatch(re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", respondent))):
        problems.append(Problem(line, template_header("respondent"),
                                _("答卷编号看起来是手机号：请改用不含个人信息的编号")))

    unit_raw = cell("unit")
    unit = lookup.unit(unit_raw) if unit_raw else lookup.single_unit
    if unit is None:
        problems.append(Problem(line, template_header("unit"),
                                _("单位“%(u)s”不在本活动中", u=unit_raw[:40]) if unit_raw else _("缺少单位代码")))

    group_raw = cell("group")
    group = None
    if group_preset(campaign):
        preset = campaign.preset_group
        if group_raw and (lookup.group(group_raw) is None or lookup.group(group_raw).id != preset.id):
            problems.append(Problem(line, template_header("group"), _("本活动的样本类别固定为“%(g)s”", g=preset.name)))
        group = preset
    elif group_raw:
        group = lookup.group(group_raw)
        if group is None:
            problems.append(Problem(line, template_header("group"), _("样本类别“%(g)s”不存在", g=group_raw[:40])))
    elif group_required(campaign.questionnaire):
        problems.append(Problem(line, template_header("group"), _("缺少样本类别")))

    channel_raw = cell("channel")
    channel = default
    if channel_raw:
        found = parse_channel(channel_raw)
        if found is None:
            problems.append(Problem(line, template_header("channel"),
                                    _("渠道“%(c)s”无效：请填 电话、纸质 或 外部", c=channel_raw[:20])))
        elif not campaign.allows_channel(found):
            problems.append(Problem(line, template_header("channel"),
                                    _("本活动没有开通“%(c)s”渠道", c=label("channel", found))))
        else:
            channel = found

    moment_raw = cell("time")
    moment = None
    if moment_raw:
        moment, message = _check_moment(moment_raw, campaign, now, tz_name)
        if message:
            problems.append(Problem(line, template_header("time"), message))
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
        for header, mine, theirs in ((template_header("group"), row.group, first.group),
                                     (template_header("channel"), row.channel, first.channel),
                                     (template_header("time"), row.moment, first.moment)):
            same = (mine.id if mine is not None else None) == (theirs.id if theirs is not None else None) \
                if header == template_header("group") else mine == theirs
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
    # Each respondent's id, and the ids an earlier version or an earlier key gave the same 答卷编号.
    aliases = {r.submission_id: [r.submission_id, *earlier_submission_ids(campaign, r.key)] for r in respondents}
    ids = [i for names in aliases.values() for i in names]
    found: dict[str, set[int]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Response.submission_id, Answer.unit_id)
            .outerjoin(Answer, Answer.response_id == Response.id)
            .where(Response.submission_id.in_(ids[start:start + 500]))
            .distinct()
        )
        for submission_id, unit_id in rows:
            found.setdefault(submission_id, set())
            if unit_id is not None:
                found[submission_id].add(unit_id)
    stored: dict[str, set[int]] = {}
    for own, names in aliases.items():
        hits = [found[name] for name in names if name in found]
        if hits:
            stored[own] = set().union(*hits)
    codes: dict[int, str] = {}
    if stored:
        codes = dict(session.execute(select(Unit.id, Unit.code).where(
            Unit.id.in_({u for units in stored.values() for u in units}))).all())
    for respondent in respondents:
        units = stored.get(respondent.submission_id)
        respondent.already_imported = units is not None
        if units is not None and units and units != {u.id for u in respondent.units}:
            result.problems.append(Problem(respondent.lines[0], template_header("respondent"), _(
                "答卷编号“%(k)s”已导入过，但已导入的答卷评价的是 %(old)s，与本文件（%(new)s）不同："
                "同一答卷的各行须在一个文件里一次导入，不同受访者不能共用编号",
                k=respondent.key, old=_("、").join(sorted(codes.get(u, "?") for u in units)),
                new=_("、").join(u.code for u in respondent.units))))
