"""Staff pages: analysts (setup, results) and unit contacts (own unit's results and cases)."""
from flask import Blueprint

from survey.auth.decorators import require_roles
from survey.models import Role

bp = Blueprint("admin", __name__)


@bp.before_request
def staff_only() -> None:
    require_roles(Role.ADMIN, Role.ANALYST, Role.UNIT)


from survey.admin import accounts, cases, distribution, results, routes, setup  # noqa: F401
