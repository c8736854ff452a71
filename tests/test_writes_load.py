"""Concurrent writes through a real `postctl serve` (uWSGI), on SQLite and MariaDB.

Bounded: 8 clients x 250 POSTs, then one GET per post; every request has a
timeout, and the server runs in its own process group, killed afterwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from postctl import db, queries, schema, tokens
from postctl.web import create_app, engine_of
from tests.apiserver import request, serving
from tests.conftest import write_held

CLIENTS = 8
POSTS_EACH = 250


@pytest.fixture
def server(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A real server on a fresh database with one token; yields its port and the token."""
    with db.transaction(engine) as conn:
        secret, _ = tokens.create(conn, "load")
    with serving(db_url, tmp_path / "serve.log") as port:
        yield port, secret


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(i) in `count` threads started together; re-raise the first failure."""
    failures: list[BaseException] = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait(timeout=30)
            work(i)
        except BaseException as err:  # collected, then raised in the test's thread
            failures.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "clients still running after 10 minutes"
    if failures:
        raise failures[0]


def post(
    port: int, token: str, body: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode()
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
    return request(port, "POST", "/post", data, sent)


def test_8_clients_x_250_posts_make_2000_posts(server: tuple[int, str], engine: Engine) -> None:
    port, token = server
    answers: list[list[tuple[int, dict[str, str], bytes]]] = [[] for _ in range(CLIENTS)]

    def client(i: int) -> None:
        for n in range(POSTS_EACH):
            body = {"content": f"client {i} post {n}", "author_email": f"c{i}@example.com"}
            answers[i].append(post(port, token, body))

    in_threads(CLIENTS, client)
    flat = [answer for each in answers for answer in each]
    assert len(flat) == CLIENTS * POSTS_EACH
    statuses = sorted({status for status, _, _ in flat})
    assert statuses == [201], [a for a in flat if a[0] != 201][:3]
    ids = [json.loads(body)["id"] for _, _, body in flat]
    assert len(set(ids)) == len(ids) == 2000
    with db.transaction(engine) as conn:
        assert queries.count_rows(conn) == 2000
    # Each client's posts, in its order, with its content: nothing mixed up.
    for i, each in enumerate(answers):
        contents = [json.loads(body)["content"] for _, _, body in each]
        assert contents == [f"client {i} post {n}" for n in range(POSTS_EACH)]

    def fetch(i: int) -> None:
        for _, headers, body in flat[i::CLIENTS]:
            assert headers["Location"] == f"/post/{json.loads(body)['id']}"
            assert request(port, "GET", headers["Location"])[::2] == (200, body)

    in_threads(CLIENTS, fetch)


def test_an_idempotency_key_retried_concurrently_makes_one_post(
    server: tuple[int, str], engine: Engine
) -> None:
    port, token = server
    body = {"content": "exactly once", "author_email": "retry@example.com"}
    rounds = 5
    answers: list[list[tuple[int, dict[str, str], bytes]]] = [[] for _ in range(rounds)]
    lock = threading.Lock()

    def client(_i: int) -> None:
        for r in range(rounds):
            answer = post(port, token, body, **{"Idempotency-Key": f"retry-{r}"})
            with lock:
                answers[r].append(answer)

    in_threads(CLIENTS, client)
    with db.transaction(engine) as conn:
        assert queries.count_rows(conn) == rounds
    for r in range(rounds):
        created = [a for a in answers[r] if a[0] == 201]
        others = [a for a in answers[r] if a[0] != 201]
        assert {status for status, _, _ in others} <= {409}, others
        assert all(h["Retry-After"] == "1" for _, h, _ in others)
        first = [a for a in created if "Idempotent-Replayed" not in a[1]]
        assert len(first) == 1, created
        assert {(h["Location"], b) for _, h, b in created} == {
            (first[0][1]["Location"], first[0][2])
        }
        # Once the first has answered, every retry gets its answer.
        status, headers, data = post(port, token, body, **{"Idempotency-Key": f"retry-{r}"})
        assert (status, headers["Idempotent-Replayed"], data) == (201, "true", first[0][2])


def test_sqlite_writers_wait_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    """A write transaction that reads first still waits for another writer (BEGIN IMMEDIATE)."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    first = db.make_engine(url, must_exist=False)
    schema.reset_db(first)
    second = db.make_engine(url)
    locked = threading.Event()

    def hold(conn: Connection) -> None:  # another process in the middle of a write
        conn.execute(schema.post.insert(), {"content": "first", "author_email": "a@b.c"})
        locked.set()
        time.sleep(1.0)

    def insert(conn: Connection) -> int:  # reads, then writes
        before = queries.count_rows(conn)
        conn.execute(schema.post.insert(), {"content": "x", "author_email": "a@b.c"})
        return before

    holder = threading.Thread(target=db.write, args=(first, hold))
    holder.start()
    assert locked.wait(timeout=10)
    started = time.monotonic()
    try:
        before = db.write(second, insert)
    finally:
        holder.join()
    assert time.monotonic() - started >= 0.9
    with db.transaction(second) as conn:
        assert (before, queries.count_rows(conn)) == (1, 2)
    first.dispose()
    second.dispose()


def test_a_request_is_read_and_checked_before_it_waits_for_the_write_lock(
    tmp_path: Path,
) -> None:
    """A bad or slow body never holds SQLite's write lock, nor waits for it."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    engine = db.make_engine(url, must_exist=False)
    schema.reset_db(engine)
    with db.transaction(engine) as conn:
        secret, _ = tokens.create(conn, "ci")
    app = create_app(url)
    client = app.test_client()
    try:
        with write_held(engine):  # another writer, busy for as long as the test runs
            started = time.monotonic()
            headers = {"Authorization": f"Bearer {secret}"}
            resp = client.post("/post", data=b"{", content_type="application/json", headers=headers)
            assert resp.status_code == 400
            resp = client.post("/post", json={"content": ""}, headers=headers)
            assert resp.status_code == 422
            assert time.monotonic() - started < 2  # not SQLITE_BUSY_TIMEOUT
    finally:
        engine_of(app).dispose()
        engine.dispose()
