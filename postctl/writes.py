"""The writes the HTTP API makes: one post in, one post out, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, delete

from postctl.errors import NotFoundError
from postctl.rules import ID_MAX
from postctl.rules import Row as PostRow
from postctl.schema import post

# Built once, as in queries.py.
_INSERT = post.insert()
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
    new = Post(0, content.decode("utf-8"), author_email, datetime.fromisoformat(created_time))
    values = new._asdict()
    del values["id"]
    (post_id,) = conn.execute(_INSERT, values).inserted_primary_key or (0,)
    return new._replace(id=int(post_id))


def delete_post(conn: Connection, post_id: int) -> None:
    """Delete the post with this id, or raise NotFoundError."""
    if not 1 <= post_id <= ID_MAX or not conn.execute(_DELETE, {"post_id": post_id}).rowcount:
        raise NotFoundError(f"post {post_id} not found")
