"""The SQLAlchemy layer: engine, schema, queries and reset.

The CLI and the web app use SQLAlchemy Core here rather than the ORM: importing
and configuring the ORM costs more start-up time than a whole `show-post` may
take, and a Core select is what a request needs. A typed ORM model over the same
table lives in `postctl.models` for scripts that want one.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from postctl.errors import DatabaseError, NotFoundError

CONNECT_TIMEOUT = 5  # seconds; also bounds a server that accepts but never answers
LOCK_WAIT_TIMEOUT = 5  # seconds reset-db waits for another connection's table lock
MYSQL_SQL_MODE = "TRADITIONAL,NO_ENGINE_SUBSTITUTION"
EMAIL_MAX = 100
ID_MAX = 2**31 - 1  # MySQL signed INT, the id column's type

T = TypeVar("T")

metadata = MetaData()

post = Table(
    "post",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content", Text, nullable=False),
    Column("author_email", String(EMAIL_MAX), nullable=False),
    Column("created_time", DateTime, nullable=False, server_default=func.now()),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)

# Built once: constructing a select and its cache key costs more per request
# than the query itself takes on a warm server.
_POST_BY_ID = select(post).where(post.c.id == bindparam("post_id"))

# MySQL error numbers worth a specific hint.
_MYSQL_HINTS = {
    1044: "check that the user may use this database",
    1045: "check the user name and password",
    1049: "create the database first (CREATE DATABASE ... CHARACTER SET utf8mb4)",
    1146: "run `postctl reset-db` first to create the schema",
    2002: "check that the server is running and the host and port are right",
    2003: "check that the server is running and the host and port are right",
    2005: "check the host name",
    2006: "the server went away; check that it is running",
    2013: "the server did not answer in time; check that it is running and reachable",
}


def mask_url(url: str | URL) -> str:
    """Return the URL as text with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def check_url(url: str) -> None:
    """Raise DatabaseError unless the URL parses; connect to nothing."""
    try:
        make_url(url)
    except sa_exc.ArgumentError as err:
        raise DatabaseError(f"invalid database URL: {err}") from None


def url_password(url: str) -> str | None:
    """Return the URL's password, if it has one and parses."""
    try:
        password = make_url(url).password
    except sa_exc.ArgumentError:
        return None
    return str(password) if password else None


def is_mysql(url: str | URL) -> bool:
    """Tell whether the URL names a MySQL or MariaDB database."""
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def make_engine(
    url: str, *, must_exist: bool = True, pre_ping: bool = True, local_infile: bool = False
) -> Engine:
    """Create the process's engine with the settings each backend needs.

    pre_ping=False saves a round trip per checkout for callers that go through
    `read`, which replaces a dropped connection by retrying instead.
    local_infile lets the MySQL client send files for `LOAD DATA LOCAL`; only
    the loading commands ask for it, because with it a server may ask for any
    file the client can read.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as err:
        raise DatabaseError(f"invalid database URL: {err}") from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend in ("mysql", "mariadb"):
        kwargs.update(
            pool_pre_ping=pre_ping,
            pool_recycle=3600,
            connect_args={
                "charset": "utf8mb4",
                "connect_timeout": CONNECT_TIMEOUT,
                "init_command": f"SET SESSION sql_mode='{MYSQL_SQL_MODE}'",
                "local_infile": int(local_infile),
            },
        )
    elif backend == "sqlite":
        _check_sqlite_file(parsed, must_exist)
    try:
        engine = create_engine(parsed, **kwargs)
    except ImportError as err:
        hint = "; install it with pip install 'postctl[mysql]'" if backend == "mysql" else ""
        raise DatabaseError(
            f"cannot use {mask_url(parsed)}: its driver is not installed ({err}){hint}"
        ) from None
    except sa_exc.ArgumentError as err:
        raise DatabaseError(f"cannot use {mask_url(parsed)}: {err}") from None
    if backend == "sqlite":
        _own_sqlite_transactions(engine)
    return engine


def _own_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions.

    The sqlite3 module starts a transaction only before DML, so a SAVEPOINT
    issued first would start (and its release commit) the whole transaction.
    This is the recipe from SQLAlchemy's SQLite dialect documentation.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _check_sqlite_file(url: URL, must_exist: bool) -> None:
    """Refuse to let a read silently create an empty SQLite file."""
    path = url.database
    on_disk = bool(path) and path != ":memory:" and not str(path).startswith("file:")
    if must_exist and on_disk and not os.path.exists(str(path)):
        raise DatabaseError(
            f"{mask_url(url)}: database file {path} does not exist; "
            "run `postctl reset-db` first to create it"
        )


class ProcessEngine:
    """One engine per process, made on first use.

    A pool's connections must never be shared across fork(): under uWSGI the
    engine is made in each worker when it serves its first request, and a
    process that finds an engine inherited from its parent makes its own.
    """

    def __init__(self, url: str) -> None:
        self.url = url
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
                self._engine = make_engine(self.url, pre_ping=False)
                self._pid = os.getpid()
            return self._engine

    def dispose(self) -> None:
        """Close this process's pooled connections."""
        if self.created and self._engine is not None:
            self._engine.dispose()
        self._engine = None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """Open a connection in a transaction, committed on success, rolled back on error.

    Database errors leave as `DatabaseError` with a one-line message that names
    the masked URL and what to do.
    """
    try:
        with engine.begin() as conn:
            yield conn
    except sa_exc.DBAPIError as err:
        raise DatabaseError(describe_error(engine, err)) from None


