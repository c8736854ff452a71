"""The test databases on the servers: create one if it is missing, on MariaDB or PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from postctl import postgres


def create_database(url: str) -> None:
    """Create the URL's database, in UTF-8, unless it exists."""
    parsed = make_url(url)
    name = parsed.database or ""
    if postgres.is_postgres(parsed):
        _create_postgres(postgres.use_psycopg(parsed), name)
        return
    server = create_engine(parsed.set(database=""), poolclass=NullPool)
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    server.dispose()


def _create_postgres(parsed: URL, name: str, encoding: str = "UTF8") -> None:
    """Create a PostgreSQL database (it has no CREATE DATABASE IF NOT EXISTS)."""
    server = create_engine(
        parsed.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with server.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if found.first() is None:
            # template0: the only template that takes another encoding than its own.
            conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" ENCODING '{encoding}' TEMPLATE template0 "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
    server.dispose()


def create_postgres_database(url: str, name: str, encoding: str) -> str:
    """Create (if missing) another database on the URL's PostgreSQL server; return its URL."""
    parsed = postgres.use_psycopg(make_url(url))
    _create_postgres(parsed, name, encoding)
    return parsed.set(database=name).render_as_string(hide_password=False)
