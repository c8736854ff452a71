"""Connecting to the database: URLs, engines, transactions and one-line errors.

The CLI and the web app use SQLAlchemy Core rather than the ORM: importing and
configuring the ORM costs more start-up time than a whole `show-post` may take,
and a Core select is what a request needs. The table is in `postctl.schema`,
the queries in `postctl.queries`; a typed ORM model over the same table lives
in `postctl.models` for scripts that want one.
"""

from __future__ import annotations

import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from postctl import hints, postgres, sqlite
from postctl.errors import ConfigError, DatabaseError

# The URL helpers, used by the callers of this module too: re-exported.
from postctl.urls import MASK as MASK
from postctl.urls import check_url as check_url
from postctl.urls import hide_password as hide_password
from postctl.urls import mask_url as mask_url
from postctl.urls import url_problem as url_problem

CONNECT_TIMEOUT = 5  # seconds; also bounds a server that accepts but never answers
MYSQL_SQL_MODE = "TRADITIONAL,NO_ENGINE_SUBSTITUTION"
DEADLOCK = 1213  # InnoDB's deadlock, Galera's certification failure: rolled back whole
WRITE_ATTEMPTS = 6

T = TypeVar("T")


def is_mysql(url: str | URL) -> bool:
    """Tell whether the URL names a MySQL or MariaDB database."""
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def make_engine(
    url: str,
    *,
    must_exist: bool = True,
    pre_ping: bool = True,
    local_infile: bool = False,
    sync_wait: int = 0,
    pool_size: int | None = None,
) -> Engine:
    """Create the process's engine with the settings each backend needs.

    pre_ping=False saves a round trip per checkout for callers that go through
    `read`, which replaces a dropped connection by retrying instead.
    local_infile lets the MySQL client send files for `LOAD DATA LOCAL`; only
    the loading commands ask for it, because with it a server may ask for any
    file the client can read. sync_wait sets MariaDB Galera's wsrep_sync_wait in
    every session (postctl.galera: causal reads). pool_size: a web worker's thread
    count (SQLAlchemy keeps 5; threads past five would connect per request).
    """
    check_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if postgres.is_postgres(parsed):
        parsed, backend = postgres.use_psycopg(parsed), "postgresql"
    kwargs: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
    if backend in ("mysql", "mariadb"):
        kwargs.update(
            pool_pre_ping=pre_ping,
            pool_recycle=3600,
            connect_args={
                "charset": "utf8mb4",
                "connect_timeout": CONNECT_TIMEOUT,
                "init_command": f"SET SESSION sql_mode='{MYSQL_SQL_MODE}'"
                + (f", wsrep_sync_wait = {int(sync_wait)}" if sync_wait else ""),
                "local_infile": int(local_infile),
            },
        )
    elif backend == "postgresql":
        kwargs.update(pool_pre_ping=pre_ping, connect_args=postgres.connect_args(CONNECT_TIMEOUT))
    elif backend == "sqlite":
        sqlite.check_file(parsed, must_exist)
        if "timeout" not in parsed.query:  # the URL's own (?timeout=0: fail at once) wins
            kwargs["connect_args"] = {"timeout": sqlite.BUSY_TIMEOUT}
    try:
        with warnings.catch_warnings():
            # A query parameter the driver ignores is a mistake in the URL, not a warning.
            warnings.simplefilter("error", sa_exc.SAWarning)
            engine = create_engine(parsed, **kwargs)
    except ImportError as err:
        extra = {"mysql": "mysql", "postgresql": "postgres"}.get(backend)
        hint = f"; install it with pip install 'postctl[{extra}]'" if extra else ""
        raise ConfigError(
            f"cannot use {mask_url(parsed)}: its driver is not installed ({err}){hint}"
        ) from None
    except (sa_exc.ArgumentError, sa_exc.SAWarning, TypeError, ValueError) as err:
        reason = str(err).split(" (Background on")[0]
        raise ConfigError(f"cannot use {mask_url(parsed)}: {reason}") from None
    if backend == "sqlite":
        sqlite.own_transactions(engine)
    return engine


