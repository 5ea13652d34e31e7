"""Test fixtures: an app on a freshly migrated database per test, on SQLite and PostgreSQL.

Every test that uses ``app`` (or ``client``, ``session`` …) runs once per backend:
SQLite always, PostgreSQL too when ``TEST_DATABASE_URL`` is set. The schema comes
from the Alembic migrations (built once per run into a template), never ``create_all``.

The templates are migrated once per run, by the first worker that needs them (the others
wait for it): a SQLite file, and a PostgreSQL database each worker's database (and every
fresh one an operations test asks for) is created from with ``CREATE DATABASE … TEMPLATE``.
Each worker (``pytest -n``) builds one app per backend and configuration and reuses it;
the database under it is made fresh for every test: the SQLite file is copied again from
the template, the PostgreSQL database of the worker has its written tables emptied.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import create_engine, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from survey import create_app
from survey.config import TestConfig, normalise_database_url
from survey.extensions import db
from tests import factories

# Property tests draw the same examples on every run (``derandomize``), so a run fails or passes for
# the code, not for the luck of the draw. ``HYPOTHESIS_PROFILE=explore`` draws new ones, ten times as many.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_report_header(config: pytest.Config) -> str:
    where = "SQLite and PostgreSQL (" + str(make_url(PG_URL).set(password="***")) + ")" if PG_URL else "SQLite only (set TEST_DATABASE_URL for PostgreSQL too)"
    return f"pingyi databases: {where}"


def _sqlite_only(item: pytest.Item) -> bool:
    """What the test checks does not depend on the database behind the app: browser behaviour (unless
    marked ``both_backends``, the end-to-end flows) and tests marked ``sqlite_only``."""
    if item.get_closest_marker("sqlite_only"):
        return True
    return item.get_closest_marker("browser") is not None and item.get_closest_marker("both_backends") is None


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need one database run on SQLite only (their PostgreSQL copies are deselected, and
    counted as such); then the long tests first (``slow``, ``browser``, ``LONG_UNMARKED``): spread over
    the workers from the start, they do not end the run on one worker while the others wait. Under ``--dist
    loadgroup`` the tests marked ``xdist_group`` get their group in their id (``_xdist_groups``)."""
    _xdist_groups(config, items)
    once = [item for item in items if getattr(item, "callspec", None) is not None
            and item.callspec.params.get("backend") == "postgresql" and _sqlite_only(item)]
    if once:
        config.hook.pytest_deselected(items=once)
        dropped = set(map(id, once))
        items[:] = [item for item in items if id(item) not in dropped]
    items.sort(key=lambda item: not _long(item))


# Tests that take ten seconds or more on the 2-core machine without a ``slow`` or ``browser`` marker (a
# marker would take them out of ``-m "not slow"``): started with the long ones, not last.
LONG_UNMARKED = (
    "tests/test_i18n_walk.py::",
    "tests/test_i18n_staff.py::test_extraction_sees_the_whole_product",
    "tests/test_i18n_staff.py::test_every_extracted_message_has_its_english",
    "tests/cases/test_hooks.py::test_importing_every_blueprint",
    "tests/analysis/test_analysis_properties.py::",
    "tests/analysis/test_analysis_cli.py::test_python_m_analysis_in_a_process_of_its_own",
    "tests/fuzz/test_submission_fuzz.py::",
)


def _long(item: pytest.Item) -> bool:
    return (item.get_closest_marker("slow") is not None or item.get_closest_marker("browser") is not None
            or item.nodeid.startswith(LONG_UNMARKED))


def _xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What pytest-xdist 3.8 means to do for ``xdist_group`` and no longer can under pytest 9: end the
    test's id with ``@group``, by which ``--dist loadgroup`` sends a group's tests to one worker (it
    writes ``item._nodeid``, which pytest 9 ignores; without this the groups were spread)."""
    if not getattr(config.option, "loadgroup", False):  # set in the workers of ``--dist loadgroup``
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


class CompiledTemplates(BytecodeCache):
    """The templates' compiled code, kept for the worker's life and shared by every app it builds: a
    new app has a new Jinja environment, which would lex, parse and compile each template again
    (the whole suite needs about a tenth less CPU with this). Keyed by template name and source
    checksum, so an edited template is compiled afresh. Every app here comes from ``create_app``, one
    Jinja set-up, so the code compiled for one is the code another would compile."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self.code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def build_app(database_url: str, instance_path: Path, **overrides: object) -> Flask:
    os.environ["PINGYI_INSTANCE_PATH"] = str(instance_path)
    try:
        application = create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    finally:
        os.environ.pop("PINGYI_INSTANCE_PATH", None)
    application.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    return application


