"""The schema: the post table, and dropping and creating it."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy import exc as sa_exc

from postctl.admin_schema import create_admin_tables, idempotency_key
from postctl.db import describe_error, is_mysql, mask_url, mysql_code
from postctl.errors import DatabaseError
from postctl.rules import EMAIL_MAX

LOCK_WAIT_TIMEOUT = 5  # seconds reset-db waits for another connection's table lock

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
    # Never reuse the id of a deleted post (SQLite would reuse the largest): a
    # Location or a stored Idempotency-Key answer must not come to name another.
    sqlite_autoincrement=True,
)


def reset_db(engine: Engine) -> list[str]:
    """Drop and recreate the data tables; return their names.

    postctl's own tables (postctl.admin_schema) are created when missing and
    otherwise kept: the API tokens and the environment mark survive a reset.
    Only the stored Idempotency-Key answers are deleted, as they name posts.
    """
    try:
        with engine.connect() as conn:
            if is_mysql(engine.url):
                # DROP TABLE waits for other sessions' metadata locks, by default
                # for a day; fail in seconds and name the blocker instead.
                conn.execute(text(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_TIMEOUT}"))
            try:
                metadata.drop_all(conn)
                metadata.create_all(conn)
                create_admin_tables(conn)
                conn.execute(idempotency_key.delete())
                conn.commit()
            except sa_exc.OperationalError as err:
                if is_mysql(engine.url) and mysql_code(err) == 1205:
                    raise DatabaseError(_lock_message(conn, engine)) from None
                raise
    except sa_exc.DBAPIError as err:
        raise DatabaseError(describe_error(engine, err)) from None
    return list(metadata.tables)


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
