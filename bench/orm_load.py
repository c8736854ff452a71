"""The original application's fixture load: one ORM object per row, every value a string.

    python bench/orm_load.py URL posts.csv

Kept as the baseline bench/load.py measures postctl against; not part of postctl.
"""

from __future__ import annotations

import csv
import sys

from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Post(Base):
    """The post table as the original model saw it: strings in, the database converts."""

    __tablename__ = "post"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    content: Mapped[str] = mapped_column(String)
    author_email: Mapped[str] = mapped_column(String)
    created_time: Mapped[str] = mapped_column(String)


def main(url: str, path: str) -> None:
    engine = create_engine(url)
    with open(path, encoding="utf-8-sig", newline="") as file, Session(engine) as session:
        for row in csv.DictReader(file):
            session.add(Post(**row))
        session.commit()
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
