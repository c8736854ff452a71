from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, make_url, text

from postctl import db, hints, queries, schema, sqlite
from postctl.errors import DatabaseError, NotFoundError
from tests.conftest import table_rows, write_held


def test_mask_url_hides_password() -> None:
    masked = db.mask_url("mysql+mysqldb://app:s3cret@db:3306/posts")
    assert masked == "mysql+mysqldb://app:***@db:3306/posts"


def test_mask_url_of_garbage_reveals_nothing() -> None:
    assert db.mask_url("not a url with s3cret") == "<unparseable database URL>"


def test_reset_db_creates_empty_post_table(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        assert queries.count_rows(conn) == 0


def test_reset_db_restarts_ids_at_one(engine: Engine) -> None:
    row = {"content": "x", "author_email": "a@b.c"}
    with db.transaction(engine) as conn:
        conn.execute(insert(schema.post), [row, row, row])
    assert schema.reset_db(engine) == ["post"]
    with db.transaction(engine) as conn:
        conn.execute(insert(schema.post), [row])
        assert [r.id for r in conn.execute(schema.post.select())] == [1]


def test_created_time_defaults_to_now(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        conn.execute(insert(schema.post), [{"content": "x", "author_email": "a@b.c"}])
        created = queries.get_post(conn, 1).created_time
    assert created.year >= 2024


def test_get_post_missing_raises_not_found(engine: Engine) -> None:
    with db.transaction(engine) as conn, pytest.raises(NotFoundError, match="post 7 not found"):
        queries.get_post(conn, 7)


@pytest.mark.parametrize("post_id", [0, -1, 2**31, 10**20])
def test_get_post_outside_id_range_is_not_found(engine: Engine, post_id: int) -> None:
    with db.transaction(engine) as conn, pytest.raises(NotFoundError):
        queries.get_post(conn, post_id)


def test_missing_schema_says_run_reset_db(db_url: str) -> None:
    eng = db.make_engine(db_url, must_exist=False)
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS post"))
    with (
        pytest.raises(DatabaseError, match="run `postctl reset-db` first"),
        db.transaction(eng) as conn,
    ):
        queries.get_post(conn, 1)
    eng.dispose()


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(DatabaseError, match="does not exist; run `postctl reset-db` first"):
        db.make_engine(f"sqlite:///{path}")
    assert not path.exists()


def test_unreachable_server_fails_fast_with_masked_url() -> None:
    pytest.importorskip("MySQLdb")
    eng = db.make_engine("mysql+mysqldb://app:s3cret@127.0.0.1:9/posts")
    start = time.monotonic()
    with pytest.raises(DatabaseError) as err, db.transaction(eng):
        pass
    assert time.monotonic() - start < db.CONNECT_TIMEOUT + 2
    message = str(err.value)
    assert message.startswith("mysql+mysqldb://app:***@127.0.0.1:9/posts: ")
    assert "s3cret" not in message and "\n" not in message


def test_silent_server_times_out() -> None:
    """A server that accepts the connection but never answers must not hang postctl."""
    pytest.importorskip("MySQLdb")
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    eng = db.make_engine(f"mysql+mysqldb://app@127.0.0.1:{port}/posts")
    start = time.monotonic()
    try:
        with pytest.raises(DatabaseError, match="did not answer in time"), db.transaction(eng):
            pass
    finally:
        listener.close()
    assert time.monotonic() - start < db.CONNECT_TIMEOUT + 3


def test_invalid_url_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match="invalid database URL"):
        db.make_engine("nonsense")


# MariaDB/MySQL behaviour: these need the real server.


def test_mysql_table_and_connection_use_utf8mb4(mysql_url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        charset = conn.execute(
            text(
                "SELECT character_set_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name = 'post' "
                "AND column_name = 'content'"
            )
        ).scalar_one()
        client = conn.execute(text("SELECT @@character_set_client")).scalar_one()
    assert (charset, client) == ("utf8mb4", "utf8mb4")


def test_mysql_strict_mode_rejects_overlong_values(mysql_url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        assert "STRICT_ALL_TABLES" in conn.execute(text("SELECT @@SESSION.sql_mode")).scalar_one()
    with pytest.raises(DatabaseError, match="Data too long"), db.transaction(engine) as conn:
        conn.execute(insert(schema.post), [{"content": "x", "author_email": "a" * 101}])
    assert table_rows(engine) == []


def test_mysql_connection_survives_being_killed(mysql_url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        conn_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    killer = create_engine(mysql_url)
    with killer.connect() as other:
        other.execute(text(f"KILL {int(conn_id)}"))
    killer.dispose()
    with db.transaction(engine) as conn:  # pre-ping replaces the dead pooled connection
        assert queries.count_rows(conn) == 0
        assert conn.execute(text("SELECT CONNECTION_ID()")).scalar_one() != conn_id


def test_mysql_reset_db_does_not_hang_on_a_locked_table(mysql_url: str, engine: Engine) -> None:
    blocker = create_engine(mysql_url)
    holding = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with blocker.connect() as conn:
            conn.execute(text("SELECT * FROM post"))  # opens a transaction: a metadata lock
            holding.set()
            release.wait(30)
            conn.rollback()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert holding.wait(10)
        start = time.monotonic()
        with pytest.raises(DatabaseError) as err:
            schema.reset_db(engine)
        elapsed = time.monotonic() - start
    finally:
        release.set()
        thread.join()
        blocker.dispose()
    assert elapsed < schema.LOCK_WAIT_TIMEOUT + 5
    message = str(err.value)
    assert "waiting for a lock" in message and "connection " in message, message
    schema.reset_db(engine)  # works again once the other session is gone


def test_missing_driver_is_named() -> None:
    pytest.importorskip("sqlalchemy.dialects.mssql")
    with pytest.raises(DatabaseError) as err:
        db.make_engine("mssql+pymssql://app:s3cret@db/posts")
    assert str(err.value) == (
        "cannot use mssql+pymssql://app:***@db/posts: its driver is not installed "
        "(No module named 'pymssql')"
    )


def test_sqlite_errors_say_what_to_do(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'no' / 'dir' / 'x.db'}"
    with pytest.raises(DatabaseError) as err, db.transaction(db.make_engine(url, must_exist=False)):
        pass
    assert str(err.value) == (
        f"{url}: unable to open database file; check that the directory exists and is writable"
    )
    path = tmp_path / "locked.db"
    schema.reset_db(db.make_engine(f"sqlite:///{path}", must_exist=False))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = db.make_engine(f"sqlite:///{path}?timeout=0")
        with pytest.raises(DatabaseError) as err, db.transaction(locked) as conn:
            queries.count_rows(conn)
        locked.dispose()
    finally:
        holder.close()
    assert str(err.value) == (
        f"sqlite:///{path}?timeout=0: database is locked; "
        "another process is writing to it; try again when it is done"
    )


def test_sqlite_writers_of_one_process_take_turns(tmp_path: Path) -> None:
    """A second thread waits for the first's write in the process, within the busy timeout."""
    url = f"sqlite:///{tmp_path / 'w.db'}?timeout=0.3"  # the URL's wait, not the default 20 s
    engine = db.make_engine(url, must_exist=False)
    with write_held(engine):
        with pytest.raises(DatabaseError) as caught, sqlite.one_writer(engine):
            pass
        assert (
            str(caught.value) == f"{url}: database is locked; {hints.sqlite('database is locked')}"
        )
        with sqlite.one_writer(create_engine("sqlite://")):
            pass  # an engine make_engine did not make (or of another backend): no lock
    with sqlite.one_writer(engine), sqlite.one_writer(engine):
        assert db.write(engine, lambda conn: 1) == 1  # the same thread may nest
    engine.dispose()


@pytest.mark.parametrize(("query", "seconds"), [
    ("", sqlite.BUSY_TIMEOUT), ("?timeout=0", 0.0), ("?timeout=2.5", 2.5),
    ("?timeout=-1", 0.0), ("?timeout=soon", sqlite.BUSY_TIMEOUT),
])  # fmt: skip
def test_sqlite_writers_wait_as_long_as_the_url_says(query: str, seconds: float) -> None:
    assert sqlite._busy_timeout(make_url(f"sqlite:///posts.db{query}")) == seconds
