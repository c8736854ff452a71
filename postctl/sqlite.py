"""What SQLite needs of the database layer: its file, its transactions, one writer at a time.

db.py calls these for a sqlite:// engine; nothing else imports sqlite3.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from postctl import hints
from postctl.errors import DatabaseError
from postctl.urls import mask_url

# Seconds SQLite waits for another connection's lock before "database is locked":
# concurrent writers queue instead of failing, within uWSGI's harakiri.
BUSY_TIMEOUT = 20
BEGIN_OPTION = "postctl_sqlite_begin"  # execution option: the statement that begins

_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def own_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions; give the engine a writers' lock.

    The sqlite3 module starts a transaction only before DML, so a SAVEPOINT
    issued first would start (and its release commit) the whole transaction.
    This is the recipe from SQLAlchemy's SQLite dialect documentation.
    """
    _writers[engine] = threading.RLock()

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Straight to the driver: SQLAlchemy's execution path costs as much as a query.
        statement = conn.get_execution_options().get(BEGIN_OPTION, "BEGIN")
        try:
            conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as err:  # wrapped as SQLAlchemy would: callers catch DBAPIError
            raise sa_exc.DBAPIError.instance(statement, None, err, sqlite3.Error) from None


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """Let one thread of this process write at a time; others wait their turn here.

    SQLite's own busy handler polls with growing sleeps, so 16 threads waiting
    on its lock wake late and out of turn; a thread lock hands over at once,
    and SQLite's wait is left to the other processes. A thread waits here no
    longer than SQLite would: the URL's ?timeout=, else BUSY_TIMEOUT.
    """
    lock = _writers.get(engine)
    if lock is None:
        yield
        return
    if not lock.acquire(timeout=_busy_timeout(engine.url)):
        reason = "database is locked"
        raise DatabaseError(f"{mask_url(engine.url)}: {reason}; {hints.sqlite(reason)}")
    try:
        yield
    finally:
        lock.release()


def _busy_timeout(url: URL) -> float:
    """Return how long a writer waits for the lock: the URL's ?timeout=, else BUSY_TIMEOUT."""
    try:
        return max(0.0, float(url.query.get("timeout", BUSY_TIMEOUT)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return BUSY_TIMEOUT


def file_missing(url: str | URL) -> bool:
    """Tell whether the URL names a SQLite file on disk that does not exist (yet)."""
    parsed = make_url(url)
    path = str(parsed.database or "")
    on_disk = path not in ("", ":memory:") and not path.startswith("file:")
    return parsed.get_backend_name() == "sqlite" and on_disk and not os.path.exists(path)


def check_file(url: URL, must_exist: bool) -> None:
    """Refuse to let a read silently create an empty SQLite file."""
    if must_exist and file_missing(url):
        raise DatabaseError(
            f"{mask_url(url)}: database file {url.database} does not exist; "
            "run `postctl reset-db` first to create it"
        )
