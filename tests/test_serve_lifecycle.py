"""`postctl serve` through a database restart and a graceful stop (issue 10's bounds)."""

from __future__ import annotations

import contextlib
import http.client
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from postctl import db
from tests import servers
from tests.apiserver import request, serving_process, worker_pids
from tests.conftest import REPO, Run

UNAVAILABLE = b'{"error": {"status": 503, "message": "database unavailable"}}\n'
CONNECT_TIMEOUT = db.CONNECT_TIMEOUT
OUTAGE_SECONDS = 5
RECOVERY_SECONDS = 2
STOP_SECONDS = 10


@dataclass(frozen=True)
class Answer:
    path: str
    started: float
    took: float
    status: int | str  # the status, or the error a client saw
    body: bytes = b""


def load(port: int, stop: threading.Event, answers: list[Answer]) -> None:
    """Ask the three endpoints in turn until told to stop; record every answer."""
    while not stop.is_set():
        for path in ("/healthz", "/readyz", "/post/1"):
            started = time.monotonic()
            try:
                status, _, body = request(port, "GET", path, timeout=30)
                answers.append(Answer(path, started, time.monotonic() - started, status, body))
            except OSError as err:
                answers.append(Answer(path, started, time.monotonic() - started, repr(err)))
            time.sleep(0.02)  # bounded: about 3 clients x 50 requests/s


def test_a_database_restart_is_survived_without_restarting_uwsgi(
    server_url: str | None, run: Run, tmp_path: Path
) -> None:
    if not server_url or not db.is_mysql(server_url):
        pytest.skip("needs MariaDB: set POSTCTL_TEST_DATABASE_URL to a MariaDB URL")
    if not servers.mariadb_available():
        pytest.fail(f"{servers.MARIADBD} is needed to restart a database of the test's own")
    with servers.restartable_mariadb() as mariadb:
        loaded = run("reset-db", "--yes", "--fixtures", str(REPO / "fixtures"), url=mariadb.url)
        assert loaded.exit_code == 0, loaded.output
        with serving_process(mariadb.url, tmp_path / "serve.log") as (proc, port):
            assert request(port, "GET", "/post/1")[0] == 200
            before = worker_pids(proc.pid)
            answers: list[Answer] = []
            stop = threading.Event()
            clients = [threading.Thread(target=load, args=(port, stop, answers)) for _ in range(3)]
            for client in clients:
                client.start()
            try:
                time.sleep(1)
                mariadb.stop()
                down = time.monotonic()
                time.sleep(OUTAGE_SECONDS)
                mariadb.start()
                up = time.monotonic()
                time.sleep(RECOVERY_SECONDS + 1.5)
            finally:
                stop.set()
                for client in clients:
                    client.join(timeout=60)
            after = worker_pids(proc.pid)
    assert after == before, "uWSGI restarted workers"
    assert not [a for a in answers if not isinstance(a.status, int)], "a client saw an error"
    assert not [a for a in answers if a.status == 500]
    assert {a.status for a in answers if a.path == "/healthz"} == {200}
    during = [a for a in answers if a.path != "/healthz" and down < a.started < up - 0.5]
    assert during, "no request during the outage"
    assert {(a.status, a.body) for a in during} == {(503, UNAVAILABLE)}
    assert max(a.took for a in during) < CONNECT_TIMEOUT + 0.5
    recovered = [a for a in answers if a.path != "/healthz" and a.started > up + RECOVERY_SECONDS]
    assert recovered, "no request after the recovery window"
    assert {a.status for a in recovered} == {200}


@contextlib.contextmanager
def reads_blocked(engine: Engine, db_url: str) -> Iterator[None]:
    """Hold a lock that makes every read of the post table wait until the block ends."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(str(make_url(db_url).database), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")  # rollback-journal mode: readers wait (busy timeout)
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with engine.connect() as locked:
        if db.is_mysql(db_url):
            locked.execute(text("LOCK TABLES post WRITE"))
        else:
            locked.execute(text("LOCK TABLE post IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            if db.is_mysql(db_url):
                locked.execute(text("UNLOCK TABLES"))
            locked.rollback()


def test_sigterm_lets_the_requests_under_way_finish(
    db_url: str, loaded: Engine, tmp_path: Path
) -> None:
    """16 requests inside the workers when SIGTERM comes: all answered, none reset, exit 0."""
    results: list[tuple[int, bytes] | str] = []
    with serving_process(db_url, tmp_path / "serve.log") as (proc, port):
        want = request(port, "GET", "/post/1")

        def one() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/post/1")
                resp = conn.getresponse()
                results.append((resp.status, resp.read()))
            except OSError as err:
                results.append(repr(err))
            finally:
                conn.close()

        with reads_blocked(loaded, db_url):
            clients = [threading.Thread(target=one) for _ in range(16)]
            for client in clients:
                client.start()
            time.sleep(1.5)  # every request has reached a worker and waits on the lock
            assert results == [], "a request did not wait for the lock"
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(1)
        for client in clients:
            client.join(timeout=30)
        code = proc.wait(timeout=max(0.0, signalled + STOP_SECONDS - time.monotonic()))
        deadline = signalled + STOP_SECONDS
        while servers.group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not servers.group_alive(proc.pid), "uWSGI left processes behind"
    assert code == 0
    assert results == [(200, want[2])] * 16
