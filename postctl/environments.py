"""Which environment a database is (its mark), and when a destructive command must refuse.

The mark is a row of postctl_metadata. A command that would delete posts
(reset-db, load-fixtures --replace or --upsert) refuses when the database
is marked with a protected environment, or with another environment than
the caller believes it is in (POSTCTL_ENV), unless the caller overrides.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, select, update

from postctl.admin_schema import create_admin_tables, has_table, postctl_metadata, utc_now
from postctl.errors import RefusedError

MARK = "environment"  # the postctl_metadata row
OVERRIDE = "pass --allow-protected or set POSTCTL_ALLOW_PROTECTED=1"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
NAME_RULE = "1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit"


def check_name(name: str) -> str:
    """Return the name if it is a valid environment name, else raise ValueError."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment name: {NAME_RULE}")
    return name


def stored(conn: Connection) -> str | None:
    """Return the environment the database is marked with, or None when it has no mark."""
    if not has_table(conn, postctl_metadata):
        return None
    query = select(postctl_metadata.c.value).where(postctl_metadata.c.name == MARK)
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else str(value)


def mark(conn: Connection, name: str, *, protected: frozenset[str], allow: bool) -> str | None:
    """Mark the database as environment `name`; return the previous mark.

    Moving a database out of a protected environment needs the override too:
    otherwise a mark set by mistake would be one command from a wiped database.
    """
    check_name(name)
    previous = stored(conn)
    if previous is not None and previous in protected and name != previous and not allow:
        raise RefusedError(
            f"refusing to change the environment mark, nothing changed: the database is "
            f"marked {previous}, a protected environment; to override, {OVERRIDE}"
        )
    create_admin_tables(conn)
    values = {"value": name, "updated": utc_now()}
    if previous is None:
        conn.execute(postctl_metadata.insert().values(name=MARK, **values))
    else:
        conn.execute(update(postctl_metadata).where(postctl_metadata.c.name == MARK).values(values))
    return previous


def refusal(stored_name: str | None, believed: str | None, protected: frozenset[str]) -> str | None:
    """Say why a destructive command must not run here, or None when it may.

    An unmarked database is not guarded: nothing says what it is.
    """
    if stored_name is None:
        return None
    if stored_name in protected:
        return f"the database is marked {stored_name}, a protected environment"
    if believed and believed != stored_name:
        return f"the database is marked {stored_name} but POSTCTL_ENV is {believed}"
    return None


def guard(
    conn: Connection,
    action: str,
    *,
    believed: str | None,
    protected: frozenset[str],
    allow: bool,
) -> str | None:
    """Raise RefusedError naming the mark and the override, unless `action` may run here.

    Return the reason it would have refused, when `allow` overrides it.
    """
    reason = refusal(stored(conn), believed, protected)
    if reason is not None and not allow:
        raise RefusedError(f"{action}, nothing changed: {reason}; to override, {OVERRIDE}")
    return reason
