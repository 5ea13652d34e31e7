"""The fixed parts of the citizen's forms; the questions themselves are read by
``survey.services.responses.submission.parse_answers``."""
from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from flask_wtf.form import SUBMIT_METHODS
from wtforms import BooleanField, HiddenField, StringField, ValidationError
from wtforms.validators import InputRequired, Length

from survey.services.responses.follow_up import normalise_phone
from survey.services.responses.submission import SUBMISSION_ID


class Hidden:
    """One hidden field: what was posted (None when nothing was) and what is wrong with it."""

    def __init__(self, data: str | None) -> None:
        self.data = data
        self.errors: list[str] = []


class SubmitForm:
    """The questionnaire's fixed fields: the CSRF token, the submission id (the idempotency key) and when
    the page was opened (for the answer time), read straight from the request and checked as Flask-WTF
    would (``WTF_CSRF_ENABLED``, its secret, time limit and field name). The template writes them out
    itself: WTForms' form machinery cost a tenth of a page's time for three hidden fields."""

    def __init__(self) -> None:
        posted = request.form if request.method in SUBMIT_METHODS else None
        self.submission_id = Hidden(posted.get("submission_id") if posted is not None else None)
        self.started = Hidden(posted.get("started") if posted is not None else None)
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        self.csrf_token = Hidden(posted.get(field) if posted is not None else None)

    def validate(self) -> bool:
        self.submission_id.errors = [] if SUBMISSION_ID.fullmatch(self.submission_id.data or "") else [
            "Invalid input."]
        self.csrf_token.errors = []
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(self.csrf_token.data)
            except ValidationError as exc:
                self.csrf_token.errors = [str(exc.args[0]) if exc.args else "CSRF"]
        return not (self.submission_id.errors or self.csrf_token.errors)


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
