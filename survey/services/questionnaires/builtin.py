"""Ready-made questionnaires: the standard window-service survey and a 万人评议 appraisal.

Each template is plain data (the same shape as the questionnaire JSON export), so the
admin editor, the demo and the import all build questionnaires one way.
"""
from __future__ import annotations

from typing import Any

WINDOW_SERVICE: dict[str, Any] = {
    "kind": "service",
    "title": "政务服务窗口满意度调查",
    "title_en": "Service window satisfaction survey",
    "intro": "感谢您来办事！请对本次服务作出评价，约需一分钟，匿名填写。",
    "intro_en": "Thank you for your visit. Please rate the service you received; it takes about a minute and is anonymous.",
    "level_scores": [0, 25, 50, 75, 100],
    "questions": [
        {"code": "Q1", "type": "satisfaction", "text": "您对本次服务的整体满意度", "text_en": "Overall satisfaction with this visit", "weight": 2},
        {"code": "Q2", "type": "satisfaction", "text": "服务效率（等候时间、办理速度）", "text_en": "Efficiency (waiting time, speed)"},
        {"code": "Q3", "type": "satisfaction", "text": "服务态度（热情、耐心、文明用语）", "text_en": "Attitude (friendly, patient, courteous)"},
        {"code": "Q4", "type": "satisfaction", "text": "服务水平（业务熟练、解答准确）", "text_en": "Competence (skilled, accurate answers)"},
        {"code": "Q5", "type": "satisfaction", "text": "办事指南和告知材料的清晰度", "text_en": "Clarity of guides and information"},
        {"code": "Q6", "type": "single", "text": "办理这件事，您一共跑了几次？", "text_en": "How many trips did this take?", "in_index": False,
         "options": [
             {"code": "1", "label": "一次办成", "label_en": "Done in one trip", "score": 100},
             {"code": "2", "label": "两次", "label_en": "Two trips", "score": 50},
             {"code": "3", "label": "三次及以上", "label_en": "Three or more", "score": 0},
         ]},
        {"code": "Q7", "type": "group", "text": "您的身份", "text_en": "You are", "in_index": False, "per_unit": False,
         "options": [
             {"code": "QY", "label": "企业代表", "label_en": "Business", "group": "QY"},
             {"code": "SM", "label": "市民", "label_en": "Resident", "group": "SM"},
             {"code": "FW", "label": "办事群众（服务对象）", "label_en": "Service user", "group": "FW"},
             {"code": "RD", "label": "人大代表、政协委员", "label_en": "People's congress / CPPCC member", "group": "RD"},
             {"code": "ZZ", "label": "行业协会、社会组织", "label_en": "Trade or civil society organisation", "group": "ZZ"},
         ]},
        # Asked only after a 不满意 or 非常不满意 (level 2 or lower) on any of Q1 … Q5: what to 整改 first.
        {"code": "Q9", "type": "multiple", "text": "您不满意的主要问题是什么？",
         "text_en": "What was the main problem?", "in_index": False,
         "settings": {"role": "bad_reasons"},
         "show_if": {"any": [{"question": f"Q{n}", "op": "le", "value": 2} for n in range(1, 6)]},
         "options": [
             {"code": "attitude", "label": "服务态度", "label_en": "Staff attitude"},
             {"code": "efficiency", "label": "办事效率", "label_en": "Efficiency"},
             {"code": "process", "label": "材料与流程", "label_en": "Paperwork and procedure"},
             {"code": "waiting", "label": "等候时间", "label_en": "Waiting time"},
             {"code": "facilities", "label": "环境设施", "label_en": "Premises and facilities"},
             {"code": "other", "label": "其他（请说明）", "label_en": "Other (please say)"},
         ]},
        {"code": "Q10", "type": "text", "text": "请说明其他问题", "text_en": "Please describe the other problem",
         "required": False, "in_index": False, "max_length": 200,
         "show_if": {"any": [{"question": "Q9", "op": "chosen", "value": "other"}]}},
        {"code": "Q8", "type": "text", "text": "您对我们的工作有什么意见和建议？（选填）", "text_en": "Any comments or suggestions? (optional)",
         "required": False, "in_index": False, "max_length": 500, "is_comment": True},
    ],
}

APPRAISAL: dict[str, Any] = {
    "kind": "appraisal",
    "title": "万人评议机关作风问卷",
    "title_en": "Citizens' appraisal of government departments",
    "intro": "请只评价您了解、打过交道的单位。每个单位约需 20 秒，匿名填写。",
    "intro_en": "Please rate only the departments you know or have dealt with. About 20 seconds per department; anonymous.",
    "level_scores": [0, 25, 50, 75, 100],
    "questions": [
        {"code": "G1", "type": "group", "text": "您的身份", "text_en": "You are", "in_index": False, "per_unit": False,
         "options": [
             {"code": "QY", "label": "企业代表", "label_en": "Business", "group": "QY"},
             {"code": "SM", "label": "市民", "label_en": "Resident", "group": "SM"},
             {"code": "FW", "label": "办事群众（服务对象）", "label_en": "Service user", "group": "FW"},
             {"code": "RD", "label": "人大代表、政协委员", "label_en": "People's congress / CPPCC member", "group": "RD"},
             {"code": "ZZ", "label": "行业协会、社会组织", "label_en": "Trade or civil society organisation", "group": "ZZ"},
         ]},
        {"code": "A1", "type": "satisfaction", "text": "工作作风（廉洁勤政、不推诿扯皮）", "text_en": "Conduct (integrity, no buck-passing)"},
        {"code": "A2", "type": "satisfaction", "text": "服务质量（办事效率、服务态度）", "text_en": "Service quality (efficiency, attitude)"},
        {"code": "A3", "type": "satisfaction", "text": "依法办事、政务公开", "text_en": "Lawful and transparent administration"},
        {"code": "A4", "type": "satisfaction", "text": "总体评价", "text_en": "Overall rating", "weight": 2},
        {"code": "A5", "type": "text", "text": "对该单位的意见建议（选填）", "text_en": "Comments on this department (optional)",
         "required": False, "in_index": False, "max_length": 300, "is_comment": True},
    ],
}

BUILTIN_TEMPLATES = {"window_service": WINDOW_SERVICE, "appraisal": APPRAISAL}

# The respondent groups the templates' 身份 questions name, with the target shares an office
# starts from (adjustable under 样本类别). Using a template creates the ones still missing.
STANDARD_GROUPS: list[dict[str, Any]] = [
    {"code": "QY", "name": "企业代表", "name_en": "Business", "target_share": 0.25},
    {"code": "SM", "name": "市民", "name_en": "Resident", "target_share": 0.30},
    {"code": "FW", "name": "办事群众（服务对象）", "name_en": "Service user", "target_share": 0.20},
    {"code": "RD", "name": "人大代表、政协委员", "name_en": "People's congress / CPPCC member", "target_share": 0.15},
    {"code": "ZZ", "name": "行业协会、社会组织", "name_en": "Trade or civil society organisation", "target_share": 0.10},
]


def template_group_codes(template: dict[str, Any]) -> list[str]:
    """The respondent-group codes a template's group question refers to, in order."""
    return [o["group"] for q in template["questions"] if q["type"] == "group" for o in q.get("options", [])]
