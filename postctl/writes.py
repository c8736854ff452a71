"""The writes the HTTP API makes: one post in, one post out, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, TextClause, bindparam, delete, text

from postctl.errors import NotFoundError
from postctl.rules import ID_MAX
from postctl.rules import Row as PostRow
from postctl.schema import post

# Built once, as in queries.py. Plain SQL with the checked values as text: the
# Core insert's type processing costs a fifth of a request's CPU. SQLite keeps
# a DATETIME as SQLAlchemy writes it, with microseconds (as write_sqlite does).
_COLUMNS = "INSERT INTO post (content, author_email, created_time) VALUES (:content, :email, "
_INSERT: dict[str, TextClause] = {
    "sqlite": text(_COLUMNS + ":created_time || '.000000')"),
    # psycopg has no lastrowid: the id comes back with RETURNING.
    "postgresql": text(_COLUMNS + "CAST(:created_time AS TIMESTAMP)) RETURNING id"),
    "other": text(_COLUMNS + ":created_time)"),
}
_DELETE = delete(post).where(post.c.id == bindparam("post_id"))


class Post(NamedTuple):
    """A post as stored, with the attributes output.post_dict reads."""

    id: int
    content: str
    author_email: str
    created_time: datetime


def insert_post(conn: Connection, row: PostRow) -> Post:
    """Insert a post checked by rules.check_post (its id is ignored); return it as stored.

    The values go in as they are (strict SQL mode: nothing is cut or changed),
    so only the id needs to come back: no RETURNING, no read, one round trip.
    """
    _, content, author_email, created_time = row
    text_content = content.decode("utf-8")
    insert = _INSERT.get(conn.dialect.name, _INSERT["other"])
    values = {"content": text_content, "email": author_email, "created_time": created_time}
    result = conn.execute(insert, values)
    post_id = result.scalar_one() if conn.dialect.name == "postgresql" else result.lastrowid
    return Post(int(post_id), text_content, author_email, datetime.fromisoformat(created_time))


def delete_post(conn: Connection, post_id: int) -> None:
    """Delete the post with this id, or raise NotFoundError."""
    if not 1 <= post_id <= ID_MAX or not conn.execute(_DELETE, {"post_id": post_id}).rowcount:
        raise NotFoundError(f"post {post_id} not found")
