"""The original application's fixture load: one ORM object per row, every value a string.

    python bench/orm_load.py URL posts.csv

Kept as the baseline bench/load.py measures postctl against; not part of postctl.
"""

from __future__ import annotations

import csv
import sys
from typing import Any

from sqlalchemy import Dialect, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine


class Base(DeclarativeBase):
    pass


class AsGiven(TypeDecorator[str]):
    """Text sent as it is, for the database to convert: no cast to VARCHAR (psycopg adds one)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return NullType()


class Post(Base):
    """The post table as the original model saw it: strings in, the database converts."""

    __tablename__ = "post"

    id: Mapped[str] = mapped_column(AsGiven, primary_key=True)
    content: Mapped[str] = mapped_column(AsGiven)
    author_email: Mapped[str] = mapped_column(AsGiven)
    created_time: Mapped[str] = mapped_column(AsGiven)


def main(url: str, path: str) -> None:
    engine = create_engine(url)
    with open(path, encoding="utf-8-sig", newline="") as file, Session(engine) as session:
        for row in csv.DictReader(file):
            session.add(Post(**row))
        session.commit()
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
