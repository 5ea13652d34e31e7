"""Citizens: the home page, questionnaires reached by QR code or link, and the thank-you page."""
from flask import Blueprint

bp = Blueprint("public", __name__)

from survey.public import routes  # noqa: E402,F401
from survey.public import results  # noqa: E402,F401  (published results page)
from survey.public import links  # noqa: E402,F401  (single-use links: desk codes /d/, invitations /i/)
