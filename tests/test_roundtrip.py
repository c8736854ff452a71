"""Dump, reset, load, dump again: the same bytes, whatever the content (property-based).

Whatever the content the backend can store: on PostgreSQL, any but NUL.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from postctl import db, output, rules, schema
from postctl.fixtures.dump import dump
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from tests.conftest import table_rows
from tests.hostile import examples

# Printable characters other than "@": an email's local part and domain.
EMAIL_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="@"
)
TRICKY = [
    ",",
    '"',
    "'",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\\",
    "\\N",
    "\x00",
    " ",
    "\ufeff",
    "한국어",
    "🚀",
]
# LOAD DATA's escape character and its NULL marker, among plain ASCII: what a
# feed that forgot to escape would store as other characters or as NULL.
ESCAPES = ["\\", "\\N", "\\t", "\\0", "\t", "\x00", "N", "a", "\n", "\\\\"]
CONTENT = st.one_of(
    st.lists(
        st.one_of(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
            st.sampled_from(TRICKY),
        ),
        min_size=1,
    )
    .map("".join)
    .filter(bool),
    st.lists(st.sampled_from(ESCAPES), min_size=1, max_size=12).map("".join),
)
# ASCII addresses with backslashes, "N" after them, and NUL: no whitespace (the rule).
ASCII_EMAIL_PART = st.lists(
    st.sampled_from(["\\", "\\N", "N", "a", ".", "\x00", "\\0", "_"]), min_size=1, max_size=6
).map("".join)


@st.composite
def emails(draw: st.DrawFn) -> str:
    """An address of local@domain form, up to the 100-character limit (often at it)."""
    length = draw(st.one_of(st.just(100), st.integers(3, 100)))
    local = draw(st.integers(1, length - 2))
    text = draw(st.text(EMAIL_CHARS, min_size=length - 1, max_size=length - 1))
    return f"{text[:local]}@{text[local:]}"


POSTS = st.lists(
    st.builds(
        SimpleNamespace,
        id=st.integers(1, rules.ID_MAX),
        content=CONTENT,
        author_email=st.one_of(
            emails(), st.tuples(ASCII_EMAIL_PART, ASCII_EMAIL_PART).map("@".join)
        ),
        created_time=st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 31, 23, 59, 59)).map(
            lambda d: d.replace(microsecond=0)
        ),
    ),
    max_size=6,
    unique_by=lambda p: p.id,
).map(lambda posts: sorted(posts, key=lambda p: p.id))


def without_nul(post: Any) -> Any:
    """The post with every NUL an SOH: PostgreSQL cannot store NUL, and refuses it (test_nul.py)."""
    return SimpleNamespace(
        id=post.id,
        content=post.content.replace("\x00", "\x01"),
        author_email=post.author_email.replace("\x00", "\x01"),
        created_time=post.created_time,
    )


POSTS_WITHOUT_NUL = POSTS.map(lambda posts: [without_nul(p) for p in posts])


@pytest.fixture
def loader(db_url: str) -> Iterator[Engine]:
    """An engine as the load commands make it: LOAD DATA LOCAL allowed on MariaDB."""
    eng = db.make_engine(db_url, must_exist=False, local_infile=True)
    yield eng
    eng.dispose()


def reset_and_load(engine: Engine, directory: Path) -> None:
    schema.reset_db(engine)
    with db.transaction(engine) as conn:
        load_fixtures(conn, find_files([directory]))


def dump_bytes(engine: Engine, directory: Path) -> bytes:
    with db.transaction(engine) as conn:
        dump(conn, directory)
    return (directory / "posts.csv").read_bytes()


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_dump_reset_load_dump_is_byte_identical(loader: Engine, data: st.DataObject) -> None:
    posts = data.draw(POSTS_WITHOUT_NUL if loader.dialect.name == "postgresql" else POSTS)
    with tempfile.TemporaryDirectory() as tmp:
        first, second, third = (Path(tmp) / name for name in ("first", "second", "third"))
        first.mkdir()
        with open(first / "posts.csv", "w", encoding="utf-8", newline="") as out:
            output.write_rows(posts, out)
        reset_and_load(loader, first)
        assert table_rows(loader) == [
            (p.id, p.content, p.author_email, p.created_time) for p in posts
        ]
        dumped = dump_bytes(loader, second)
        assert dumped == (first / "posts.csv").read_bytes()
        reset_and_load(loader, second)
        assert dump_bytes(loader, third) == dumped
