"""Pingyi (评议): public-satisfaction surveys and 公众评议 indices for performance management."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Any = None) -> Flask:
    """Build the site. ``config`` is a config class/object or a mapping of overrides (tests)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=os.environ.get("PINGYI_INSTANCE_PATH") or str(ROOT / "instance"),
    )
    configure_app(app, config)
    configure_database(app)
    configure_extensions(app)
    configure_domain_hooks(app)
    configure_blueprints(app)
    configure_hooks(app)
    configure_cli(app)
    return app


def configure_app(app: Flask, config: Any) -> None:
    from survey.config import Config, load_or_create_secret, normalise_database_url

    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret(app.instance_path)
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or f"sqlite:///{Path(app.instance_path) / 'pingyi.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)

    secure = bool(app.config.get("SECURE_COOKIES"))
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure
    if app.config.get("REDIS_URL") and not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", "pingyi-memory://")
    if os.environ.get("PINGYI_PROXY_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(os.environ["PINGYI_PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def configure_database(app: Flask) -> None:
    """SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL a pre-pinged pool."""
    url: str = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        options.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def configure_extensions(app: Flask) -> None:
    from survey import i18n
    from survey.db import install_sqlite_pragmas
    from survey.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    from survey.services.accounts.users import load_user_from_session_id

    login_manager.user_loader(load_user_from_session_id)


def configure_domain_hooks(app: Flask) -> None:
    """What one domain does when another stores something, registered here rather than by the
    side effect of an import: a new response opens its cases. Idempotent (tests build many apps)."""
    from survey.services.cases import register_hooks as register_case_hooks

    register_case_hooks()


class IdConverter(IntegerConverter):
    """``<int:…>`` in our URLs is a row id: at most what an INTEGER column holds.

    A larger number cannot be any row, and PostgreSQL refuses to compare an INTEGER
    column with it (a 500), so such a URL simply matches no route: 404.
    """

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = 2**31 - 1, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


class BigIdConverter(IdConverter):
    """``<bigid:…>``: the id of a BIGINT row (responses, cases)."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = 2**63 - 1, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def configure_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any rule is added
    app.url_map.converters["bigid"] = BigIdConverter
    # Any number, for a view that checks the range itself and answers in its own words (the API).
    app.url_map.converters["anyint"] = IntegerConverter
    from survey.admin import bp as admin_bp
    from survey.api import bp as api_bp
    from survey.auth import bp as auth_bp
    from survey.desk import bp as desk_bp
    from survey.extensions import csrf
    from survey.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(desk_bp, url_prefix="/desk")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    csrf.exempt(api_bp)  # bearer-token API: no cookies, so no CSRF
    app.register_blueprint(api_bp, url_prefix="/api/v1")


def configure_hooks(app: Flask) -> None:
    from survey import assets, errors, i18n, security

    assets.register(app)
    errors.register(app)
    security.register(app)
    i18n.register(app)


def configure_cli(app: Flask) -> None:
    from survey.cli import register

    register(app)
