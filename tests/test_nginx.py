"""deploy/nginx.conf with a real nginx in front of real `postctl serve --socket` processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from postctl import db, tokens, web
from tests import nginx
from tests.apiserver import request, serving, serving_socket

pytestmark = pytest.mark.skipif(not nginx.available(), reason=f"needs {nginx.NGINX} (.ci/run)")


@pytest.fixture
def shared() -> Iterator[Path]:
    path = nginx.shared_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_client_max_body_size_is_the_apps_limit() -> None:
    size = re.search(r"\n\s*client_max_body_size (\d+)m;", nginx.CONF.read_text())
    assert size is not None
    assert int(size.group(1)) << 20 == web.MAX_BODY_BYTES


def test_the_read_timeout_is_above_harakiri() -> None:
    from postctl import serve

    timeout = re.search(r"\n\s*uwsgi_read_timeout (\d+)s;", nginx.CONF.read_text())
    assert timeout is not None
    assert int(timeout.group(1)) > serve.HARAKIRI_SECONDS


PATHS = [
    ("GET", "/", {}),
    ("GET", "/post/1", {}),
    ("GET", "/post/99", {}),
    ("GET", "/posts?per_page=2&page=2", {}),
    ("GET", "/posts?per_page=0", {}),
    ("GET", "/readyz", {}),
    ("GET", "/openapi.json", {}),
    ("DELETE", "/post/1", {}),  # no token: 401
    ("PUT", "/post/1", {}),  # 405 with Allow
]


def test_through_nginx_the_api_gives_the_same_bytes_as_direct(
    db_url: str, loaded: Engine, shared: Path
) -> None:
    sock = shared / "app.sock"
    with (
        serving(db_url, shared / "direct.log") as direct,
        serving_socket(db_url, shared / "app.log", str(sock)),
        nginx.running([f"unix:{sock}"], shared) as port,
    ):
        for method, path, headers in PATHS:
            want = request(direct, method, path, headers=headers)
            got = request(port, method, path, headers=headers)
            assert got[0] == want[0], (method, path)
            assert got[2] == want[2], (method, path)
            for name in ("Content-Type", "WWW-Authenticate"):
                assert got[1].get(name) == want[1].get(name), (method, path, name)
            # (werkzeug lists Allow from a set: its order differs from process to process.)
            assert allowed(got[1]) == allowed(want[1]), (method, path)
        # 16 KB of request headers: passed to the app whole, no 502.
        big = {f"X-Filler-{i}": "x" * 1000 for i in range(16)}
        assert request(port, "GET", "/post/1", headers=big)[::2] == (
            200,
            request(direct, "GET", "/post/1")[2],
        )
        # A body over the app's limit: nginx's 413 is the app's own.
        over = b"x" * (web.MAX_BODY_BYTES + 1)
        with db.transaction(loaded) as conn:
            auth = {"Authorization": "Bearer " + tokens.create(conn, "ci", timedelta(hours=1))[0]}
        # (Not from the direct server: uWSGI's router resets a connection whose body
        # the app refused unread, so the client mostly sees a broken pipe, not the 413.)
        app = web.create_app(db_url)
        want_413 = app.test_client().post("/post", data=over, headers=auth)
        web.engine_of(app).dispose()
        got_413 = request(port, "POST", "/post", body=over, headers=auth)
        assert want_413.status_code == got_413[0] == 413
        assert got_413[2] == want_413.data
        assert got_413[1]["Content-Type"] == want_413.content_type == "application/json"


def allowed(headers: dict[str, str]) -> set[str]:
    return set(headers.get("Allow", "").split(", "))


def test_nginx_own_502_is_json(shared: Path) -> None:
    with nginx.running([f"unix:{shared / 'nobody-here.sock'}"], shared) as port:
        status, headers, body = request(port, "GET", "/post/1")
    assert status == 502
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "error": {"status": 502, "message": "bad gateway: no app instance answered"}
    }


def test_one_instance_killed_under_load_no_client_sees_an_error(
    db_url: str, loaded: Engine, shared: Path
) -> None:
    """Two instances behind one upstream; one is killed mid-load; nginx retries the GETs."""
    socks = [shared / "app1.sock", shared / "app2.sock"]
    with (
        serving_socket(db_url, shared / "app1.log", str(socks[0])) as first,
        serving_socket(db_url, shared / "app2.log", str(socks[1])),
        nginx.running([f"unix:{s}" for s in socks], shared) as port,
    ):
        for _ in range(4):  # both instances answer before the load starts
            assert request(port, "GET", "/healthz")[0] == 200
        answers: list[object] = []
        stop = time.monotonic() + 4  # bounded: 4 s, 4 clients

        def client() -> None:
            while time.monotonic() < stop:
                for path in ("/post/1", "/posts?per_page=3"):
                    try:
                        answers.append(request(port, "GET", path, timeout=10)[0])
                    except OSError as err:
                        answers.append(repr(err))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        os.killpg(first.pid, signal.SIGKILL)
        killed_at = len(answers)
        for thread in threads:
            thread.join(timeout=30)
    assert killed_at > 0 and len(answers) > killed_at, "the load did not span the kill"
    assert set(answers) == {200}, [a for a in answers if a != 200][:5]
