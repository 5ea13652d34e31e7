"""A realistic demo in Chinese: a city's units, respondent groups, two questionnaires,
campaigns for this quarter and year (and last quarter, closed), responses and users.

Deterministic for a given seed, except the demo passwords, which are random.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from survey.models import (
    Answer,
    Campaign,
    CampaignStatus,
    CampaignUnit,
    Category,
    Channel,
    CommentKind,
    Option,
    Question,
    Questionnaire,
    QuestionnaireStatus,
    QuestionType,
    RespondentGroup,
    Response,
    Role,
    Unit,
    UnitKind,
    User,
    utcnow,
)
from survey.services.accounts.users import create_user
from survey.services.campaigns.lookup import unique_short_code
from survey.services.demo.cases import seed_demo_cases
from survey.services.demo.results import seed_demo_results
from survey.services.questionnaires.builtin import APPRAISAL, WINDOW_SERVICE
from survey.services.questionnaires.serialise import build_questionnaire
from survey.services.responses import submission


class DemoError(RuntimeError):
    pass


CATEGORIES = [
    ("ZF", "政府口机关", "Government departments"),
    ("DQ", "党群口机关", "Party and mass organisations"),
    ("GG", "公共服务企业", "Public service companies"),
    ("CK", "政务服务中心窗口", "Service centre windows"),
]

# code, name, category, kind, parent code, window number, latent quality (−1 … +1)
UNITS = [
    ("FGW", "市发展和改革委员会", "ZF", UnitKind.DEPARTMENT, None, None, 0.2),
    ("JYJ", "市教育局", "ZF", UnitKind.DEPARTMENT, None, None, 0.1),
    ("GAJ", "市公安局", "ZF", UnitKind.DEPARTMENT, None, None, 0.3),
    ("MZJ", "市民政局", "ZF", UnitKind.DEPARTMENT, None, None, 0.25),
    ("RSJ", "市人力资源和社会保障局", "ZF", UnitKind.DEPARTMENT, None, None, -0.1),
    ("ZRJ", "市自然资源和规划局", "ZF", UnitKind.DEPARTMENT, None, None, -0.3),
    ("ZJJ", "市住房和城乡建设局", "ZF", UnitKind.DEPARTMENT, None, None, -0.5),
    ("SJJ", "市市场监督管理局", "ZF", UnitKind.DEPARTMENT, None, None, 0.0),
    ("ZGH", "市总工会", "DQ", UnitKind.DEPARTMENT, None, None, 0.35),
    ("TSW", "共青团市委", "DQ", UnitKind.DEPARTMENT, None, None, 0.3),
    ("FL", "市妇女联合会", "DQ", UnitKind.DEPARTMENT, None, None, 0.4),
    ("GSL", "市工商业联合会", "DQ", UnitKind.DEPARTMENT, None, None, 0.05),
    ("GD", "国网市供电公司", "GG", UnitKind.DEPARTMENT, None, None, 0.1),
    ("ZLS", "市自来水公司", "GG", UnitKind.DEPARTMENT, None, None, -0.2),
    ("RQ", "市燃气集团", "GG", UnitKind.DEPARTMENT, None, None, -0.4),
    ("GJ", "市公交集团", "GG", UnitKind.DEPARTMENT, None, None, 0.0),
    ("CK-BDC", "不动产登记窗口", "CK", UnitKind.WINDOW, "ZRJ", "12", -0.2),
    ("CK-SB", "社保医保窗口", "CK", UnitKind.WINDOW, "RSJ", "5", 0.15),
    ("CK-HJ", "公安户籍窗口", "CK", UnitKind.WINDOW, "GAJ", "8", 0.45),
    ("CK-SCZT", "市场主体登记窗口", "CK", UnitKind.WINDOW, "SJJ", "3", 0.3),
    ("CK-GJJ", "住房公积金窗口", "CK", UnitKind.WINDOW, "ZJJ", "16", -0.05),
]

# code, name, English, target share (投票权), share of demo respondents, harshness
GROUPS = [
    ("QY", "企业代表", "Business", 0.25, 0.18, 0.15),
    ("SM", "市民", "Resident", 0.30, 0.40, 0.0),
    ("FW", "办事群众（服务对象）", "Service user", 0.20, 0.30, -0.05),
    ("RD", "人大代表、政协委员", "People's congress / CPPCC member", 0.15, 0.05, 0.1),
    ("ZZ", "行业协会、社会组织", "Trade or civil society organisation", 0.10, 0.07, 0.05),
]

PRAISE = [
    "工作人员很耐心，一次就办好了，点赞！",
    "窗口服务热情，流程清楚。",
    "比以前快多了，网上预约很方便。",
    "办事指南写得很明白，材料一次带齐。",
    "态度很好，主动帮忙填表。",
]
COMPLAINTS = [
    "排队时间太长，叫号系统经常出问题。",
    "材料要求前后说法不一，跑了三趟才办完。",
    "午休时间窗口没人，希望错时延时服务。",
    "电话一直打不通，咨询很不方便。",
    "工作人员态度生硬，问两句就不耐烦。",
    "停车太难，希望增加停车位。",
    "网上办事系统经常登录不了。",
    "审批时限太长，企业等不起。",
]
SUGGESTIONS = [
    "建议增加自助服务终端。",
    "希望周末也能开放半天。",
    "建议把常见问题做成一张表贴在窗口。",
    "建议推行“一件事一次办”。",
]


@dataclass
class DemoSummary:
    units: int = 0
    campaigns: int = 0
    responses: int = 0
    comments: int = 0
    credentials: list[tuple[str, str, str]] = field(default_factory=list)


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Unit))


def _quarter(day: dt.date) -> tuple[str, dt.datetime, dt.datetime]:
    q = (day.month - 1) // 3
    start = dt.datetime(day.year, q * 3 + 1, 1, tzinfo=dt.UTC)
    end_month = q * 3 + 4
    end = dt.datetime(day.year + (end_month > 12), (end_month - 1) % 12 + 1, 1, tzinfo=dt.UTC)
    return f"{day.year}Q{q + 1}", start, end


def _level(rng: random.Random, quality: float) -> int:
    """A satisfaction level 1 … 5, most people satisfied, worse units get more 差评."""
    x = rng.gauss(1.1 + quality, 0.9)
    return 5 if x > 1.3 else 4 if x > 0.4 else 3 if x > -0.4 else 2 if x > -1.1 else 1


def _password() -> str:
    return secrets.token_urlsafe(9)


def seed_demo(session: Session, responses: int = 3000, seed: int = 2026) -> DemoSummary:
    """Load the demo into an empty database, in one transaction."""
    if not database_is_empty(session):
        raise DemoError("数据库里已有单位，演示数据只能载入空数据库。")
    if responses < 0:
        raise DemoError("答卷数不能为负。")
    rng = random.Random(seed)
    now = utcnow()
    summary = DemoSummary()

    city = _seed_city(session)
    summary.units = len(city.units)
    service_q, appraisal_q = _seed_questionnaires(session, now)
    campaigns = _seed_campaigns(session, now, city, service_q, appraisal_q)
    summary.campaigns = 3
    desk_user, summary.credentials = _seed_users(session)

    group_option = _group_options(service_q, appraisal_q)
    n_service = int(responses * 0.6)
    n_previous = int(n_service * 0.4)
    n_current = n_service - n_previous
    n_appraisal = responses - n_service
    for count, camp in ((n_current, campaigns.current_service), (n_previous, campaigns.previous_service)):
        _seed_service_responses(session, rng, summary, now, city, camp, campaigns.service_units, count, service_q,
                                group_option[service_q.id], desk_user,
                                lift=0.1 if camp is campaigns.current_service else 0.0)
    _seed_appraisal_responses(session, rng, summary, now, city, campaigns.annual, campaigns.appraisal_units,
                              n_appraisal, appraisal_q, group_option[appraisal_q.id])
    session.flush()
    seed_demo_cases(session, random.Random(seed + 1), now)
    seed_demo_results(session, campaigns.previous_service, campaigns.current_service, campaigns.annual,
                      random.Random(seed + 2))
    session.commit()
    return summary


_CATEGORY_OF = {row[0]: row[2] for row in UNITS}


@dataclass
class _City:
    """The organisation the demo rates: units (with their latent quality) and respondent groups."""

    units: dict[str, Unit]
    quality: dict[str, float]
    groups: dict[str, RespondentGroup]

    def in_categories(self, *codes: str) -> list[Unit]:
        """The units of those categories, in the order of ``UNITS``."""
        return [u for c, u in self.units.items() if _CATEGORY_OF[c] in codes]

    def outside_categories(self, *codes: str) -> list[Unit]:
        return [u for c, u in self.units.items() if _CATEGORY_OF[c] not in codes]


@dataclass
class _Campaigns:
    current_service: Campaign
    previous_service: Campaign
    annual: Campaign
    service_units: list[Unit]
    appraisal_units: list[Unit]


def _seed_city(session: Session) -> _City:
    """Categories, units (windows under their departments) and respondent groups."""
    categories = {}
    for order, (code, name, name_en) in enumerate(CATEGORIES):
        categories[code] = Category(code=code, name=name, name_en=name_en, sort_order=order)
        session.add(categories[code])
    units: dict[str, Unit] = {}
    quality: dict[str, float] = {}
    for order, (code, name, cat, kind, parent, window_no, q) in enumerate(UNITS):
        unit = Unit(code=code, name=name, kind=kind, category=categories[cat], window_no=window_no,
                    parent=units.get(parent) if parent else None, sort_order=order)
        session.add(unit)
        units[code] = unit
        quality[code] = q
    groups: dict[str, RespondentGroup] = {}
    for order, (code, name, name_en, share, _mix, _harsh) in enumerate(GROUPS):
        groups[code] = RespondentGroup(code=code, name=name, name_en=name_en, target_share=share, sort_order=order)
        session.add(groups[code])
    session.flush()
    return _City(units=units, quality=quality, groups=groups)


def _seed_questionnaires(session: Session, now: dt.datetime) -> tuple[Questionnaire, Questionnaire]:
    """The built-in window-service and appraisal questionnaires, published."""
    service_q = build_questionnaire(session, WINDOW_SERVICE)
    appraisal_q = build_questionnaire(session, APPRAISAL)
    for q in (service_q, appraisal_q):
        q.status = QuestionnaireStatus.PUBLISHED
        q.published_at = now
        session.add(q)
    session.flush()
    return service_q, appraisal_q


def _seed_campaigns(session: Session, now: dt.datetime, city: _City, service_q: Questionnaire,
                    appraisal_q: Questionnaire) -> _Campaigns:
    """This quarter's window-service survey (open), last quarter's (closed) and this year's appraisal (open)."""
    period, q_start, q_end = _quarter(now.date())
    prev_period, prev_start, _prev_end = _quarter((q_start - dt.timedelta(days=1)).date())
    service_units = city.in_categories("CK", "GG")
    appraisal_units = city.outside_categories("CK")

    def campaign(title: str, title_en: str, questionnaire: Questionnaire, period_: str, opens: dt.datetime,
                 closes: dt.datetime, members: list[Unit], channels: list[Channel], status: CampaignStatus) -> Campaign:
        c = Campaign(short_code=unique_short_code(session), title=title, title_en=title_en,
                     questionnaire=questionnaire, period=period_, opens_at=opens, closes_at=closes,
                     channels=[ch.value for ch in channels], status=status, public_results=True)
        session.add(c)
        session.flush()
        for unit in members:
            session.add(CampaignUnit(campaign=c, unit=unit, short_code=unique_short_code(session)))
        session.flush()
        return c

    q_label = "一二三四"[int(period[-1]) - 1]
    current_service = campaign(
        f"{now.year}年第{q_label}季度政务服务满意度评议", f"Public service satisfaction, {period}",
        service_q, period, q_start, q_end + dt.timedelta(days=10), service_units,
        [Channel.POSTER, Channel.DESK, Channel.WEB], CampaignStatus.OPEN)
    previous_service = campaign(
        f"{prev_start.year}年第{'一二三四'[int(prev_period[-1]) - 1]}季度政务服务满意度评议", f"Public service satisfaction, {prev_period}",
        service_q, prev_period, prev_start, q_start, service_units,
        [Channel.POSTER, Channel.DESK, Channel.WEB], CampaignStatus.CLOSED)
    annual = campaign(
        f"{now.year}年度万人评议机关", f"Citizens' appraisal of departments, {now.year}",
        appraisal_q, str(now.year), now - dt.timedelta(days=30), now + dt.timedelta(days=30), appraisal_units,
        [Channel.WEB, Channel.INVITATION, Channel.PHONE], CampaignStatus.OPEN)  # phone: a survey firm's calls, imported
    return _Campaigns(current_service=current_service, previous_service=previous_service, annual=annual,
                      service_units=service_units, appraisal_units=appraisal_units)