def read(engine: Engine, query: Callable[[Connection], T]) -> T:
    """Run a read-only query function on a connection that is rolled back, not committed.

    A read is safe to run again, so a connection the server dropped (a restart,
    an idle timeout) costs one retry on a fresh connection, not an error: the
    first failure invalidates every stale connection in the pool. Database
    errors leave as `DatabaseError`, as from `transaction`.
    """
    for attempt in (1, 2):
        try:
            conn = engine.connect()  # a failure to connect is not retried: no doubled timeout
        except sa_exc.DBAPIError as err:
            raise DatabaseError(describe_error(engine, err)) from None
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
    args: tuple[Any, ...] = getattr(orig, "args", ())
    code = _mysql_code(err)
    reason = str(args[1]) if code is not None and len(args) > 1 else str(orig)
    reason = reason.strip().splitlines()[0] if reason.strip() else type(orig).__name__
    hint = _MYSQL_HINTS.get(code) if code is not None else _sqlite_hint(reason)
    message = f"{mask_url(engine.url)}: {reason}"
    return f"{message}; {hint}" if hint else message


def _sqlite_hint(reason: str) -> str | None:
    if reason.startswith("no such table"):
        return "run `postctl reset-db` first to create the schema"
    if "unable to open database file" in reason:
        return "check that the directory exists and is writable"
    if "database is locked" in reason:
        return "another process is writing to it; try again when it is done"
    return None


def get_post(conn: Connection, post_id: int) -> Row[Any]:
    """Return the post with this id, or raise NotFoundError."""
    if not 1 <= post_id <= ID_MAX:
        raise NotFoundError(f"post {post_id} not found")
    row = conn.execute(_POST_BY_ID, {"post_id": post_id}).first()
    if row is None:
        raise NotFoundError(f"post {post_id} not found")
    return row


def ping(conn: Connection) -> None:
    """Check that the database answers and holds the post table."""
    conn.execute(select(post.c.id).limit(1)).all()


def stream_rows(conn: Connection, table_name: str, chunk: int = 10_000) -> Iterator[Row[Any]]:
    """Yield every row of a table ordered by id, fetched in chunks, never all at once."""
    table = metadata.tables[table_name]
    streaming = conn.execution_options(stream_results=True, yield_per=chunk)
    yield from streaming.execute(select(table).order_by(table.c.id))


def count_rows(conn: Connection) -> int:
    """Return how many posts there are."""
    return int(conn.execute(select(func.count()).select_from(post)).scalar_one())


