"""db.py's paths that a real server takes rarely or only on MariaDB, run on SQLite too.

A dropped connection, a deadlock, a MySQL error number, an inherited engine and
each backend's connect settings, with stand-ins for the server: the engine is
real, what goes wrong is raised by the test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import exc as sa_exc

from postctl import db, hints, sqlite
from postctl.errors import ConfigError, DatabaseError

MYSQL_URL = "mysql+mysqldb://app:s3cret@db:3306/posts"
# README's test command installs no mysqlclient; CI's MariaDB step has it and runs these.
needs_mysqldb = pytest.mark.skipif(
    importlib.util.find_spec("MySQLdb") is None,
    reason="needs mysqlclient to make a MySQL engine: pip install 'postctl[mysql]'",
)
MASKED_MYSQL_URL = "mysql+mysqldb://app:***@db:3306/posts"


class _Stop(Exception):
    """Raised instead of connecting: the settings were seen, no server is needed."""


def connect_params(engine: Engine) -> dict[str, Any]:
    """The keyword arguments the engine would pass to its driver's connect()."""
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise _Stop

    with pytest.raises(_Stop):
        engine.connect()
    return seen


def failure(orig: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """A driver error as SQLAlchemy wraps it; invalidated: the server dropped the connection."""
    return sa_exc.OperationalError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'paths.db'}"
    engine = db.make_engine(url, must_exist=False)
    with engine.connect():  # the file exists from here on
        pass
    yield url, engine
    engine.dispose()


def failing(errors: list[sa_exc.DBAPIError], result: str = "done") -> tuple[Callable, list[int]]:
    """Work that raises the given errors one per call, then returns result; and its call count."""
    calls: list[int] = []

    def work(conn: Connection) -> str:
        calls.append(1)
        conn.execute(text("SELECT 1"))  # a real statement on the connection it was given
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return work, calls


# Connect settings, per backend, seen without a server.


@needs_mysqldb
@pytest.mark.parametrize("scheme", ["mysql+mysqldb", "mariadb+mysqldb"])
def test_mysql_connections_use_utf8mb4_strict_mode_and_the_timeout(scheme: str) -> None:
    engine = db.make_engine(f"{scheme}://app:s3cret@db/posts")
    params = connect_params(engine)
    assert params["charset"] == "utf8mb4"
    assert params["connect_timeout"] == db.CONNECT_TIMEOUT
    assert params["init_command"] == f"SET SESSION sql_mode='{db.MYSQL_SQL_MODE}'"
    assert params["local_infile"] == 0  # a server may ask for any file: only loads allow it
    assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
    assert engine.pool._recycle == 3600  # type: ignore[attr-defined]  # hourly


@needs_mysqldb
def test_mysql_settings_a_caller_asks_for_reach_the_connection() -> None:
    engine = db.make_engine(MYSQL_URL, local_infile=True, sync_wait=3, pre_ping=False, pool_size=7)
    params = connect_params(engine)
    assert params["local_infile"] == 1
    assert params["init_command"] == (
        f"SET SESSION sql_mode='{db.MYSQL_SQL_MODE}', wsrep_sync_wait = 3"
    )
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]
    assert engine.pool.size() == 7  # type: ignore[attr-defined]


def test_postgres_connections_have_the_timeout_and_pre_ping() -> None:
    engine = db.make_engine("postgresql://app:s3cret@db/posts")
    params = connect_params(engine)
    assert (params["connect_timeout"], params["client_encoding"]) == (db.CONNECT_TIMEOUT, "utf8")
    assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
    engine = db.make_engine("postgresql://app:s3cret@db/posts", pre_ping=False)
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]


def test_sqlite_connections_wait_for_the_busy_timeout(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}", must_exist=False, pool_size=2)
    assert connect_params(engine)["timeout"] == sqlite.BUSY_TIMEOUT
    assert engine.pool.size() == 2  # type: ignore[attr-defined]
    default = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}", must_exist=False)
    assert default.pool.size() == 5  # type: ignore[attr-defined]  # SQLAlchemy's own
    # The URL's own wait wins: ?timeout=0 fails at once on a lock.
    own = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}?timeout=0", must_exist=False)
    assert connect_params(own)["timeout"] == 0


def test_a_missing_mysql_driver_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # its import fails
    with pytest.raises(DatabaseError) as err:
        db.make_engine(MYSQL_URL)
    message = str(err.value)
    assert message.startswith(f"cannot use {MASKED_MYSQL_URL}: its driver is not installed (")
    assert message.endswith("); install it with pip install 'postctl[mysql]'")