def _seed_users(session: Session) -> tuple[User, list[tuple[str, str, str]]]:
    """One user per role, with random passwords; returns the desk user and (username, password, role) to show."""
    password = {r: _password() for r in ("admin", "analyst", "zrj", "window12")}
    create_user(session, "admin", password["admin"], Role.ADMIN, display_name="系统管理员")
    create_user(session, "analyst", password["analyst"], Role.ANALYST, display_name="绩效办 王分析")
    create_user(session, "zrj", password["zrj"], Role.UNIT, unit_code="ZRJ", display_name="自然资源和规划局 李联络")
    desk_user = create_user(session, "window12", password["window12"], Role.DESK, unit_code="CK-BDC",
                            display_name="12号窗口 张")
    return desk_user, [
        ("admin", password["admin"], "管理员"), ("analyst", password["analyst"], "分析员"),
        ("zrj", password["zrj"], "单位联络员"), ("window12", password["window12"], "窗口人员"),
    ]


def _group_options(*questionnaires: Questionnaire) -> dict[int, dict[int, Option]]:
    """Per questionnaire: the option of its 样本类别 question that stands for each respondent group."""
    group_option = {}
    for q in questionnaires:
        for question in q.questions:
            if question.type == QuestionType.GROUP:
                group_option[q.id] = {o.respondent_group_id: o for o in question.options}
    return group_option


