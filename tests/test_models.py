from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from postctl import output
from postctl.models import Post


def test_orm_model_reads_what_the_cli_loaded(loaded: Engine) -> None:
    with Session(loaded) as session:
        post = session.get(Post, 1)
        assert post is not None
        assert (post.id, post.content, post.author_email) == (1, "Hello", "me@me.com")
        assert output.post_json(post) == (
            '{"id": 1, "content": "Hello", "author_email": "me@me.com", '
            '"created_time": "2018-10-03T12:30:00"}'
        )


def test_orm_insert_gets_next_id_and_default_time(loaded: Engine) -> None:
    with Session(loaded) as session, session.begin():
        post = Post(content="via ORM", author_email="orm@example.com")
        session.add(post)
        session.flush()
        assert post.id == 6
    with Session(loaded) as session:
        stored = session.get(Post, 6)
        assert stored is not None and stored.created_time is not None
