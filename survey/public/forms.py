"""The fixed parts of the citizen's forms; the questions themselves are read by
``survey.services.responses.submission.parse_answers``."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, ValidationError
from wtforms.validators import InputRequired, Length, Regexp

from survey.services.responses.follow_up import normalise_phone
from survey.services.responses.submission import SUBMISSION_ID


class SubmitForm(FlaskForm):
    """CSRF token, the idempotency key, and when the page was opened (for the answer time).

    Hidden fields show no label: an empty one spares every page the load of WTForms' own
    translation catalogue, which a default label ("Submission Id") would cost each request."""

    submission_id = HiddenField(label="", validators=[Regexp(SUBMISSION_ID.pattern + "$")])
    started = HiddenField(label="")


class FollowUpForm(FlaskForm):
    """After a 差评: an optional phone number for 回访核实, stored only with the box ticked."""

    token = HiddenField()
    phone = StringField(
        _l("联系电话"),
        validators=[InputRequired(message=_l("请填写电话号码。")), Length(max=32, message=_l("电话号码太长。"))],
    )
    consent = BooleanField(
        _l("我同意相关单位使用此电话就本次评价与我联系，仅用于回访核实，事项办结后删除。"),
        validators=[InputRequired(message=_l("留下电话前，请勾选同意。"))],
    )

    def validate_phone(self, field: StringField) -> None:
        number = normalise_phone(field.data)
        if number is None:
            raise ValidationError(_l("请填写有效的手机号码（11 位）或带区号的固定电话。"))
        field.data = number