def _respondent_group(rng: random.Random) -> str:
    return rng.choices([g[0] for g in GROUPS], [g[4] for g in GROUPS])[0]


def _harshness(group_code: str) -> float:
    return next(g[5] for g in GROUPS if g[0] == group_code)


def _seed_service_responses(session: Session, rng: random.Random, summary: DemoSummary, now: dt.datetime,
                            city: _City, camp: Campaign, service_units: list[Unit], count: int,
                            service_q: Questionnaire, group_option: dict[int, Option], desk_user: User,
                            lift: float) -> None:
    """``count`` window-service responses spread over the campaign so far; ``lift`` improves every unit."""
    end = min(camp.closes_at, now)
    span = (end - camp.opens_at).total_seconds()
    why = random.Random(f"reasons {camp.period} {count}")  # its own stream: the ratings stay as they were
    for i in range(count):
        unit = rng.choice(service_units)
        gcode = _respondent_group(rng)
        q_unit = city.quality[unit.code] - _harshness(gcode) + lift
        channel = rng.choices([Channel.POSTER, Channel.DESK, Channel.WEB], [0.5, 0.35, 0.15])[0]
        at = camp.opens_at + dt.timedelta(seconds=span * (i + rng.random()) / max(count, 1))
        response = Response(
            campaign_id=camp.id, questionnaire_id=service_q.id, unit_id=unit.id,
            respondent_group_id=city.groups[gcode].id, channel=channel, submitted_at=at,
            submission_id=secrets.token_urlsafe(18), locale="zh",
            staff_user_id=desk_user.id if channel == Channel.DESK and unit.code == "CK-BDC" else None,
            duration_seconds=int(20 + rng.expovariate(1 / 25)),
        )
        form = MultiDict()
        low: list[str] = []  # the satisfaction questions rated 不满意 or worse: what the reasons follow
        worst = 5
        for question in service_q.questions:
            name = submission.field_name(question)
            if question.type == QuestionType.SATISFACTION:
                if rng.random() < 0.04:
                    form.add(name, submission.DONT_KNOW)
                    continue
                level = _level(rng, q_unit)
                worst = min(worst, level)
                low += [question.code] if level <= 2 else []
                form.add(name, str(level))
            elif question.type == QuestionType.SINGLE:
                trips = rng.choices(question.options, [0.75 + q_unit * 0.15, 0.18, 0.07 - q_unit * 0.05])[0]
                form.add(name, str(trips.id))
            elif question.type == QuestionType.GROUP:
                form.add(name, str(group_option[city.groups[gcode].id].id))
            elif question.type == QuestionType.MULTIPLE and low:
                for option in _reasons(why, question, low):
                    form.add(name, str(option.id))
            elif question.type == QuestionType.TEXT and not question.is_comment:
                form.add(name, why.choice(OTHER_PROBLEMS))  # kept only when 其他 was chosen
            elif question.type == QuestionType.TEXT:
                text = _comment(rng, worst)
                if text:
                    summary.comments += 1
                    form.add(name, text)
                    if kind := _chosen_kind(text):
                        form.add(submission.comment_kind_field(name), kind.value)
        # Stored the way the citizen page stores a submission: hidden questions as not_shown rows.
        parsed = submission.parse_answers(service_q, service_q.questions, [unit], form)
        assert parsed.ok, parsed.errors
        response.answers = [
            Answer(campaign_id=camp.id, unit_id=a.unit_id, question_id=a.question_id, level=a.level,
                   dont_know=a.dont_know, option_id=a.option_id, number=a.number, text=a.text,
                   comment_kind=a.comment_kind, not_shown=a.not_shown)
            for a in parsed.answers
        ]
        session.add(response)
        summary.responses += 1


