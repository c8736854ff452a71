"""The tables postctl keeps for itself: API tokens, the environment mark, Idempotency-Key answers.

They have a MetaData of their own, apart from the data tables of
`postctl.schema`: `reset-db` drops and recreates the data tables but only
creates these when missing (and empties idempotency_key, whose answers name
posts by id), and `load-fixtures`, `dump-fixtures` and `check` know only the
data tables. Times here are UTC, stored without an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.dialects import mysql

NAME_MAX = 100
KEY_MAX = 255
DIGEST_LENGTH = 64  # SHA-256, hex

admin_metadata = MetaData()
# utf8mb4_bin: a token name or an Idempotency-Key matches exactly, not case-insensitively.
_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

api_token = Table(
    "api_token",
    admin_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    # The token's first characters: enough to tell tokens apart in a list and to
    # find a candidate row, far too few to guess the rest from.
    Column("prefix", String(16), nullable=False, index=True),
    Column("digest", String(DIGEST_LENGTH), nullable=False, unique=True),
    Column("created", DateTime, nullable=False),
    Column("expires", DateTime, nullable=True),  # NULL: never (asked for with --expires never)
    Column("last_used", DateTime, nullable=True),
    Column("revoked", DateTime, nullable=True),
    **_MYSQL,
)

postctl_metadata = Table(
    "postctl_metadata",
    admin_metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("updated", DateTime, nullable=False),
    **_MYSQL,
)

idempotency_key = Table(
    "idempotency_key",
    admin_metadata,
    Column("token_id", Integer, nullable=False),
    Column("idem_key", String(KEY_MAX), nullable=False),
    Column("fingerprint", String(DIGEST_LENGTH), nullable=False),  # of the request body
    Column("created", DateTime, nullable=False),
    Column("status", Integer, nullable=True),  # NULL while the first request runs
    Column("location", String(255), nullable=True),
    # A post's JSON can outgrow TEXT's 64 KiB once escaped.
    Column("body", Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=True),
    PrimaryKeyConstraint("token_id", "idem_key"),
    Index("ix_idempotency_key_created", "created"),
    **_MYSQL,
)


def create_admin_tables(conn: Connection) -> list[str]:
    """Create whichever of these tables are missing; return the names of those created."""
    existing = set(inspect(conn).get_table_names())
    missing = [t for t in admin_metadata.sorted_tables if t.name not in existing]
    for table in missing:
        table.create(conn)
    return [t.name for t in missing]


def has_table(conn: Connection, table: Table) -> bool:
    """Tell whether the table exists (a database made by an older postctl lacks these)."""
    return bool(inspect(conn).has_table(table.name))


def utc_now() -> datetime:
    """Return the time as these tables store it: UTC, to the second, without an offset."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)
