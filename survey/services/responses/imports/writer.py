"""Writing a checked file: all new responses in one transaction, or none."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.clock import local_date, org_timezone
from survey.core.labels import label
from survey.core.validation import strip_control
from survey.models import (
    Answer,
    Campaign,
    QuestionnaireKind,
    Response,
    ResponseStatus,
    User,
    utcnow,
)
from survey.services.responses import submission
from survey.services.responses.imports.common import (
    WRITE_BATCH,
    Preview,
    Respondent,
    ResponseImportError,
    check_campaign,
)

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
            f"向“{campaign.title}”导入 {len(new)} 份答卷（{'、'.join(label('channel', c) for c in channels)}），"
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
               dont_know=a.dont_know, option_id=a.option_id, number=a.number, text=a.text,
               not_shown=a.not_shown)
        for a in item.answers
    ]
    return response


def problem_lines(checked: Preview, limit: int | None = None) -> Iterable[str]:
    """The problems as lines of text (for the command line)."""
    for problem in checked.problems[:limit]:
        column = f"［{problem.column}］" if problem.column else ""
        yield _("第 %(n)d 行", n=problem.line) + f"{column}：{problem.message}"
