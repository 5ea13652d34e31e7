"""Forms of the setup pages. They render fields and carry the CSRF token; the rules
themselves live in the services, which return a message per field."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectChoice, SelectField, StringField, TextAreaField

from survey.core.labels import choices as label_choices
from survey.models import GroupMode, QuestionnaireKind


def choices(pairs) -> list[SelectChoice]:
    """Select/radio options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


class UnitForm(FlaskForm):
    code = StringField(_l("单位代码"))
    name = StringField(_l("单位名称"))
    name_en = StringField(_l("英文名称"))
    kind = SelectField(_l("类型"), choices=choices(label_choices("unit_kind")), validate_choice=False)
    category_id = SelectField(_l("类别"), choices=[], validate_choice=False)
    parent_code = StringField(_l("上级单位代码"), render_kw={"list": "parent-codes", "autocomplete": "off"})
    window_no = StringField(_l("窗口号"))
    address = StringField(_l("地址"))
    sort_order = StringField(_l("排序"))
    note = TextAreaField(_l("备注"))


class CategoryForm(FlaskForm):
    code = StringField(_l("类别代码"))
    name = StringField(_l("类别名称"))
    name_en = StringField(_l("英文名称"))


class UploadForm(FlaskForm):
    file = FileField(_l("文件"), render_kw={"accept": ".xlsx,.csv,.txt"})


class GroupForm(FlaskForm):
    code = StringField(_l("代码"))
    name = StringField(_l("名称"))
    name_en = StringField(_l("英文名称"))
    target_share = StringField(_l("目标占比 / 投票权"))


class NewQuestionnaireForm(FlaskForm):
    kind = RadioField(_l("问卷类型"), choices=choices(label_choices("questionnaire_kind")),
                      default=QuestionnaireKind.SERVICE.value, validate_choice=False)
    title = StringField(_l("问卷标题"))


class TemplateForm(FlaskForm):
    template = RadioField(_l("模板"), choices=choices(label_choices("questionnaire_template")), default="window_service",
                          validate_choice=False)


class MetaForm(FlaskForm):
    title = StringField(_l("问卷标题"))
    title_en = StringField(_l("英文标题"))
    intro = TextAreaField(_l("开头说明"))
    intro_en = TextAreaField(_l("英文说明"))
    score_1 = StringField(_l("非常不满意"))
    score_2 = StringField(_l("不满意"))
    score_3 = StringField(_l("基本满意"))
    score_4 = StringField(_l("满意"))
    score_5 = StringField(_l("非常满意"))


class NewQuestionForm(FlaskForm):
    type = SelectField(_l("题型"), choices=choices(label_choices("question_type")),
                       validate_choice=False)
    text = StringField(_l("题目"))


class QuestionForm(FlaskForm):
    code = StringField(_l("题号"))
    text = TextAreaField(_l("题目（中文）"))
    text_en = TextAreaField(_l("题目（英文）"))
    help = StringField(_l("提示（中文）"))
    help_en = StringField(_l("提示（英文）"))
    required = BooleanField(_l("必答"))
    allow_dont_know = BooleanField(_l("提供“不了解”"))
    weight = StringField(_l("题目权重"), render_kw={"inputmode": "decimal"})
    in_index = BooleanField(_l("计入满意度指数"))
    per_unit = BooleanField(_l("对每个所选单位分别作答"))
    max_length = StringField(_l("字数上限"))
    is_comment = BooleanField(_l("作为意见建议（生成工单）"))
    max_choices = StringField(_l("最多可选几项"))


class CampaignForm(FlaskForm):
    title = StringField(_l("标题"))
    title_en = StringField(_l("英文标题"))
    description = TextAreaField(_l("说明"))
    questionnaire_id = SelectField(_l("问卷"), choices=[], validate_choice=False)
    template = RadioField(_l("问卷模板"), choices=choices(label_choices("questionnaire_template")), default="window_service",
                          validate_choice=False)
    period = StringField(_l("考评周期"))
    opens_at = StringField(_l("开始时间"), render_kw={"type": "datetime-local"})
    closes_at = StringField(_l("截止时间"), render_kw={"type": "datetime-local"})
    group_mode = RadioField(_l("样本类别"), choices=choices([
        (GroupMode.ASK.value, _l("由答题人在问卷的身份题中选择")),
        (GroupMode.PRESET.value, _l("统一指定（例如本次全部是服务对象）")),
    ]), default=GroupMode.ASK.value, validate_choice=False)
    preset_group_id = SelectField(_l("指定的样本类别"), choices=[], validate_choice=False)
    public_results = BooleanField(_l("向公众公布结果"))
