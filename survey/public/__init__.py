"""Citizens: the home page, questionnaires reached by QR code or link, and the thank-you page."""
from flask import Blueprint

bp = Blueprint("public", __name__)

# Importing the modules registers their routes: the pages, the published results, and the
# single-use links (desk codes /d/, invitations /i/).
from survey.public import links, results, routes  # noqa: F401