class ProcessEngine:
    """One engine per process, made on first use.

    A pool's connections must never be shared across fork(): under uWSGI the
    engine is made in each worker when it serves its first request, and a
    process that finds an engine inherited from its parent makes its own.
    """

    def __init__(self, url: str, sync_wait: int = 0, pool_size: int | None = None) -> None:
        self.url, self.sync_wait, self.pool_size = url, sync_wait, pool_size
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._inherited: list[Engine] = []

    @property
    def created(self) -> bool:
        """Tell whether this process has made its engine yet."""
        return self._engine is not None and self._pid == os.getpid()

    def get(self) -> Engine:
        """Return this process's engine, making it on first use."""
        engine = self._engine
        if engine is not None and self._pid == os.getpid():
            return engine
        with self._lock:  # threads of one worker must not make two engines
            if self._engine is not None and self._pid != os.getpid():
                # Inherited from the parent: keep it referenced but unused. Were its
                # connections garbage collected here, the driver would close them,
                # and with them the parent's sockets.
                self._inherited.append(self._engine)
                self._engine = None
            if self._engine is None:
                # Web reads go through `read`, which retries a dropped connection.
                self._engine = make_engine(
                    self.url, pre_ping=False, sync_wait=self.sync_wait, pool_size=self.pool_size
                )
                self._pid = os.getpid()
            return self._engine

    def dispose(self) -> None:
        """Close this process's pooled connections."""
        if self.created and self._engine is not None:
            self._engine.dispose()
        self._engine = None


def connect(engine: Engine) -> Connection:
    """Open a connection; a failure is a one-line DatabaseError (or ConfigError)."""
    try:
        return engine.connect()
    except sa_exc.DBAPIError as err:
        raise DatabaseError(describe_error(engine, err)) from None
    except (TypeError, ValueError) as err:  # a query parameter the driver does not take
        raise ConfigError(
            f"cannot connect to {mask_url(engine.url)}: the driver refuses its settings ({err})"
        ) from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """Open a connection in a transaction, committed on success, rolled back on error.

    Database errors leave as a one-line `DatabaseError` naming the masked URL.
    """
    conn = connect(engine)
    try:
        with conn, conn.begin():
            yield conn
    except sa_exc.DBAPIError as err:
        raise DatabaseError(describe_error(engine, err)) from None


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run work(conn) in a transaction that writes, committed when it returns.

    On SQLite it locks at BEGIN (IMMEDIATE): SQLite fails a transaction that read
    and then must wait for a writer, but one that locks first waits its turn. A
    pooled connection the server dropped fails before the commit, and the server
    kept nothing: as in `read`, the work runs again on a fresh connection; not
    so a failed commit (it may have been applied). A deadlock or a Galera
    certification failure (1213, at any statement or at COMMIT) rolled the whole
    transaction back: it runs again, up to WRITE_ATTEMPTS times in all. Other
    exceptions roll back.
    """
    with sqlite.one_writer(engine):  # SQLite: this process's writers queue here first
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                conn = engine.connect()  # a failure to connect is not retried: no doubled timeout
            except sa_exc.DBAPIError as err:
                raise DatabaseError(describe_error(engine, err)) from None
            with conn:
                if conn.dialect.name == "sqlite":
                    conn.execution_options(**{sqlite.BEGIN_OPTION: "BEGIN IMMEDIATE"})
                committing = False
                try:
                    trans = conn.begin()
                    result = work(conn)
                    committing = True
                    trans.commit()
                    return result
                except sa_exc.DBAPIError as err:
                    if attempt == 1 and err.connection_invalidated and not committing:
                        continue
                    if mysql_code(err) == DEADLOCK and attempt < WRITE_ATTEMPTS:
                        time.sleep(random.uniform(0, 0.01 * attempt))  # apart from the winner
                        continue
                    raise DatabaseError(describe_error(engine, err)) from None
    raise AssertionError("unreachable")


def read(engine: Engine, query: Callable[[Connection], T]) -> T:
    """Run a read-only query function on a connection that is rolled back, not committed.

    A read is safe to run again, so a connection the server dropped (a restart,
    an idle timeout) costs one retry on a fresh connection, not an error: the
    first failure invalidates every stale connection in the pool. Database
    errors leave as `DatabaseError`, as from `transaction`.
    """
    for attempt in (1, 2):
        conn = connect(engine)  # a failure to connect is not retried: no doubled timeout
        try:
            with conn:
                return query(conn)
        except sa_exc.DBAPIError as err:
            if attempt == 1 and err.connection_invalidated:
                continue
            raise DatabaseError(describe_error(engine, err)) from None
    raise AssertionError("unreachable")


def describe_error(engine: Engine, err: sa_exc.DBAPIError) -> str:
    """Turn a driver error into one actionable line naming the masked URL."""
    orig = err.orig
    if engine.dialect.name == "postgresql":
        return postgres.describe(mask_url(engine.url), orig)
    args: tuple[Any, ...] = getattr(orig, "args", ())
    code = mysql_code(err)
    reason = str(args[1]) if code is not None and len(args) > 1 else str(orig)
    reason = reason.strip().splitlines()[0] if reason.strip() else type(orig).__name__
    hint = hints.mysql(code) if code is not None else hints.sqlite(reason)
    message = f"{mask_url(engine.url)}: {reason}"
    return f"{message}; {hint}" if hint else message


def mysql_code(err: sa_exc.DBAPIError) -> int | None:
    """Return the MySQL error number a driver error carries first, if any."""
    args: tuple[Any, ...] = getattr(err.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