def _config_dict() -> dict[str, object]:
    return {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}


def migrate_to_head(database_url: str, instance_path: Path) -> None:
    from flask_migrate import upgrade

    app = build_app(database_url, instance_path)
    with app.app_context():
        upgrade()
        db.engine.dispose()


RUN = "PINGYI_TEST_RUN"  # names what is built once per run; the xdist workers inherit it


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(RUN, uuid.uuid4().hex[:10])


def pytest_unconfigure(config: pytest.Config) -> None:
    """The process that started the run (not a worker) drops the PostgreSQL template at the end."""
    if PG_URL and not hasattr(config, "workerinput") and RUN in os.environ:
        try:
            drop_pg_databases([pg_template_name()])
        except OperationalError:  # the server is not there: then no test built the template on it
            pass


def pg_template_name() -> str:
    return f"pingyi_tpl_{os.environ[RUN]}"


def _run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's temporary folder, shared by its xdist workers (each has a folder of its own in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path | None]:
    """``with once_per_run(factory, "x") as folder:`` build into ``folder`` when it is not None.

    The folder is shared by the run's workers; the first to get here builds, the others wait for
    it under a file lock and then find the work done (``None``)."""
    shared = _run_folder(tmp_path_factory)
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            yield None
            return
        folder.mkdir(exist_ok=True)
        yield folder
        done.touch()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite database as migrated, built once per run (copy it, never write to it)."""
    with once_per_run(tmp_path_factory, "sqlite-template") as folder:
        if folder is not None:
            migrate_to_head(f"sqlite:///{folder / 'template.db'}", folder)
    return _run_folder(tmp_path_factory) / "sqlite-template" / "template.db"


def _admin_engine():
    url = make_url(normalise_database_url(PG_URL or ""))
    return create_engine(url, isolation_level="AUTOCOMMIT"), url


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The name of a PostgreSQL database migrated to head once per run, that nobody connects to:
    ``CREATE DATABASE … TEMPLATE`` copies it in well under a second (migrating one takes seconds).
    Dropped when the run ends."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    name = pg_template_name()
    with once_per_run(tmp_path_factory, "pg-template") as folder:
        if folder is not None:
            admin, url = _admin_engine()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            migrate_to_head(url.set(database=name).render_as_string(hide_password=False), folder)
    return name


def create_pg_database(prefix: str, template: str) -> tuple[str, str]:
    """A new database copied from ``template``; its (name, URL)."""
    admin, url = _admin_engine()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    return name, url.set(database=name).render_as_string(hide_password=False)


def drop_pg_databases(names: list[str]) -> None:
    admin, _url = _admin_engine()
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_template: str) -> Iterator[str]:
    """A database of our own for this worker (parallel runs never collide), at head."""
    name, test_url = create_pg_database("pingyi_test", pg_template)
    admin, _url = _admin_engine()
    try:
        with admin.connect() as conn:
            # A test database need not survive a power cut: commits need not wait for the disk.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    try:
        yield test_url
    finally:
        drop_pg_databases([name])


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production: a fresh ``g`` and its own
    database session, so nothing leaks between the test's session and the view's."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


class PostgresReset:
    """Empties the worker's PostgreSQL database between tests, touching only what was written, in one
    round trip: a function installed in the test database deletes the rows of the tables that hold
    some (dependants first) and restarts the sequences that were used. A TRUNCATE of every table
    costs ~1 s with fsync on (new files for each table); a statement per table, a round trip each."""

    FUNCTION = """
