"""The reads the commands and the web API share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select

from postctl.errors import NotFoundError
from postctl.rules import ID_MAX
from postctl.schema import metadata, post

# Built once: constructing a select and its cache key costs more per request
# than the query itself takes on a warm server.
_POST_BY_ID = select(post).where(post.c.id == bindparam("post_id"))


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
