"""Staff sign-in and sign-out, shared by the desk and the admin."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from survey.auth import routes  # noqa: F401
