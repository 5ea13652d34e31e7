"""Every label the site shows for a coded value, in one place: one wording per value, on every
page and export.

``label(kind, value)`` gives the text in the current language (an enum member or its stored
value both work; an unknown value shows as itself), ``choices(kind)`` the (value, label) pairs in
order for a select or radio list. Templates use the ``|label(kind)`` filter and the
``label_choices(kind)`` global (registered in ``survey.i18n``). The texts are lazy strings, so a
label is translated when it is shown, not when this module is imported.

Kinds that mirror a model enum are listed in ``ENUMS``; a test checks each covers every member.
"""
from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l

from survey.models import (
    AppealState,
    CampaignStatus,
    CaseKind,
    CaseState,
    Channel,
    CommentKind,
    GroupMode,
    HolidayKind,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
    ResponseStatus,
    Role,
    SnapshotStatus,
    TargetKind,
    UnitKind,
)

#: Kinds whose values are exactly the members of a model enum.
ENUMS: dict[str, type[enum.Enum]] = {
    "channel": Channel,
    "campaign_status": CampaignStatus,
    "group_mode": GroupMode,
    "response_status": ResponseStatus,
    "case_kind": CaseKind,
    "comment_kind": CommentKind,
    "case_state": CaseState,
    "appeal_state": AppealState,
    "day_kind": HolidayKind,
    "role": Role,
    "unit_kind": UnitKind,
    "questionnaire_kind": QuestionnaireKind,
    "questionnaire_status": QuestionnaireStatus,
    "question_type": QuestionType,
    "snapshot_status": SnapshotStatus,
    "target_kind": TargetKind,
}

