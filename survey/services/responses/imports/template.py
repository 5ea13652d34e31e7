"""The template a survey firm fills in: the columns made from the questionnaire, and a 说明 sheet."""
from __future__ import annotations

import io
import warnings

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.core import spreadsheets
from survey.core.labels import label
from survey.models import (
    Campaign,
    Question,
    QuestionnaireKind,
    QuestionType,
)
from survey.services.campaigns import lookup as campaign_service
from survey.services.responses import submission
from survey.services.responses.imports.common import (
    active_groups,
    allowed_channels,
    group_preset,
    group_required,
    import_questions,
    question_header,
    single_unit,
    template_header,
)

# --- the template ------------------------------------------------------------------------------

def template_headers(campaign: Campaign) -> list[str]:
    headers = [template_header("respondent"), template_header("unit")]
    if not group_preset(campaign):
        headers.append(template_header("group"))
    headers += [template_header("channel"), template_header("time")]
    return headers + [question_header(q) for q in import_questions(campaign.questionnaire)]


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
        [template_header("respondent"), _("必填"),
         _("每位受访者一个编号（不要用姓名、手机号等个人信息）；同一活动内不能重复，已导入过的编号再次导入会被跳过。")],
        [template_header("unit"), _("必填") if not single_unit(session, campaign) else _("选填"),
         _("被评单位的代码（见下方单位列表）。万人评议：受访者评价几个单位就填几行，这几行的答卷编号相同。")
         if appraisal else _("被评单位的代码（见下方单位列表），每位受访者一行。")],
    ]
    if not group_preset(campaign):
        rows.append([template_header("group"), _("必填") if group_required(questionnaire) else _("选填"),
                     _("样本类别的代码或名称（见下方列表）。")])
    channels = _("、").join(label("channel", c) for c in allowed_channels(campaign))
    rows.append([template_header("channel"), _("选填"),
                 _("电话、纸质或外部（也可写 phone、paper、imported）；空白时用导入页面上选择的渠道。本活动开通的渠道：%(c)s",
                   c=channels or "—")])
    rows.append([template_header("time"), _("选填"),
                 _("受访者作答的日期或时间，如 2026-10-12 或 2026-10-12 14:30（本地时间）；须在活动开始之后、不晚于现在和活动结束时间；空白时取导入时间。")])
    for question in import_questions(questionnaire):
        where = _("（每个单位一行）") if submission.asks_per_unit(questionnaire, question) else (
            _("（每份答卷一次，填在任一行即可）") if appraisal else "")
        need = _("选填") if not question.required else _("满足显示条件时必填") if question.show_if else _("必填")
        rows.append([question_header(question), need + where,
                     _type_label(question) + _("：") + _how_to_answer(question)])
    rows.append([])
    rows.append([_("单位代码"), _("单位名称"), ""])
    rows += [[cu.unit.code, cu.unit.name, ""] for cu in campaign_service.campaign_units(session, campaign)]
    if not group_preset(campaign):
        rows.append([])
        rows.append([_("样本类别代码"), _("样本类别名称"), ""])
        rows += [[g.code, g.name, ""] for g in active_groups(session)]
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
