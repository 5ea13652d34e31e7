"""Window staff: the desk screen that shows a single-use QR code per transaction (一事一评)."""
from flask import Blueprint

from survey.auth.decorators import require_roles
from survey.models import Role

bp = Blueprint("desk", __name__)


@bp.before_request
def desk_staff_only() -> None:
    require_roles(Role.DESK, Role.ADMIN)


from survey.desk import routes  # noqa: F401