@needs_mysqldb
def test_a_setting_the_driver_refuses_is_named_on_connecting() -> None:
    engine = db.make_engine(f"{MYSQL_URL}?foo=bar")  # MySQLdb refuses it before any network
    with pytest.raises(ConfigError) as err:
        db.connect(engine)
    message = str(err.value)
    prefix = f"cannot connect to {MASKED_MYSQL_URL}?foo=bar: the driver refuses its settings ("
    assert message.startswith(prefix), message
    assert "foo" in message.removeprefix(prefix) and "\n" not in message


def test_a_setting_sqlalchemy_would_ignore_is_refused_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}?foo=bar"
    with pytest.raises(ConfigError) as err:
        db.make_engine(url, must_exist=False)
    message = str(err.value)
    assert message.startswith(f"cannot use {url}: Query string argument(s) 'foo' are not "), message
    assert "Background on" not in message and "\n" not in message


def test_is_mysql_knows_both_names() -> None:
    assert [
        db.is_mysql(u) for u in ("mysql://h/d", "mariadb://h/d", "sqlite://", "postgresql://h/d")
    ] == [
        True,
        True,
        False,
        False,
    ]


# One-line errors from a driver's error.


@needs_mysqldb
@pytest.mark.parametrize(
    ("orig", "told"),
    [
        # A MySQL error number with a hint: the message without the number, then the hint.
        (
            Exception(1045, "Access denied for user 'app'@'h' (using password: YES)"),
            f"Access denied for user 'app'@'h' (using password: YES); {hints.mysql(1045)}",
        ),
        # A number with no hint, a message of several lines: its first line only.
        (
            Exception(1064, "You have an error in your SQL syntax\nnear 'x'"),
            "You have an error in your SQL syntax",
        ),
        # A number alone: the error as text, and the number's hint.
        (Exception(2006), f"2006; {hints.mysql(2006)}"),
        # No number first: the error as text; nothing to hint.
        (Exception("lost", 2006), "('lost', 2006)"),
        # An error with no message: its kind.
        (ValueError("  "), "ValueError"),
    ],
)
def test_a_driver_error_is_one_line_naming_the_masked_url(orig: Exception, told: str) -> None:
    engine = db.make_engine(MYSQL_URL)
    assert db.describe_error(engine, failure(orig)) == f"{MASKED_MYSQL_URL}: {told}"


def test_the_mysql_error_number_is_the_first_argument_if_a_number() -> None:
    assert db.mysql_code(failure(Exception(1213, "Deadlock"))) == 1213
    assert db.mysql_code(failure(Exception("1213", "Deadlock"))) is None
    assert db.mysql_code(failure(Exception())) is None


# Reads and writes on a connection the server dropped, and writes that deadlock.


def test_a_read_on_a_dropped_connection_runs_once_more(sqlite_file: tuple[str, Engine]) -> None:
    _url, engine = sqlite_file
    work, calls = failing([failure(Exception("gone away"), invalidated=True)])
    assert db.read(engine, work) == "done"
    assert len(calls) == 2


def test_a_read_fails_after_a_second_drop_or_any_other_error(
    sqlite_file: tuple[str, Engine],
) -> None:
    url, engine = sqlite_file
    dropped = failure(Exception("gone away"), invalidated=True)
    work, calls = failing([dropped, dropped])
    with pytest.raises(DatabaseError) as err:
        db.read(engine, work)
    assert (str(err.value), len(calls)) == (f"{url}: gone away", 2)
    work, calls = failing([failure(Exception("no such table: post"))])
    with pytest.raises(DatabaseError) as err:
        db.read(engine, work)
    assert (str(err.value), len(calls)) == (
        f"{url}: no such table: post; {hints.sqlite('no such table')}",
        1,
    )


def test_a_write_on_a_dropped_connection_runs_once_more(sqlite_file: tuple[str, Engine]) -> None:
    url, engine = sqlite_file
    work, calls = failing([failure(Exception("gone away"), invalidated=True)])
    assert db.write(engine, work) == "done"
    assert len(calls) == 2
    dropped = failure(Exception("gone away"), invalidated=True)
    work, calls = failing([dropped, dropped])
    with pytest.raises(DatabaseError) as err:
        db.write(engine, work)
    assert (str(err.value), len(calls)) == (f"{url}: gone away", 2)


def test_a_write_that_cannot_connect_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'dir' / 'x.db'}"
    engine = db.make_engine(url, must_exist=False)
    work, calls = failing([])
    with pytest.raises(DatabaseError) as err:
        db.write(engine, work)
    assert (str(err.value), len(calls)) == (
        f"{url}: unable to open database file; {hints.sqlite('unable to open database file')}",
        0,
    )