def _seed_appraisal_responses(session: Session, rng: random.Random, summary: DemoSummary, now: dt.datetime,
                              city: _City, annual: Campaign, appraisal_units: list[Unit], count: int,
                              appraisal_q: Questionnaire, group_option: dict[int, Option]) -> None:
    """``count`` appraisal responses, each rating the few units its respondent knows."""
    per_unit_questions = [q for q in appraisal_q.questions if q.per_unit]
    group_question = next(q for q in appraisal_q.questions if q.type == QuestionType.GROUP)
    span = (now - annual.opens_at).total_seconds()
    for i in range(count):
        gcode = _respondent_group(rng)
        known = rng.sample(appraisal_units, k=min(len(appraisal_units), 2 + int(rng.expovariate(1 / 3))))
        channel = Channel.INVITATION if gcode in ("RD", "ZZ", "QY") and rng.random() < 0.7 else Channel.WEB
        response = Response(
            campaign_id=annual.id, questionnaire_id=appraisal_q.id, respondent_group_id=city.groups[gcode].id,
            channel=channel, submitted_at=annual.opens_at + dt.timedelta(seconds=span * (i + rng.random()) / count),
            submission_id=secrets.token_urlsafe(18), locale="zh", duration_seconds=int(30 + rng.expovariate(1 / 40)),
        )
        option = group_option[city.groups[gcode].id]
        # Every answer names dont_know (False is also its default): the ORM sends rows that name the same
        # columns in one multi-row INSERT, and starts a new statement wherever that changes.
        response.answers.append(Answer(campaign_id=annual.id, question_id=group_question.id, option_id=option.id,
                                       dont_know=False))
        for unit in known:
            worst = 5
            for question in per_unit_questions:
                if question.type == QuestionType.SATISFACTION:
                    if rng.random() < 0.12:
                        response.answers.append(Answer(campaign_id=annual.id, unit_id=unit.id,
                                                       question_id=question.id, dont_know=True))
                        continue
                    level = _level(rng, city.quality[unit.code] - _harshness(gcode))
                    worst = min(worst, level)
                    response.answers.append(Answer(campaign_id=annual.id, unit_id=unit.id,
                                                   question_id=question.id, level=level, dont_know=False))
                elif question.type == QuestionType.TEXT and rng.random() < 0.15:
                    text = _comment(rng, worst)
                    if text:
                        summary.comments += 1
                        response.answers.append(Answer(campaign_id=annual.id, unit_id=unit.id,
                                                       question_id=question.id, text=text, dont_know=False,
                                                       comment_kind=_chosen_kind(text)))
        session.add(response)
        summary.responses += 1


