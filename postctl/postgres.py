"""What PostgreSQL needs of the connecting layer: the driver, connect settings, errors, locks.

postctl talks to PostgreSQL through psycopg 3 only (the `postgres` extra): its
COPY support is what the fixture loader uses. A plain `postgresql://` (or
`postgres://`) URL means psycopg 3 here, whatever SQLAlchemy's default driver
is; a URL naming another driver is refused with the fix, never half-supported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from postctl import hints
from postctl.errors import ConfigError

DRIVER = "psycopg"
SCHEME = f"postgresql+{DRIVER}"
INSTALL = "pip install 'postctl[postgres]'"
_PLAIN = ("postgresql", "postgres")


def is_postgres(url: URL) -> bool:
    """Tell whether the URL names a PostgreSQL database, with whatever driver."""
    return url.get_backend_name() in _PLAIN


def use_psycopg(url: URL) -> URL:
    """Return the URL with psycopg 3 as its driver; refuse any other driver, naming the fix."""
    if url.drivername in _PLAIN:
        return url.set(drivername=SCHEME)
    if url.drivername != SCHEME:
        masked = url.render_as_string(hide_password=True)
        raise ConfigError(
            f"cannot use {masked}: postctl talks to PostgreSQL through psycopg 3 only; "
            f"write the URL as {SCHEME}://... (or postgresql://...) and {INSTALL}"
        )
    return url


def connect_args(timeout: int) -> dict[str, Any]:
    """Return the libpq settings for every connection."""
    # libpq's connect_timeout also bounds a server that accepts but never answers;
    # application_name lets reset-db's lock message tell postctl's sessions apart.
    return {"connect_timeout": timeout, "client_encoding": "utf8", "application_name": "postctl"}


def sqlstate(orig: object) -> str | None:
    """Return the SQLSTATE a psycopg error carries, if any."""
    code = getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def describe(masked_url: str, orig: object) -> str:
    """Describe a psycopg error in one line naming the (masked) URL, with a hint."""
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    code = sqlstate(orig)
    if code is None:
        # "connection failed: connection to server at "h", port p failed: FATAL:  why":
        # the URL already names the host and port.
        reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    hint = hints.postgres(code, reason)
    return f"{masked_url}: {reason}" + (f"; {hint}" if hint else "")


LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"

_HOLDERS = text(
    "SELECT DISTINCT a.pid, a.usename, a.client_addr, a.application_name, a.state, "
    "EXTRACT(EPOCH FROM now() - COALESCE(a.xact_start, a.state_change))::int AS seconds "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.granted AND l.pid <> pg_backend_pid() "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.relation IN (SELECT c.oid FROM pg_class c WHERE c.relname = ANY(:tables) "
    "AND c.relnamespace = to_regnamespace(current_schema())) "
    "ORDER BY seconds DESC"
)


def lock_holders(conn: Connection, tables: list[str]) -> list[str]:
    """Describe the other sessions holding a lock on any of these tables, longest-held first."""
    rows = conn.execute(_HOLDERS, {"tables": tables}).all()
    return [
        f"session {r.pid} ({r.usename}@{r.client_addr or 'local'}"
        f"{', ' + r.application_name if r.application_name else ''}, "
        f"{r.state} for {r.seconds}s; SELECT pg_terminate_backend({r.pid}) ends it)"
        for r in rows
    ]