def test_a_write_whose_commit_failed_is_not_run_again(sqlite_file: tuple[str, Engine]) -> None:
    """The commit may have been applied: running the work again could write it twice."""
    url, engine = sqlite_file
    work, calls = failing([])

    @event.listens_for(engine, "commit")
    def _drop(_conn: Connection) -> None:
        raise failure(Exception("gone away"), invalidated=True)

    with pytest.raises(DatabaseError) as err:
        db.write(engine, work)
    assert (str(err.value), len(calls)) == (f"{url}: gone away", 1)


def test_a_deadlocked_write_runs_again_up_to_six_times(
    sqlite_file: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, engine = sqlite_file
    pauses: list[float] = []
    monkeypatch.setattr(db.time, "sleep", pauses.append)
    deadlock = failure(Exception(db.DEADLOCK, "Deadlock found when trying to get lock"))
    work, calls = failing([deadlock] * 5)
    assert db.write(engine, work) == "done"
    assert len(calls) == 6
    # A short random pause before each new attempt, longer as attempts go on, under 10 ms each.
    assert len(pauses) == 5
    assert all(0 <= pause <= 0.01 * attempt for attempt, pause in enumerate(pauses, 1)), pauses
    work, calls = failing([deadlock] * 6)
    with pytest.raises(DatabaseError) as err:
        db.write(engine, work)
    assert len(calls) == db.WRITE_ATTEMPTS == 6
    assert str(err.value) == (
        f"{url}: Deadlock found when trying to get lock; {hints.mysql(db.DEADLOCK)}"
    )


def test_a_write_commits_and_sqlite_locks_at_begin(sqlite_file: tuple[str, Engine]) -> None:
    _url, engine = sqlite_file
    statements: list[str] = []

    @event.listens_for(engine, "begin")
    def _seen(conn: Connection) -> None:
        statements.append(conn.get_execution_options().get(sqlite.BEGIN_OPTION, "BEGIN"))

    db.write(engine, lambda conn: conn.execute(text("CREATE TABLE t (x INTEGER)")))
    assert db.read(engine, lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar()) == 0
    assert statements[0] == "BEGIN IMMEDIATE"


# One engine per process.


def test_a_process_engine_is_made_once_per_process(sqlite_file: tuple[str, Engine]) -> None:
    url, _engine = sqlite_file
    holder = db.ProcessEngine(url, pool_size=3)
    assert not holder.created
    engine = holder.get()
    assert holder.created and holder.get() is engine
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]  # reads retry instead
    with engine.connect() as conn:  # a pooled connection, closed by dispose
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    holder.dispose()
    assert not holder.created
    assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    again = holder.get()
    assert again is not engine and holder.created
    holder.dispose()


def test_a_forked_process_makes_its_own_engine_and_leaves_the_parents(
    sqlite_file: tuple[str, Engine],
) -> None:
    url, _engine = sqlite_file
    holder, other = db.ProcessEngine(url), db.ProcessEngine(url)
    parent, others = holder.get(), other.get()
    for engine in (parent, others):
        with engine.connect() as conn:  # one pooled connection each
            conn.execute(text("SELECT 1"))
    parent_pool, others_pool = parent.pool, others.pool
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: tell the parent what it found, and leave at once
        try:
            os.close(read_end)
            report = [not holder.created, not other.created]
            child = holder.get()
            report += [child is not parent, holder.get() is child, holder.created]
            other.dispose()  # an inherited engine is not this process's to close
            report += [others.pool is others_pool, others_pool.checkedin() == 1]
            report += [parent.pool is parent_pool, parent_pool.checkedin() == 1]
            os.write(write_end, "".join("1" if ok else "0" for ok in report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        told = pipe.read().decode()
    os.waitpid(pid, 0)
    assert told == "1" * 9
    assert holder.get() is parent and other.get() is others  # the parent's own, unchanged
    holder.dispose()
    other.dispose()


@needs_mysqldb
def test_a_process_engine_passes_its_settings_on() -> None:
    engine = db.ProcessEngine(MYSQL_URL).get()
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]  # reads retry instead
    plain = connect_params(engine)
    assert plain["init_command"] == f"SET SESSION sql_mode='{db.MYSQL_SQL_MODE}'"
    synced = connect_params(db.ProcessEngine(MYSQL_URL, sync_wait=1).get())
    assert synced["init_command"].endswith(", wsrep_sync_wait = 1")
