"""Every limit at exactly the limit and one past it, expected values from docs/fixtures.md.

The limits come from tests/oracle.py, which writes the documented rules again
without postctl's code: a limit moved in postctl by one breaks these tests.
Each value goes through the real CLI and is checked in the table afterwards.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from postctl import rules
from tests import oracle
from tests.conftest import Run, table_rows, write_csv

LIMIT = oracle.CONTENT_MAX_BYTES
CONTENTS = [
    ("x" * LIMIT, True),
    ("x" * (LIMIT + 1), False),
    ("é" * (LIMIT // 2) + "x", True),  # 65,535 bytes of two-byte characters and one
    ("x" + "é" * (LIMIT // 2), True),
    ("x" * (LIMIT - 1) + "é", False),  # the é's second byte would be byte 65,536
    ("x" * (LIMIT - 3) + "한", True),  # three bytes ending at exactly 65,535
    ("x" * (LIMIT - 2) + "한", False),  # three bytes straddling the limit
    ("x" * (LIMIT - 4) + "🚀", True),  # four bytes ending at the limit
    ("x" * (LIMIT - 3) + "🚀", False),
]
EMAILS = [
    ("a" * (oracle.EMAIL_MAX - 12) + "@example.com", True),
    ("a" * (oracle.EMAIL_MAX - 11) + "@example.com", False),
    ("가" * (oracle.EMAIL_MAX - 12) + "@example.com", True),  # characters, not bytes
    ("가" * (oracle.EMAIL_MAX - 11) + "@example.com", False),
]
IDS = [
    (str(oracle.ID_MAX), True),
    (str(oracle.ID_MAX + 1), False),
    ("1", True),
    ("0", False),
    ("0" * 20 + "7", True),  # leading zeros: still 7
    (" 7", False),
    ("+7", False),
]
WHEN = "2018-10-03 12:30:00"


def test_the_oracle_limits_are_the_documented_ones() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "fixtures.md").read_text(encoding="utf-8")
    assert "at most 65,535 bytes of UTF-8" in doc and oracle.CONTENT_MAX_BYTES == 65535
    assert "at most 100 characters" in doc and oracle.EMAIL_MAX == 100
    assert "from 1 to 2147483647" in doc and oracle.ID_MAX == 2147483647


def load_one(run: Run, tmp_path: Path, id_text: str, content: str, email: str) -> str:
    """Load one record through the CLI; return stderr ('' when it loaded)."""
    path = tmp_path / "posts.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(f"id,content,author_email,created_time\n{id_text},{content},{email},{WHEN}\n")
    result = run("load-fixtures", "--quiet", str(path))
    assert result.exit_code in (0, 1), result.output
    assert (result.exit_code == 0) == (result.stderr == ""), result.output
    return result.stderr


@pytest.mark.parametrize(("content", "ok"), CONTENTS, ids=lambda v: f"{len(str(v))}")
def test_content_at_and_past_the_byte_limit(
    engine: Engine, run: Run, tmp_path: Path, content: str, ok: bool
) -> None:
    assert oracle.content_ok(content) is ok  # the cases mean what they say
    error = load_one(run, tmp_path, "1", content, "a@b.c")
    if ok:
        assert error == ""
        assert table_rows(engine) == [(1, content, "a@b.c", datetime(2018, 10, 3, 12, 30))]
    else:
        assert error == (
            "Error: cannot load fixtures, nothing was loaded:\n"
            f"  {tmp_path / 'posts.csv'}:2: column content: longer than {LIMIT} bytes "
            f"(value {content[:39] + '…'!r})\n"
        )
        assert table_rows(engine) == []


@pytest.mark.parametrize(("email", "ok"), EMAILS, ids=lambda v: f"{len(str(v))}")
def test_email_at_and_past_the_character_limit(
    engine: Engine, run: Run, tmp_path: Path, email: str, ok: bool
) -> None:
    assert oracle.email_ok(email) is ok
    error = load_one(run, tmp_path, "1", "hi", email)
    if ok:
        assert error == ""
        assert table_rows(engine) == [(1, "hi", email, datetime(2018, 10, 3, 12, 30))]
    else:
        assert error == (
            "Error: cannot load fixtures, nothing was loaded:\n"
            f"  {tmp_path / 'posts.csv'}:2: column author_email: longer than "
            f"{oracle.EMAIL_MAX} characters ({len(email)}) (value {email[:39] + '…'!r})\n"
        )
        assert table_rows(engine) == []


@pytest.mark.parametrize(("id_text", "ok"), IDS)
def test_ids_at_and_past_the_backend_maximum(
    engine: Engine, run: Run, tmp_path: Path, id_text: str, ok: bool
) -> None:
    assert oracle.id_ok(id_text) is ok
    error = load_one(run, tmp_path, id_text, "hi", "a@b.c")
    if ok:
        assert error == ""
        assert table_rows(engine) == [(int(id_text), "hi", "a@b.c", datetime(2018, 10, 3, 12, 30))]
        shown = run("show-post", str(int(id_text)), "-f", "csv")
        assert shown.exit_code == 0, shown.output
    else:
        reason = "not a positive integer" if not id_text.isdigit() else "out of range"
        assert f"posts.csv:2: column id: {reason}" in error, error
        assert table_rows(engine) == []


@pytest.mark.parametrize(
    ("post_id", "code"), [(oracle.ID_MAX, 3), (oracle.ID_MAX + 1, 3), (0, 2), (-1, 2)]
)
def test_show_post_past_the_maximum_is_not_found(
    engine: Engine, run: Run, post_id: int, code: int
) -> None:
    result = run("show-post", "--", str(post_id))
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    if code == 3:
        assert result.stderr == f"Error: post {post_id} not found\n"
    else:
        assert "Invalid value for 'ID'" in result.stderr


@pytest.mark.parametrize(("value", "ok"), [*CONTENTS[:2], ("", False)])
def test_check_post_takes_the_same_content_limit(value: str, ok: bool) -> None:
    values = {"content": value, "author_email": "a@b.c"}
    if ok:
        assert rules.check_post(values, WHEN)[1] == value.encode()
    else:
        with pytest.raises(rules.InvalidPost):
            rules.check_post(values, WHEN)


def test_upsert_at_the_maximum_id(engine: Engine, run: Run, tmp_path: Path) -> None:
    top = str(oracle.ID_MAX)
    assert load_one(run, tmp_path, top, "first", "a@b.c") == ""
    path = write_csv(tmp_path, f"id,content,author_email\n{top},second,b@c.d\n", "post.csv")
    result = run("load-fixtures", "--upsert", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [r[:3] for r in table_rows(engine)] == [(oracle.ID_MAX, "second", "b@c.d")]
