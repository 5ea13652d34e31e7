"""The JSON API (``/api/v1``) for the performance-management system and for operations."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from survey.api import routes  # noqa: F401
