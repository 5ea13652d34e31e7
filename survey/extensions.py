"""Flask extensions, created unbound here and bound to the app in ``create_app``."""
from __future__ import annotations

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from survey.models.base import Base


def client_address() -> str:
    """The address rate limits count by: the peer, or the first proxy hop we trust (ProxyFix)."""
    return request.remote_addr or "unknown"


def client_key() -> str:
    """What rate limits count by: a keyed, rotating hash of the client address, never the address.

    So neither the limiter's memory nor Redis ever holds a raw IP address.
    """
    from survey.services.responses import antiabuse

    config = current_app.config
    return antiabuse.address_key(config["SECRET_KEY"], client_address(),
                                 rotation_hours=config["FINGERPRINT_ROTATION_HOURS"])


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=client_key, default_limits=[])
