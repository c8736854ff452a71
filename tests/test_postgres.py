"""PostgreSQL: the URL forms, the connect timeout, and what only PostgreSQL's server shows.

The rest of the suite runs on PostgreSQL too, when POSTCTL_TEST_DATABASE_URL
names a postgresql+psycopg:// database; these tests check what differs.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, event, make_url, text

from postctl import db, schema
from postctl.errors import DatabaseError, FixtureError
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from postctl.web import create_app, engine_of
from tests.conftest import Run, table_rows, write_csv
from tests.databases import create_postgres_database

HEADER = "id,content,author_email,created_time\n"
FIX = "write the URL as postgresql+psycopg://... (or postgresql://...)"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_plain_url_uses_psycopg_3(scheme: str) -> None:
    engine = db.make_engine(f"{scheme}://app:s3cret@db/posts")
    assert (engine.url.drivername, engine.dialect.driver) == ("postgresql+psycopg", "psycopg")
    assert db.mask_url(engine.url) == "postgresql+psycopg://app:***@db/posts"


@pytest.mark.parametrize("driver", ["psycopg2", "pg8000", "asyncpg"])
def test_another_driver_is_refused_naming_the_fix(driver: str) -> None:
    with pytest.raises(DatabaseError) as err:
        db.make_engine(f"postgresql+{driver}://app:s3cret@db/posts")
    assert str(err.value) == (
        f"cannot use postgresql+{driver}://app:***@db/posts: postctl talks to PostgreSQL "
        f"through psycopg 3 only; {FIX} and pip install 'postctl[postgres]'"
    )


def test_another_driver_is_a_one_line_cli_error(run: Run) -> None:
    result = run("show-post", "1", url="postgresql+psycopg2://app:s3cret@db/posts")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and FIX in result.stderr
    assert "s3cret" not in result.output


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(DatabaseError) as err:
        db.make_engine("postgresql://app:s3cret@db/posts")
    assert re.fullmatch(
        r"cannot use postgresql\+psycopg://app:\*\*\*@db/posts: its driver is not installed "
        r"\(.*psycopg.*\); install it with pip install 'postctl\[postgres\]'",
        str(err.value),
    ), str(err.value)


def test_refused_connection_fails_fast_with_masked_url() -> None:
    eng = db.make_engine("postgresql+psycopg://app:s3cret@127.0.0.1:9/posts")
    with pytest.raises(DatabaseError) as err, db.transaction(eng):
        pass
    assert str(err.value) == (
        "postgresql+psycopg://app:***@127.0.0.1:9/posts: Connection refused; "
        "check that the server is running and the host and port are right"
    )


def test_silent_server_times_out_in_five_seconds() -> None:
    """A server that accepts the connection but never answers must not hang postctl."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    eng = db.make_engine(f"postgresql+psycopg://app:s3cret@127.0.0.1:{port}/posts")
    start = time.monotonic()
    try:
        with pytest.raises(DatabaseError) as err, db.transaction(eng):
            pass
    finally:
        listener.close()
    assert db.CONNECT_TIMEOUT - 0.5 < time.monotonic() - start < db.CONNECT_TIMEOUT + 3
    assert str(err.value) == (
        f"postgresql+psycopg://app:***@127.0.0.1:{port}/posts: connection timeout expired; "
        "the server did not answer in time; check that it runs and is reachable"
    )


def test_readyz_answers_503_in_time_on_a_silent_server(caplog: pytest.LogCaptureFixture) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = create_app(f"postgresql://app:s3cret@127.0.0.1:{port}/posts").test_client()
    start = time.monotonic()
    try:
        resp = client.get("/readyz")
    finally:
        listener.close()
    assert time.monotonic() - start < db.CONNECT_TIMEOUT + 3
    assert resp.status_code == 503
    assert resp.get_json() == {"error": {"status": 503, "message": "database unavailable"}}
    assert f"postgresql+psycopg://app:***@127.0.0.1:{port}/posts" in caplog.text
    assert "s3cret" not in caplog.text


# What only a PostgreSQL server shows.


def test_table_has_an_identity_and_timestamps_without_time_zone(
    postgres_url: str, engine: Engine
) -> None:
    with engine.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT column_name, data_type, is_identity, identity_generation "
                "FROM information_schema.columns WHERE table_name = 'post' ORDER BY column_name"
            )
        ).all()
    assert [tuple(c) for c in columns] == [
        ("author_email", "character varying", "NO", None),
        ("content", "text", "NO", None),
        ("created_time", "timestamp without time zone", "NO", None),
        ("id", "integer", "YES", "BY DEFAULT"),
    ]


def test_loads_through_copy_and_the_sequence_continues(
    postgres_url: str, engine: Engine, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path, HEADER + "5,a,a@b.c,\n,b,a@b.c,\n2,c,a@b.c,\n,d,a@b.c,\n40,e,a@b.c,\n"
    )
    with db.transaction(engine) as conn:
        results = load_fixtures(conn, find_files([path]))
    assert [(r.rows, r.method) for r in results] == [(5, "copy")]
    with db.transaction(engine) as conn:  # another client's insert, not postctl's
        new_id = conn.execute(
            text("INSERT INTO post (content, author_email) VALUES ('f', 'a@b.c') RETURNING id")
        ).scalar_one()
    assert [r[0] for r in table_rows(engine)] == [2, 5, 6, 7, 40, 41]
    assert new_id == 41


