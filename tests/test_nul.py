"""The NUL rule: stored byte for byte where the backend can (SQLite, MariaDB); on PostgreSQL,
which cannot store NUL in text, a validation problem naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from postctl import rules
from postctl.web import create_app, engine_of
from tests.conftest import Run, table_rows, write_csv
from tests.test_writes_api import bearer, make_token

HEADER = "id,content,author_email,created_time\n"
ROWS = (
    "11,fine,a@b.c,2018-10-03 12:30:00\n"
    '12,"nul \x00 inside, and\na line break",a@b.c,2018-10-03 12:30:00\n'
    "13,also fine,c\x00d@e.f,2018-10-03 12:30:00\n"
)
REFUSED = "contains a NUL character (\\x00), which PostgreSQL cannot store"
NUL_IN_CONTENT = f"column content: {REFUSED}"
NUL_IN_EMAIL = f"column author_email: {REFUSED}"


def test_only_postgresql_refuses_nul() -> None:
    row = (None, b"a\x00b", "c\x00d@e.f", "2018-10-03 12:30:00")
    assert rules.unstorable(row, "sqlite") == []
    assert rules.unstorable(row, "mysql") == []
    assert rules.unstorable(row, "postgresql") == [
        ("content", rules.NUL_REASON),
        ("author_email", rules.NUL_REASON),
    ]
    assert rules.unstorable((None, b"ab", "c@d.e", "2018-10-03 12:30:00"), "postgresql") == []


@pytest.mark.parametrize("mode", [[], ["--upsert"], ["--replace", "--yes"], ["--dry-run"]])
def test_nul_is_stored_or_refused_by_line(
    loaded: Engine, run: Run, tmp_path: Path, mode: list[str]
) -> None:
    before = table_rows(loaded)
    path = write_csv(tmp_path, HEADER + ROWS)
    result = run("load-fixtures", *mode, str(path))
    if loaded.dialect.name == "postgresql":
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            "Error: cannot load fixtures, nothing was loaded:",
            f"  {path}:3: {NUL_IN_CONTENT} (value 'nul \\x00 inside, and\\na line break')",
            f"  {path}:5: {NUL_IN_EMAIL} (value 'c\\x00d@e.f')",
        ]
        assert table_rows(loaded) == before
        return
    assert result.exit_code == 0, result.output
    if "--dry-run" in mode:
        assert table_rows(loaded) == before
        return
    stored = {row[0]: row[1:3] for row in table_rows(loaded)}
    assert stored[12] == ("nul \x00 inside, and\na line break", "a@b.c")
    assert stored[13] == ("also fine", "c\x00d@e.f")
    # And back out byte for byte: the dump holds the file's rows after any others.
    dumped = run("dump-fixtures", str(tmp_path / "dump"))
    assert dumped.exit_code == 0, dumped.output
    assert (tmp_path / "dump" / "posts.csv").read_bytes().endswith(ROWS.encode())


def test_a_post_with_nul_is_stored_or_is_422(engine: Engine, db_url: str) -> None:
    app = create_app(db_url)
    client = app.test_client()
    post = {"content": "nul \x00 inside", "author_email": "c\x00d@e.f"}
    resp = client.post("/post", json=post, headers=bearer(make_token(engine)))
    engine_of(app).dispose()
    if engine.dialect.name != "postgresql":
        assert resp.status_code == 201, resp.data
        assert resp.get_json()["content"] == "nul \x00 inside"
        assert table_rows(engine)[0][1:3] == ("nul \x00 inside", "c\x00d@e.f")
        return
    assert resp.status_code == 422, resp.data
    assert resp.get_json()["error"]["errors"] == [
        {"field": "content", "message": REFUSED},
        {"field": "author_email", "message": REFUSED},
    ]
    assert table_rows(engine) == []
