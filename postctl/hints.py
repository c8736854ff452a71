"""What to do about a driver's error, by backend: the hint after a one-line error message.

Pure tables and lookups, importing nothing of postctl: db.py and postgres.py use them.
"""

from __future__ import annotations

# MySQL error numbers worth a specific hint.
_MYSQL = {
    1044: "check that the user may use this database",
    1045: "check the user name and password",
    1049: "create the database first (CREATE DATABASE ... CHARACTER SET utf8mb4)",
    1047: "this Galera node is not in the cluster's primary component or not ready; use "
    "another node, or wait until `postctl check` reports it Synced",
    1146: "run `postctl reset-db` first to create the schema",
    1213: "a deadlock, or a write that lost to another Galera node's (certification "
    "failure); nothing was written, run it again",
    2002: "check that the server is running and the host and port are right",
    2003: "check that the server is running and the host and port are right",
    2005: "check the host name",
    2006: "the server went away; check that it is running",
    2013: "the server did not answer in time; check that it is running and reachable",
}

# PostgreSQL SQLSTATEs worth a specific hint.
_POSTGRES = {
    "3D000": "create the database first (CREATE DATABASE ... ENCODING 'UTF8')",
    "42P01": "run `postctl reset-db` first to create the schema",
    "42501": "check that the user may use this database and its tables",
    "28P01": "check the user name and password",
    "28000": "check the user name, the password and the server's pg_hba.conf",
}
# A PostgreSQL connection that fails has no SQLSTATE: its message tells what went wrong.
_POSTGRES_CONNECT = (
    ("timeout expired", "the server did not answer in time; check that it runs and is reachable"),
    ("Connection refused", "check that the server is running and the host and port are right"),
    ('database "', "create the database first (CREATE DATABASE ... ENCODING 'UTF8')"),
    ('role "', "check the user name"),
    ("password authentication failed", "check the user name and password"),
    ("no password supplied", "put the password in the URL"),
    ("could not translate host name", "check the host name"),
)


def mysql(code: int) -> str | None:
    """Return the hint for a MySQL error number, if there is one."""
    return _MYSQL.get(code)


def sqlite(reason: str) -> str | None:
    """Return the hint for a SQLite error, by its message."""
    if reason.startswith("no such table"):
        return "run `postctl reset-db` first to create the schema"
    if "unable to open database file" in reason:
        return "check that the directory exists and is writable"
    if "database is locked" in reason:
        return "another process is writing to it; try again when it is done"
    return None


def postgres(sqlstate: str | None, reason: str) -> str | None:
    """Return the hint for a PostgreSQL error, by its SQLSTATE or, without one, its message."""
    if sqlstate is not None:
        return _POSTGRES.get(sqlstate)
    return next((hint for needle, hint in _POSTGRES_CONNECT if needle in reason), None)
