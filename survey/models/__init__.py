"""All models, importable from one place (Alembic's autogenerate sees them through this)."""
from survey.models.audit import AuditLog
from survey.models.base import Base, utcnow
from survey.models.campaigns import Campaign, CampaignStatus, CampaignUnit, Channel, GroupMode
from survey.models.feedback import (
    Appeal,
    AppealState,
    Case,
    CaseEvent,
    CaseKind,
    CaseState,
    CaseTag,
    Holiday,
    HolidayKind,
    Setting,
    SiteRevision,
)
from survey.models.fieldwork import FieldworkQuota, FieldworkTarget, ResponseScore, TargetKind
from survey.models.questionnaires import (
    DEFAULT_LEVEL_SCORES,
    Option,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
)
from survey.models.responses import Answer, CommentKind, FollowUpContact, Response, ResponseStatus
from survey.models.results import ComponentScheme, LeaderRating, Snapshot, SnapshotRow, SnapshotStatus
from survey.models.tokens import DeskToken, Invitation
from survey.models.units import Category, RespondentGroup, Unit, UnitKind
from survey.models.users import ApiToken, Role, User

__all__ = [
    "DEFAULT_LEVEL_SCORES",
    "Answer",
    "ApiToken",
    "Appeal",
    "AppealState",
    "AuditLog",
    "Base",
    "Campaign",
    "CampaignStatus",
    "CampaignUnit",
    "Case",
    "CaseEvent",
    "CaseKind",
    "CaseState",
    "CaseTag",
    "Category",
    "Channel",
    "CommentKind",
    "ComponentScheme",
    "DeskToken",
    "FieldworkQuota",
    "FieldworkTarget",
    "FollowUpContact",
    "GroupMode",
    "Holiday",
    "HolidayKind",
    "Invitation",
    "LeaderRating",
    "Option",
    "Question",
    "QuestionType",
    "Questionnaire",
    "QuestionnaireKind",
    "QuestionnaireStatus",
    "RespondentGroup",
    "Response",
    "ResponseScore",
    "ResponseStatus",
    "Role",
    "Setting",
    "SiteRevision",
    "Snapshot",
    "SnapshotRow",
    "SnapshotStatus",
    "TargetKind",
    "Unit",
    "UnitKind",
    "User",
    "utcnow",
]