def reset_db(engine: Engine) -> list[str]:
    """Drop and recreate every table; return the names of the tables created."""
    try:
        with engine.connect() as conn:
            if is_mysql(engine.url):
                # DROP TABLE waits for other sessions' metadata locks, by default
                # for a day; fail in seconds and name the blocker instead.
                conn.execute(text(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_TIMEOUT}"))
            try:
                metadata.drop_all(conn)
                metadata.create_all(conn)
                conn.commit()
            except sa_exc.OperationalError as err:
                if is_mysql(engine.url) and _mysql_code(err) == 1205:
                    raise DatabaseError(_lock_message(conn, engine)) from None
                raise
    except sa_exc.DBAPIError as err:
        raise DatabaseError(describe_error(engine, err)) from None
    return list(metadata.tables)


def _mysql_code(err: sa_exc.DBAPIError) -> int | None:
    """Return the MySQL error number a driver error carries first, if any."""
    args: tuple[Any, ...] = getattr(err.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _lock_message(conn: Connection, engine: Engine) -> str:
    """Describe which other connections may hold the lock reset-db waited for."""
    conn.rollback()
    rows = conn.execute(
        text(
            "SELECT id, user, host, command, time FROM information_schema.processlist "
            "WHERE id <> CONNECTION_ID() AND db = DATABASE() ORDER BY time DESC"
        )
    ).all()
    who = ", ".join(
        f"connection {r.id} ({r.user}@{r.host}, {r.command} for {r.time}s)" for r in rows
    )
    return (
        f"{mask_url(engine.url)}: gave up after {LOCK_WAIT_TIMEOUT}s waiting for a lock on "
        f"the tables; another session holds them open (an unfinished transaction?): "
        f"{who or 'unknown'}. Finish or kill it and try again"
    )


def now() -> datetime:
    """Return the current time to the second, as DATETIME columns store it."""
    return datetime.now().replace(microsecond=0)


def list_posts(
    conn: Connection,
    *,
    limit: int,
    offset: int = 0,
    author: str | None = None,
    since: datetime | None = None,
) -> list[Row[Any]]:
    """Return posts newest first, optionally by one author or from a time on."""
    query = select(post).order_by(post.c.created_time.desc(), post.c.id.desc())
    if author is not None:
        query = query.where(post.c.author_email == author)
    if since is not None:
        query = query.where(post.c.created_time >= since)
    return list(conn.execute(query.limit(limit).offset(offset)).all())


@dataclass
class CheckReport:
    """What `check` found: problems to fix, facts that are fine, and row counts."""

    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def check(conn: Connection) -> CheckReport:
    """Compare the live schema with the model and, on MySQL, the connection settings."""
    report = CheckReport()
    existing = set(inspect(conn).get_table_names())
    for table in metadata.tables.values():
        if table.name not in existing:
            report.problems.append(
                f"table {table.name} is missing; run `postctl reset-db` to create it"
            )
            continue
        _check_columns(conn, table, report)
        report.counts[table.name] = int(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
        )
    if conn.dialect.name in ("mysql", "mariadb"):
        _check_mysql(conn, existing, report)
    return report


def _type_text(conn: Connection, type_: Any) -> str:
    """Render a column type comparably: MySQL's INT display width means nothing."""
    rendered = str(type_.compile(dialect=conn.dialect)).split(" ")[0].upper()
    return re.sub(r"^(INT|INTEGER)(\(\d+\))?$", "INTEGER", rendered)


def _check_columns(conn: Connection, table: Table, report: CheckReport) -> None:
    live = {c["name"]: c for c in inspect(conn).get_columns(table.name)}
    fix = "run `postctl reset-db` to recreate the table (this deletes its rows)"
    for column in table.columns:
        found = live.pop(column.name, None)
        if found is None:
            report.problems.append(f"{table.name}.{column.name} is missing; {fix}")
            continue
        want, have = _type_text(conn, column.type), _type_text(conn, found["type"])
        if want != have:
            report.problems.append(f"{table.name}.{column.name} is {have}, expected {want}; {fix}")
        # SQLite reports an INTEGER PRIMARY KEY as nullable; no key can be NULL anyway.
        if not column.primary_key and bool(found["nullable"]) != bool(column.nullable):
            expected = "NULL" if column.nullable else "NOT NULL"
            report.problems.append(f"{table.name}.{column.name} should be {expected}; {fix}")
    for extra in live:
        report.problems.append(f"{table.name}.{extra} is not in the model; {fix}")
    if not any(p.startswith(f"{table.name}.") for p in report.problems):
        report.facts.append(f"table {table.name} matches the model")


def _check_mysql(conn: Connection, existing: set[str], report: CheckReport) -> None:
    sql_mode = str(conn.execute(text("SELECT @@SESSION.sql_mode")).scalar_one())
    if "STRICT_ALL_TABLES" in sql_mode or "STRICT_TRANS_TABLES" in sql_mode:
        report.facts.append("strict SQL mode is on")
    else:
        report.problems.append(f"strict SQL mode is off ({sql_mode or 'empty'})")
    charset = str(conn.execute(text("SELECT @@character_set_client")).scalar_one())
    if charset == "utf8mb4":
        report.facts.append("the connection uses utf8mb4")
    else:
        report.problems.append(f"the connection uses {charset}, not utf8mb4")
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, character_set_name "
            "FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND character_set_name IS NOT NULL"
        )
    ).all()
    for table_name, column_name, column_charset in rows:
        if table_name in existing and table_name in metadata.tables and column_charset != "utf8mb4":
            report.problems.append(
                f"{table_name}.{column_name} uses {column_charset}, not utf8mb4 "
                f"(Korean and emoji would fail); ALTER TABLE {table_name} CONVERT TO "
                "CHARACTER SET utf8mb4, or run `postctl reset-db`"
            )
