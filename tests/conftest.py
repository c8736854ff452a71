"""Shared fixtures: a fresh database per test, on SQLite or on the server given."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings
from sqlalchemy import Engine, make_url

from postctl import db, postgres, schema
from postctl.admin_schema import admin_metadata
from postctl.cli import cli
from tests import galera, servers
from tests.databases import create_database

TEST_URL_VAR = "POSTCTL_TEST_DATABASE_URL"
# The long run of the hostile-input properties (docs/testing.md): `--hypothesis-profile=fuzz`
# or POSTCTL_FUZZ=1. tests/hostile.py's examples() scales each surface's count by it.
FUZZ_EXAMPLES = 5000  # the fuzz profile's count, for tests that do not scale their own
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, deadline=None)
if os.environ.get("POSTCTL_FUZZ"):
    settings.load_profile("fuzz")
REPO = Path(__file__).resolve().parent.parent
ORIGINAL_ROWS = [
    (1, "Hello", "me@me.com", "2018-10-03 12:30:00"),
    (2, "Second", "me@fb.com", "2018-10-04 15:20:00"),
]
# Variables that would otherwise choose another database for the command under
# test, or change whether it may delete posts there.
CONFIG_VARS = (
    "DATABASE_URL", "MYSQL_HOST", "MYSQL_USER", "MYSQL_PASS", "MYSQL_DB", "MYSQL_PORT",
    "POSTCTL_ENV", "POSTCTL_ALLOW_PROTECTED", "POSTCTL_PROTECTED_ENVIRONMENTS",
    "POSTCTL_DATABASE_URL_FILE", "MYSQL_PASS_FILE",
)  # fmt: skip


# Set (to 1) by `scripts/mutation --mariadb --jobs N`, N > 1: each pytest session (a mutant's
# forked process) then uses a database of its own, the given name + "_" + its process id, so
# that sessions running side by side do not share tables. The script drops them afterwards.
PER_PROCESS_VAR = "POSTCTL_TEST_DATABASE_PER_PROCESS"


@pytest.fixture(scope="session")
def server_url() -> str | None:
    """The server's test database from POSTCTL_TEST_DATABASE_URL, created if missing."""
    url = os.environ.get(TEST_URL_VAR)
    if not url:
        return None
    parsed = make_url(url)
    name = parsed.database or ""
    if "test" not in name:
        pytest.exit(f"{TEST_URL_VAR} names database {name!r}; refusing to use one without 'test'")
    if os.environ.get(PER_PROCESS_VAR):
        url = parsed.set(database=f"{name}_{os.getpid()}").render_as_string(hide_password=False)
    create_database(url)
    return url


@pytest.fixture
def mysql_url(server_url: str | None) -> str:
    """The MariaDB test URL; tests that need the real server skip without one."""
    if not server_url or not db.is_mysql(server_url):
        pytest.skip(f"needs MariaDB/MySQL: set {TEST_URL_VAR} to a MariaDB URL")
    return server_url


@pytest.fixture
def postgres_url(server_url: str | None) -> str:
    """The PostgreSQL test URL; tests that need the real server skip without one."""
    if not server_url or not postgres.is_postgres(make_url(server_url)):
        pytest.skip(f"needs PostgreSQL: set {TEST_URL_VAR} to a postgresql+psycopg:// URL")
    return server_url


# The load tests run on MariaDB (not PostgreSQL) twice: on the server given, which allows LOAD DATA
# LOCAL, and on a private one that forbids it (MySQL 8's default), so that both
# write paths run in every MariaDB run of the suite.
LOAD_TESTS = {
    "tests.test_boundaries",
    "tests.test_fixtures",
    "tests.test_hostile_csv",
    "tests.test_load",
    "tests.test_roundtrip",
    "tests.test_spans",
}
NO_LOCAL_INFILE = "no-local-infile"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        db.is_mysql(os.environ.get(TEST_URL_VAR) or "sqlite://")
        and metafunc.module.__name__ in LOAD_TESTS
        and "db_url" in metafunc.fixturenames
    ):
        metafunc.parametrize("db_url", ["mariadb", NO_LOCAL_INFILE], indirect=True)


@pytest.fixture(scope="session")
def no_local_infile_url(server_url: str | None) -> Iterator[str]:
    """A private MariaDB server started with --local-infile=0, for the whole session."""
    if not server_url:  # session fixtures come first: skip here, not after starting one
        pytest.skip(f"needs MariaDB/MySQL: set {TEST_URL_VAR} to a server URL")
    if not servers.mariadb_available():
        pytest.fail(f"{servers.MARIADBD} is needed to test the INSERT fallback on MariaDB")
    with servers.private_mariadb("--local-infile=0") as url:
        yield url


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, server_url: str | None) -> str:
    """The database under test: the server's test database, else a new SQLite file."""
    if getattr(request, "param", None) == NO_LOCAL_INFILE:
        return str(request.getfixturevalue("no_local_infile_url"))
    return server_url or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a freshly reset database: no posts, no tokens, no environment mark."""
    eng = db.make_engine(db_url, must_exist=False)
    with eng.begin() as conn:
        admin_metadata.drop_all(conn)  # reset-db keeps these on purpose
    schema.reset_db(eng)
    yield eng
    eng.dispose()


Run = Callable[..., Result]


@pytest.fixture
def run(db_url: str) -> Run:
    """Invoke postctl through CliRunner against the database under test."""

    def invoke(
        *args: str,
        input: str | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        environ: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
        environ["POSTCTL_DATABASE_URL"] = url or db_url
        environ.update(env or {})
        return CliRunner().invoke(cli, list(args), input=input, env=environ, prog_name="postctl")

    return invoke


@pytest.fixture
def loaded(engine: Engine, run: Run) -> Engine:
    """The database with the shipped fixtures loaded."""
    result = run("load-fixtures", str(REPO / "fixtures"))
    assert result.exit_code == 0, result.output
    return engine


def write_csv(directory: Path, content: str | bytes, name: str = "posts.csv") -> Path:
    """Write a fixture file byte for byte and return its path."""
    path = directory / name
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    return path


def table_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Every post as a tuple, ordered by id."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(schema.post.select().order_by(schema.post.c.id))]


@contextlib.contextmanager
def write_held(engine: Engine) -> Iterator[None]:
    """Hold a write transaction (db.write) open in another thread until the block ends."""
    inside, done = threading.Event(), threading.Event()

    def hold(_conn: object) -> None:
        inside.set()
        done.wait(timeout=30)

    holder = threading.Thread(target=db.write, args=(engine, hold))
    holder.start()
    try:
        assert inside.wait(timeout=10)
        yield
    finally:
        done.set()
        holder.join()


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[galera.Cluster]:
    """A three-node MariaDB Galera cluster on 127.0.0.1, for every `galera` test of the session."""
    reason = galera.provider_missing()
    if reason is not None:
        pytest.skip(reason)
    with galera.cluster() as running:
        yield running


@pytest.fixture
def galera_nodes(galera_cluster: galera.Cluster) -> list[str]:
    """The cluster's three node URLs, on a freshly reset database (through node 1)."""
    eng = db.make_engine(galera_cluster.url(1), must_exist=False)
    with eng.begin() as conn:
        admin_metadata.drop_all(conn)
    schema.reset_db(eng)
    eng.dispose()
    return [galera_cluster.url(n) for n in (1, 2, 3)]