def test_no_id_left_above_the_largest_is_a_problem_by_line(
    postgres_url: str, engine: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, HEADER + "2147483647,last,a@b.c,\n,none left,a@b.c,\n")
    with pytest.raises(FixtureError) as err, db.transaction(engine) as conn:
        load_fixtures(conn, find_files([path]))
    assert err.value.problems[1] == (
        f"  {path}:3: column id: no id left to give: the next would pass 2147483647 (value '')"
    )
    assert table_rows(engine) == []


def test_upsert_merges_with_on_conflict_and_the_sequence_continues(
    postgres_url: str, loaded: Engine, run: Run, tmp_path: Path
) -> None:
    statements: list[str] = []
    path = write_csv(tmp_path, HEADER + "2,two,a@b.c,\n,new,a@b.c,\n2,last,a@b.c,\n9,nine,a@b.c,\n")
    with db.transaction(loaded) as conn:
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        load_fixtures(conn, find_files([path]), mode="upsert")
    assert any("ON CONFLICT (id) DO UPDATE" in s for s in statements), statements
    rows = {r[0]: r[1] for r in table_rows(loaded)}
    assert (rows[2], rows[6], rows[9]) == ("last", "new", "nine")
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 9]
    more = write_csv(tmp_path, "content,author_email\nx,a@b.c\n", "post.csv")
    assert run("load-fixtures", str(more)).exit_code == 0
    assert max(r[0] for r in table_rows(loaded)) == 10


def test_reset_db_names_the_session_holding_the_table(
    postgres_url: str, engine: Engine, run: Run
) -> None:
    blocker = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with blocker.connect() as holding:
        holding.execute(text("SELECT * FROM post"))  # an open transaction: a lock on post
        pid = holding.execute(text("SELECT pg_backend_pid()")).scalar_one()
        start = time.monotonic()
        result = run("reset-db", "--yes")
        elapsed = time.monotonic() - start
    blocker.dispose()
    assert result.exit_code == 1
    assert schema.LOCK_WAIT_TIMEOUT <= elapsed < schema.LOCK_WAIT_TIMEOUT + 5
    assert re.fullmatch(
        rf"Error: {re.escape(db.mask_url(postgres_url))}: gave up after 5s waiting for a lock on "
        r"the tables; another session holds them open \(an unfinished transaction\?\): "
        rf"session {pid} \(postgres@127\.0\.0\.1, idle in transaction for \d+s; "
        rf"SELECT pg_terminate_backend\({pid}\) ends it\)\. Finish or kill it and try again\n",
        result.stderr,
    ), result.stderr
    assert run("reset-db", "--yes").exit_code == 0  # works again once the session is gone


@pytest.fixture
def latin1_url(postgres_url: str) -> Iterator[str]:
    """A LATIN1 database beside the test database, with the schema."""
    name = f"{make_url(postgres_url).database}_latin1"
    url = create_postgres_database(postgres_url, name, "LATIN1")
    engine = db.make_engine(url)
    schema.reset_db(engine)
    engine.dispose()
    yield url


def test_check_refuses_a_database_not_in_utf8(latin1_url: str, run: Run) -> None:
    result = run("check", url=latin1_url)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-2:] == ["ok: the connection uses UTF8", "rows: post 0"]
    assert result.stderr.splitlines() == [
        "problem: the database encoding is LATIN1, not UTF8 (Korean and emoji would fail); "
        "create the database again with ENCODING 'UTF8' and load a dump into it",
        f"Error: 1 problem(s) found in {db.mask_url(latin1_url)}",
    ]


def test_a_row_the_server_refuses_is_named_by_line(latin1_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + '1,café,a@b.c,\n2,"two\nlines",a@b.c,\n3,한국어,a@b.c,\n')
    engine = db.make_engine(latin1_url)
    with pytest.raises(FixtureError) as err, db.transaction(engine) as conn:
        load_fixtures(conn, find_files([path]))
    assert err.value.problems[1].startswith(
        f"  {path}:5: database rejected the row: character with byte sequence 0xed 0x95 0x9c "
        'in encoding "UTF8" has no equivalent in encoding "LATIN1"'
    ), err.value.problems
    assert table_rows(engine) == []
    engine.dispose()


def test_web_read_on_a_terminated_connection_runs_again(postgres_url: str, loaded: Engine) -> None:
    """The web engine has no pre-ping: a read on a connection the server ended runs again."""
    app: Flask = create_app(postgres_url)
    client = app.test_client()
    assert client.get("/post/1").status_code == 200
    with engine_of(app).get().connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with loaded.connect() as other:
        assert other.execute(text(f"SELECT pg_terminate_backend({int(pid)})")).scalar_one()
    resp = client.get("/post/1")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200
    engine_of(app).dispose()