# What a dissatisfied citizen blames, by the satisfaction question they rated low (option codes of
# the window template's 主要问题); every reason stays possible.
REASON_WEIGHTS = {"Q2": {"efficiency": 3, "waiting": 3}, "Q3": {"attitude": 4}, "Q4": {"efficiency": 2, "process": 1},
                  "Q5": {"process": 3}}
OTHER_PROBLEMS = ["停车位太少", "自助机经常故障", "网上预约和现场要求不一致", "窗口午休不办理"]


def _reasons(rng: random.Random, question: Question, low: list[str]) -> list[Option]:
    """One to three plausible reasons for the low ratings (其他 rarely)."""
    base = {"other": 0.3, "facilities": 0.6}
    weights = {o.code: base.get(o.code, 1.0) for o in question.options}
    for code in low:
        for reason, extra in REASON_WEIGHTS.get(code, {}).items():
            if reason in weights:
                weights[reason] += extra
    options = list(question.options)
    chosen: list[Option] = []
    for _i in range(rng.choices([1, 2, 3], [0.55, 0.35, 0.10])[0]):
        pick = rng.choices(options, [weights[o.code] for o in options])[0]
        if pick not in chosen:
            chosen.append(pick)
    return chosen


def _chosen_kind(text: str) -> CommentKind | None:
    """Citizens who praise say so beside the comment box (a 表扬 opens no case with a deadline);
    the others leave the kind to the rule."""
    return CommentKind.PRAISE if text in PRAISE else None


def _comment(rng: random.Random, worst_level: int) -> str | None:
    """Unhappy respondents write more often, and write complaints."""
    if worst_level <= 2:
        return rng.choice(COMPLAINTS) if rng.random() < 0.55 else None
    if rng.random() < 0.08:
        return rng.choice(PRAISE + SUGGESTIONS)
    return None