CREATE OR REPLACE FUNCTION pingyi_test_reset(tables text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text;
    written text[] := '{}';
    found boolean;
    seq record;
BEGIN
    FOREACH name IN ARRAY tables LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', name) INTO found;
        IF found THEN written := written || name; END IF;
    END LOOP;
    IF cardinality(written) > 0 THEN
        BEGIN
            FOREACH name IN ARRAY written LOOP
                EXECUTE format('DELETE FROM %I', name);
            END LOOP;
        EXCEPTION WHEN foreign_key_violation THEN  -- rows that refer to each other across tables
            EXECUTE 'TRUNCATE ' || (SELECT string_agg(format('%I', t), ', ') FROM unnest(written) t) || ' CASCADE';
        END;
    END IF;
    FOR seq IN SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL LOOP
        PERFORM setval(format('%I.%I', seq.schemaname, seq.sequencename), 1, false);
    END LOOP;
END $$;
"""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalise_database_url(url), pool_pre_ping=True, pool_size=1)
        self.tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # dependants first
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self.FUNCTION.replace("%", "%%"))  # no parameters: a literal %

    def __call__(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pingyi_test_reset(:tables)"), {"tables": self.tables})

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_reset(pg_database: str) -> Iterator[PostgresReset]:
    reset = PostgresReset(pg_database)
    yield reset
    reset.close()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The worker's one SQLite database file, overwritten from the template before each test."""
    return tmp_path_factory.mktemp("sqlite-test") / "test.db"


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The worker's database for this backend, fresh: as migrated, no rows, sequences at 1."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path: Path = request.getfixturevalue("sqlite_path")
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    request.getfixturevalue("pg_reset")()
    return request.getfixturevalue("pg_database")


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Override in a test module to change the app's configuration."""
    return {}


class AppCache:
    """One app per worker for each database and configuration: building one costs ~70 ms and a
    fresh Jinja environment compiles every template again. Each test still gets a fresh database,
    its own instance folder, the app's configuration as built, and fresh rate-limit counters."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.apps: dict[tuple[str, str], tuple[Flask, dict[str, object]]] = {}

    def get(self, database_url: str, overrides: dict[str, object]) -> Flask:
        key = (database_url, repr(sorted(overrides.items())))
        if key not in self.apps:
            application = build_app(database_url, self.folder / f"instance-{len(self.apps)}", **overrides)
            application.test_client_class = IsolatedClient
            self.apps[key] = (application, dict(application.config))
        application, config = self.apps[key]
        application.config.clear()
        application.config.update(config)
        return application

    def close(self) -> None:
        for application, _config in self.apps.values():
            with application.app_context():
                db.engine.dispose()


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppCache]:
    cache = AppCache(tmp_path_factory.mktemp("apps"))
    yield cache
    cache.close()


def _fresh_rate_limits(application: Flask) -> None:
    """Bind the one process-wide limiter to this test's app: its configuration and new, empty storage
    (``init_app`` builds the storage again and adds the app's hooks only once)."""
    from survey.extensions import limiter

    # A test whose Redis was down leaves the limiter on its in-memory fallback; Flask-Limiter 4.1 has
    # no public call to leave it, and it only retries the real storage after a back-off.
    limiter._storage_dead = False
    limiter.init_app(application)


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, object], app_cache: AppCache,
        request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The worker's app for this database and configuration; a new one for tests marked ``own_app``
    (they change the app itself, e.g. add a route)."""
    own = request.node.get_closest_marker("own_app") is not None
    if own:
        application = build_app(database_url, tmp_path / "instance", **app_overrides)
        application.test_client_class = IsolatedClient
    else:
        application = app_cache.get(database_url, app_overrides)
        application.instance_path = str(tmp_path / "instance")
        Path(application.instance_path).mkdir()
    _fresh_rate_limits(application)
    with application.app_context():
        yield application
        db.session.remove()
        # SQLite's file is replaced before the next test; PostgreSQL's connections stay open for the
        # worker's next test on this app (a new connection costs ~20 ms and a cold catalogue cache).
        if own or database_url.startswith("sqlite"):
            db.engine.dispose()


@pytest.fixture
def session(app: Flask):
    return db.session


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make(session) -> factories.Factory:
    """Build test data: ``make.unit()``, ``make.campaign()``, ``make.user()`` …"""
    return factories.Factory(session)


class AuthActions:
    def __init__(self, client, make: factories.Factory) -> None:
        self._client = client
        self._make = make

    def login(self, username: str = "analyst", password: str = factories.PASSWORD):
        page = self._client.get("/login")
        token = factories.csrf_from(page)
        return self._client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def login_as(self, role: str = "analyst", unit=None, username: str | None = None):
        user = self._make.user(role=role, unit=unit, username=username)
        response = self.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    def logout(self):
        page = self._client.get("/admin/")
        return self._client.post("/logout", data={"csrf_token": factories.csrf_from(page)})


@pytest.fixture
def auth(client, make: factories.Factory) -> AuthActions:
    return AuthActions(client, make)


class BuiltOnce:
    """Heavy test data built once per worker, database and configuration, then restored from its rows.

    The first test that asks builds it with its builder (on an empty database) and keeps every row
    written; later tests get the same rows inserted as they were (same ids) and the builder's value
    with its model instances loaded again. A database that already holds rows is built on as before.
    """

    def __init__(self) -> None:
        self.saved: dict[tuple[str, ...], tuple[list[tuple[object, list[dict]]], object]] = {}

    def __call__(self, name: str, session, build: Callable[[], object]) -> object:
        from flask import current_app

        key = (name, current_app.config["SQLALCHEMY_DATABASE_URI"], repr(sorted(current_app.config.items(), key=str)))
        if self._written(session):
            return build()
        if key in self.saved:
            rows, frozen = self.saved[key]
            self._restore(session, rows)
            return _thaw(session, frozen)
        value = build()
        session.commit()
        rows = [(table, [dict(row) for row in session.execute(select(table)).mappings()])
                for table in _data_tables()]
        self.saved[key] = ([(table, found) for table, found in rows if found], _freeze(value))
        return value

    @staticmethod
    def _written(session) -> bool:
        tables = _data_tables()
        query = " UNION ALL ".join(f"SELECT 1 WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
        return session.execute(text(query)).first() is not None

    @staticmethod
    def _restore(session, rows) -> None:
        connection = session.connection()
        # The rows were consistent when saved; a table that refers to itself (units under units) may
        # list a child before its parent, so the foreign keys are checked at commit (SQLite) or not
        # again (PostgreSQL, whose constraints are not deferrable) while they go back.
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("PRAGMA defer_foreign_keys = ON"))
        for table, found in rows:
            connection.execute(table.insert(), found)
        # A new site revision: PostgreSQL's replica role skipped the triggers that give one.
        connection.execute(text("DELETE FROM site_revision"))
        if connection.dialect.name == "postgresql":  # every sequence past its restored ids, in one round trip
            moved = []
            for table, _found in rows:
                key = list(table.primary_key.columns)
                if len(key) == 1 and key[0].autoincrement in (True, "auto") and key[0].type.python_type is int:
                    moved.append(f"setval(pg_get_serial_sequence('\"{table.name}\"', '{key[0].name}'), "
                                 f"(SELECT max(\"{key[0].name}\") FROM \"{table.name}\"))")
            if moved:
                connection.execute(text("SELECT " + ", ".join(moved)))
        session.commit()


def _data_tables():
    """The tables that hold data: not ``site_revision``, which triggers write as the data goes in."""
    return [t for t in db.metadata.sorted_tables if t.name != "site_revision"]


@dataclasses.dataclass(frozen=True)
class _Row:
    model: type
    identity: tuple


def _freeze(value):
    if hasattr(type(value), "__mapper__"):  # a model instance
        return _Row(type(value), sa_inspect(value).identity)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(_freeze(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _freeze(getattr(value, f.name)) for f in dataclasses.fields(value)})
    return value


def _thaw(session, value):
    if isinstance(value, _Row):
        return session.get(value.model, value.identity)
    if isinstance(value, dict):
        return {k: _thaw(session, v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(_thaw(session, v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _thaw(session, getattr(value, f.name)) for f in dataclasses.fields(value)})
    return value


@pytest.fixture(scope="session")
def _built_once() -> BuiltOnce:
    return BuiltOnce()


@pytest.fixture
def built_once(_built_once: BuiltOnce, session) -> Callable[[str, Callable[[], object]], object]:
    """``built_once("name", lambda: build(...))``: heavy data built once, restored for later tests."""
    return lambda name, build: _built_once(name, session, build)
