"""A typed ORM model over postctl's `post` table, for scripts that want the ORM.

postctl's own commands use the Core table in `postctl.schema` (the ORM costs more
start-up time than a command may take); this maps the very same Table object,
so the two can never disagree about the schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import DeclarativeBase, Mapped

from postctl import schema


class Base(DeclarativeBase):
    metadata = schema.metadata


class Post(Base):
    """One post."""

    __table__ = schema.post

    id: Mapped[int]
    content: Mapped[str]
    author_email: Mapped[str]
    created_time: Mapped[datetime]
