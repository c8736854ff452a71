"""The writes the HTTP API makes: one post in, one post out, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete

from postctl.errors import NotFoundError
from postctl.rules import ID_MAX
from postctl.rules import Row as PostRow
from postctl.schema import post

# Built once, as in queries.py. RETURNING gives back the row as stored, in the
# same round trip (SQLite 3.35+, MariaDB 10.5+).
_INSERT = post.insert().returning(*post.c)
_DELETE = delete(post).where(post.c.id == bindparam("post_id"))


def insert_post(conn: Connection, row: PostRow) -> Row[Any]:
    """Insert a post checked by rules.check_post (its id is ignored); return it as stored."""
    _, content, author_email, created_time = row
    values = {
        "content": content.decode("utf-8"),
        "author_email": author_email,
        "created_time": datetime.fromisoformat(created_time),
    }
    return conn.execute(_INSERT, values).one()


def delete_post(conn: Connection, post_id: int) -> None:
    """Delete the post with this id, or raise NotFoundError."""
    if not 1 <= post_id <= ID_MAX or not conn.execute(_DELETE, {"post_id": post_id}).rowcount:
        raise NotFoundError(f"post {post_id} not found")