LABELS: dict[str, dict[Any, Any]] = {
    # How a response reached us. The response import also accepts older wordings (see
    # services/responses/imports/common.py CHANNEL_WORDS).
    "channel": {
        "web": _l("网页链接"),
        "poster": _l("海报二维码"),
        "desk": _l("窗口一事一评"),
        "invitation": _l("邀请链接"),
        "phone": _l("电话访问"),
        "paper": _l("纸质问卷"),
        "imported": _l("外部导入"),
    },
    "campaign_status": {"draft": _l("草稿"), "open": _l("进行中"), "paused": _l("已暂停"), "closed": _l("已结束")},
    "group_mode": {"ask": _l("由答题人选择"), "preset": _l("统一指定")},
    "response_status": {"valid": _l("有效"), "flagged": _l("待核查"), "excluded": _l("已剔除")},
    "case_kind": {"comment": _l("意见建议"), "bad_rating": _l("差评")},
    "comment_kind": {"complaint": _l("投诉"), "suggestion": _l("建议"), "praise": _l("表扬")},
    "case_state": {
        "pending": _l("待处理"),
        "in_progress": _l("处理中"),
        "rectified": _l("已整改"),
        "closed": _l("已回访/关闭"),
    },
    "appeal_state": {"pending": _l("待复核"), "approved": _l("申诉通过"), "rejected": _l("申诉驳回")},
    # A day of the working-day calendar that differs from the plain week.
    "day_kind": {"holiday": _l("休（节假日）"), "workday": _l("班（调休上班）")},
    "role": {"admin": _l("管理员"), "analyst": _l("绩效办分析员"), "unit": _l("单位联络员"), "desk": _l("窗口人员")},
    "unit_kind": {
        "department": _l("部门/单位"),
        "section": _l("处室"),
        "window": _l("窗口"),
        "district": _l("市/区/县"),
    },
    "questionnaire_kind": {
        "service": _l("服务评价（评一个窗口/单位）"),
        "appraisal": _l("万人评议（一人评多个单位）"),
    },
    "questionnaire_status": {"draft": _l("草稿"), "published": _l("已发布"), "archived": _l("已归档")},
    "question_type": {
        "satisfaction": _l("满意度（五级 + 不了解）"),
        "single": _l("单选"),
        "multiple": _l("多选"),
        "rating": _l("打分（0–10）"),
        "text": _l("文字（意见建议）"),
        "group": _l("身份（样本类别）"),
    },
    "season_step": {"setup": _l("设置"), "distribute": _l("分发二维码与海报"), "collect": _l("收集答卷"),
                    "close": _l("结束评议"), "compute": _l("加权计算"), "review": _l("核对"), "publish": _l("发布结果")},
    "step_state": {"done": _l("已完成"), "current": _l("下一步"), "todo": _l("未开始")},
    "snapshot_status": {"draft": _l("草稿"), "official": _l("正式"), "superseded": _l("已替代")},
    # What a campaign's fieldwork target counts (services/campaigns/fieldwork.py).
    "target_kind": {"responses": _l("答卷数"), "half_width": _l("区间半宽（±分）")},
    # Values that are not model enums but are stored or posted as codes.
    "level": {5: _l("非常满意"), 4: _l("满意"), 3: _l("基本满意"), 2: _l("不满意"), 1: _l("非常不满意")},
    "verdict": {
        "satisfied": _l("满意"),
        "basically": _l("基本满意"),
        "unsatisfied": _l("不满意"),
        "unreachable": _l("联系不上"),
    },
    "case_event": {
        "open": _l("收到"), "start": _l("开始处理"), "rectify": _l("登记整改"), "rework": _l("重新整改"),
        "close": _l("关闭"), "reopen": _l("重新打开"), "callback": _l("登记回访"), "tags": _l("修改标签"),
        "appeal": _l("提出申诉"), "appeal_approved": _l("申诉通过"), "appeal_rejected": _l("申诉驳回"),
        "excluded": _l("答卷剔除，自动关闭"), "reclassify": _l("更改意见类别"),
    },
    # Why the anti-abuse checks flagged a response (codes stored in Response.status_reason, ";"-separated;
    # the rules and their defaults are in the README, "Anti-abuse").
    "flag_reason": {
        "burst_device": _l("短时集中提交：同一网络地址、同一浏览器短时间内提交过多"),
        "burst_address": _l("短时集中提交：同一网络地址短时间内提交过多（超过繁忙大厅的正常数量）"),
        "ua_rotation": _l("同一网络地址轮换浏览器标识（User-Agent）提交，疑似脚本"),
        "desk_device": _l("从窗口工作人员的设备（叫号屏或已登录的工作人员浏览器）提交"),
        "desk_repeat": _l("同一部手机再次评价同一窗口"),
        "desk_fast": _l("出码到提交用时过短，疑似工作人员自扫自评"),
        "desk_late": _l("评价码过期超过宽限期后才提交"),
    },
    # Reliability and completeness flags on a result row.
    "flag": {
        "no_responses": _l("无人评价"),
        "no_answers": _l("全部为“不了解”"),
        "n_lt_2": _l("样本少于 2"),
        "small_n": _l("样本量不足"),
        "small_n_eff": _l("有效样本量不足"),
        "high_rse": _l("相对标准误过大"),
        "group_missing": _l("部分样本类别无人评价"),
        "rake_not_converged": _l("迭代加权未收敛"),
        "trim_infeasible": _l("权数截尾不可行"),
        "dont_know_high": _l("“不了解”过多"),
        "cells_collapsed": _l("人数过少的样本类别已合并加权"),
        "unweighted": _l("样本类别不足两个，未加权"),
        "singleton_cell": _l("有仅 1 人的加权单元，标准误偏低"),
        "leader_missing": _l("缺少领导评价"),
        "service_missing": _l("缺少服务对象评价"),
        "block_missing": _l("缺少整个评价部分"),
    },
    # Grades are stored in Chinese (the official wording); the label translates them for display.
    "grade": {"优秀": _l("优秀"), "良好": _l("良好"), "达标": _l("达标"), "诫勉": _l("诫勉")},
    "grade_note": {
        "pending": _l("按点估计应为诫勉，但置信区间（或排名区间）与达标线重叠，证据不足，暂定达标，待核实"),
        "borderline": _l("置信区间跨越等次分界，等次处于临界"),
        "insufficient": _l("样本不足，待定：不评定等次、不参与排名"),
        "overridden": _l("样本不足，经分析人员决定仍评定等次和排名"),
    },
    # The 公众评议 component's scheme: score sources, normalisation, grading, a missing source.
    "source": {"survey": _l("本活动满意度调查"), "leader": _l("领导评价"), "service": _l("服务对象评价（窗口）")},
    "source_block": {"public": _l("民意调查"), "leader": _l("领导评价")},
    "normalisation": {"none": _l("不折算（直接用 0–100 分）"), "efficacy": _l("功效系数法（类别内 60 + 40 ×（x − 最小）/（最大 − 最小））")},
    "grading": {"thresholds": _l("按分数线"), "quotas": _l("按比例（每个类别内）"), "none": _l("不评定等次")},
    "missing_source": {"renormalise": _l("缺少的来源由同一部分（民意调查或领导评价）内的其他来源承担；缺少整个部分的单位不评等次、不排名"), "none": _l("缺少任一来源则不计分")},
    "weighting_method": {"poststratify": _l("按样本类别事后分层"), "rake": _l("多维迭代加权（raking）"), "none": _l("不加权")},
    "rake_margin": {"group": _l("样本类别"), "channel": _l("渠道")},
    "questionnaire_template": {
        "window_service": _l("政务服务窗口满意度调查（整体满意度、服务效率、服务态度、服务水平、办事指南清晰度 …）"),
        "appraisal": _l("万人评议机关作风问卷（一人评价多个单位，只评了解的单位）"),
    },
    # Tables that may still point at a unit about to be deleted.
    "reference": {
        "answer": _l("答案"),
        "response": _l("答卷"),
        "campaign_unit": _l("评议活动"),
        "user": _l("用户账号"),
        "unit": _l("下级单位"),
        "desk_token": _l("窗口评价码"),
        "feedback_case": _l("意见和差评工单"),
        "appeal": _l("申诉"),
        "snapshot_row": _l("计算结果"),
        "leader_rating": _l("领导评价"),
    },
}


def _key(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def label(kind: str, value: Any) -> str:
    """The text for one value of a kind; a value the kind does not know shows as itself, none as ""."""
    if value is None:
        return ""
    key = _key(value)
    text = LABELS[kind].get(key)
    return str(key if text is None else text)


def choices(kind: str) -> list[tuple[str, Any]]:
    """(value, label) pairs in order; values as strings, ready for a form or a select."""
    return [(str(value), text) for value, text in LABELS[kind].items()]


def values(kind: str) -> tuple[Any, ...]:
    """The codes a kind knows, in order (for validating a posted value)."""
    return tuple(LABELS[kind])
