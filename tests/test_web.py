"""The HTTP API through Flask's test client, on SQLite and (when configured) MariaDB."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from postctl import __version__, db, openapi, queries, schema
from postctl.web import create_app, engine_of
from tests.conftest import Run

POST_4 = (
    '{"id": 4, "content": "안녕하세요! 첫 번째 한국어 게시물입니다.", '
    '"author_email": "korean@example.kr", "created_time": "2018-10-06T18:45:00"}\n'
)


def error_body(status: int, message: str) -> str:
    return json.dumps({"error": {"status": status, "message": message}}) + "\n"


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    flask_app = create_app(db_url)
    yield flask_app
    engine_of(flask_app).dispose()


@pytest.fixture
def client(app: Flask, loaded: Engine) -> FlaskClient:
    """A client of the app on the database with the shipped fixtures."""
    return app.test_client()


def test_post_is_utf8_json_with_iso_time(client: FlaskClient) -> None:
    resp = client.get("/post/4")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == POST_4.encode("utf-8")


@pytest.mark.parametrize("post_id", ["1", "2", "3", "4", "5"])
def test_post_is_byte_for_byte_show_post_json(client: FlaskClient, run: Run, post_id: str) -> None:
    result = run("show-post", post_id, "--format", "json")
    assert result.exit_code == 0, result.output
    assert client.get(f"/post/{post_id}").data == result.stdout_bytes


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/post/99", "post 99 not found"),
        ("/post/0", "post 0 not found"),
        ("/post/99999999999999999999", "post 99999999999999999999 not found"),
        ("/post/abc", "no such resource: /post/abc"),
        ("/post/-1", "no such resource: /post/-1"),
        ("/post/1.5", "no such resource: /post/1.5"),
        ("/post/", "no such resource: /post/"),
        ("/post/1/", "no such resource: /post/1/"),
        ("/nowhere", "no such resource: /nowhere"),
        ("/static/x.css", "no such resource: /static/x.css"),
    ],
)
def test_not_found_is_json_404(client: FlaskClient, path: str, message: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_data(as_text=True) == error_body(404, message)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "OPTIONS"])
def test_wrong_method_is_json_405_with_allow(client: FlaskClient, method: str) -> None:
    resp = client.open("/post/1", method=method)
    assert resp.status_code == 405
    assert sorted(resp.headers["Allow"].split(", ")) == ["DELETE", "GET", "HEAD"]
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_data(as_text=True) == error_body(
        405, f"method {method} not allowed for /post/1"
    )


def test_head_answers_headers_only(client: FlaskClient) -> None:
    resp = client.head("/post/4")
    assert resp.status_code == 200
    assert resp.data == b""
    assert resp.headers["Content-Length"] == str(len(POST_4.encode("utf-8")))


def test_index_names_the_service(client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.get_json() == {"service": "postctl", "version": __version__}


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_data(as_text=True) == '{"status": "ok"}\n'
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_data(as_text=True) == '{"status": "ready"}\n'


def page_ids(client: FlaskClient, query: str) -> tuple[int, list[int], dict[str, int]]:
    resp = client.get(f"/posts{query}")
    body = resp.get_json()
    ids = [post["id"] for post in body.pop("posts")]
    return resp.status_code, ids, body


def test_posts_newest_first_with_total(client: FlaskClient) -> None:
    assert page_ids(client, "") == (
        200,
        [5, 4, 3, 2, 1],
        {"page": 1, "per_page": openapi.DEFAULT_PER_PAGE, "total": 5},
    )
    assert page_ids(client, "?per_page=2") == (200, [5, 4], {"page": 1, "per_page": 2, "total": 5})
    assert page_ids(client, "?per_page=2&page=3") == (
        200,
        [1],
        {"page": 3, "per_page": 2, "total": 5},
    )
    assert page_ids(client, f"?page={openapi.MAX_PAGE}&per_page={openapi.MAX_PER_PAGE}") == (
        200,
        [],
        {"page": openapi.MAX_PAGE, "per_page": openapi.MAX_PER_PAGE, "total": 5},
    )


def test_posts_use_the_one_serializer(client: FlaskClient, run: Run) -> None:
    resp = client.get("/posts?per_page=1&page=2")
    assert resp.get_data(as_text=True) == (
        '{"posts": [' + POST_4.rstrip("\n") + '], "page": 2, "per_page": 1, "total": 5}\n'
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?page=0", "page must be an integer from 1 to 2147483647"),
        ("?page=-1", "page must be an integer from 1 to 2147483647"),
        ("?page=x", "page must be an integer from 1 to 2147483647"),
        ("?page=", "page must be an integer from 1 to 2147483647"),
        ("?page=%201", "page must be an integer from 1 to 2147483647"),
        ("?page=2147483648", "page must be an integer from 1 to 2147483647"),
        ("?page=99999999999999999999", "page must be an integer from 1 to 2147483647"),
        ("?per_page=0", "per_page must be an integer from 1 to 100"),
        ("?per_page=101", "per_page must be an integer from 1 to 100"),
        ("?per_page=1.5", "per_page must be an integer from 1 to 100"),
        ("?per_page=%D9%A1", "per_page must be an integer from 1 to 100"),
    ],
)
def test_posts_bad_paging_is_json_400(client: FlaskClient, query: str, message: str) -> None:
    resp = client.get(f"/posts{query}")
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_data(as_text=True) == error_body(400, message)


def test_posts_on_an_empty_table(app: Flask, engine: Engine) -> None:
    resp = app.test_client().get("/posts")
    assert resp.get_json() == {"posts": [], "page": 1, "per_page": 20, "total": 0}


def test_factory_connects_to_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    app = create_app(f"sqlite:///{missing}")
    assert engine_of(app).created is False
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200
    assert engine_of(app).created is False
    assert not missing.exists()


def test_factory_rejects_a_bad_url_before_serving() -> None:
    with pytest.raises(db.DatabaseError, match="invalid database URL"):
        create_app("not a url")


def test_factory_reads_the_cli_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POSTCTL_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert engine_of(create_app()).url == f"sqlite:///{tmp_path / 'env.db'}"


def test_missing_database_is_503_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app(f"sqlite:///{tmp_path / 'missing.db'}").test_client()
    for path in ("/readyz", "/post/1", "/posts"):
        resp = client.get(path)
        assert resp.status_code == 503
        assert resp.get_data(as_text=True) == error_body(503, "database unavailable")
    assert "run `postctl reset-db` first" in caplog.text
    assert not (tmp_path / "missing.db").exists()


def test_missing_schema_is_503(app: Flask, engine: Engine) -> None:
    schema.metadata.drop_all(engine)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    for path in ("/readyz", "/post/1", "/posts"):
        resp = client.get(path)
        assert resp.status_code == 503
        assert resp.get_data(as_text=True) == error_body(503, "database unavailable")


def test_readyz_does_not_hang_on_a_silent_server(caplog: pytest.LogCaptureFixture) -> None:
    """A server that accepts but never answers: 503 within the connect timeout."""
    pytest.importorskip("MySQLdb")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = create_app(f"mysql+mysqldb://app:s3cret@127.0.0.1:{port}/posts").test_client()
    start = time.monotonic()
    try:
        resp = client.get("/readyz")
    finally:
        listener.close()
    assert time.monotonic() - start < db.CONNECT_TIMEOUT + 3
    assert resp.status_code == 503
    assert resp.get_data(as_text=True) == error_body(503, "database unavailable")
    assert f"app:***@127.0.0.1:{port}/posts" in caplog.text
    assert "s3cret" not in caplog.text


def test_unexpected_failure_is_500_revealing_nothing(
    tmp_path: Path, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """A row SQLite let through with a broken created_time: logged, not shown."""
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    assert run("reset-db", "--yes", url=url).exit_code == 0
    broken = db.make_engine(url)
    with db.transaction(broken) as conn:
        conn.execute(text("INSERT INTO post VALUES (1, 'x', 'a@b.c', 'garbage')"))
    broken.dispose()
    client = create_app(url).test_client()
    for path in ("/post/1", "/posts"):
        resp = client.get(path)
        assert resp.status_code == 500
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.get_data(as_text=True) == error_body(500, "internal server error")
    assert "Traceback" in caplog.text
    assert "garbage" in caplog.text


def test_openapi_describes_every_route(app: Flask) -> None:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    document = resp.get_json()
    assert document == openapi.document()
    assert document["openapi"].startswith("3.")
    routes = {rule.rule.replace("<int:post_id>", "{id}") for rule in app.url_map.iter_rules()}
    assert routes == set(document["paths"])
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {"error"}


def test_engine_is_per_process_across_fork(app: Flask, loaded: Engine) -> None:
    """A forked worker makes its own engine; the parent's pooled connection keeps working."""
    holder = engine_of(app)
    parent = holder.get()
    with db.transaction(parent) as conn:
        assert queries.count_rows(conn) == 5
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as a uWSGI worker forked after first use would be
        status = 1
        try:
            child = holder.get()
            with db.transaction(child) as conn:
                ok = child is not parent and holder.get() is child and queries.count_rows(conn) == 5
            status = 0 if ok else 2
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"\x00"
    os.waitpid(pid, 0)
    assert holder.get() is parent
    with db.transaction(parent) as conn:
        assert queries.count_rows(conn) == 5


def test_mysql_dropped_connection_is_retried_not_an_error(
    app: Flask, mysql_url: str, loaded: Engine
) -> None:
    """The web engine has no pre-ping: a read on a connection the server killed runs again."""
    client = app.test_client()
    assert client.get("/post/1").status_code == 200
    web_engine = engine_of(app).get()
    with web_engine.connect() as conn:
        conn_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    with loaded.connect() as other:
        other.execute(text(f"KILL {int(conn_id)}"))
    resp = client.get("/post/1")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200


def test_the_500_is_logged_once_by_the_app_with_its_traceback(
    tmp_path: Path, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    assert run("reset-db", "--yes", url=url).exit_code == 0
    broken = db.make_engine(url)
    with db.transaction(broken) as conn:
        conn.execute(text("INSERT INTO post VALUES (1, 'x', 'a@b.c', 'garbage')"))
    broken.dispose()
    app = create_app(url)
    resp = app.test_client().get("/post/1")
    assert (resp.status_code, resp.get_data(as_text=True)) == (
        500,
        error_body(500, "internal server error"),
    )
    assert resp.headers.getlist("Content-Type") == ["application/json"]
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(messages) == 1, messages  # ours, not Flask's fallback for a failing handler
    assert messages[0].startswith("GET /post/1 failed\nTraceback (most recent call last):\n")
    assert '\n  File "' in messages[0]  # the traceback's own lines, as Python prints them
    assert "garbage" in messages[0]
    engine_of(app).dispose()


def test_the_503_log_line_names_method_path_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    create_app(url).test_client().get("/readyz")
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"GET /readyz: {url}: database file {tmp_path / 'missing.db'} does not exist; "
        "run `postctl reset-db` first to create it"
    ]


def test_other_http_errors_keep_their_name_and_the_json_type(app: Flask) -> None:
    from werkzeug.exceptions import RequestURITooLarge

    from postctl.web import _http_error

    with app.test_request_context("/posts"):
        resp = _http_error(RequestURITooLarge())
    assert resp.status_code == 414
    assert resp.get_data(as_text=True) == error_body(414, "request uri too long")
    assert resp.headers.getlist("Content-Type") == ["application/json"]


def test_a_disposed_engine_is_made_again(app: Flask, loaded: Engine) -> None:
    holder = engine_of(app)
    first = holder.get()
    holder.dispose()
    assert holder.created is False
    again = holder.get()
    assert again is not first
    with db.transaction(again) as conn:
        assert queries.count_rows(conn) == 5


def test_each_worker_keeps_as_many_connections_as_threads(tmp_path: Path) -> None:
    """serve passes uWSGI's thread count: the pool keeps that many, not SQLAlchemy's 5."""
    from postctl.web import create_app, engine_of

    url = f"sqlite:///{tmp_path / 'p.db'}"
    schema.reset_db(db.make_engine(url, must_exist=False))
    holder = engine_of(create_app(url, pool_size=8))
    assert holder.get().pool.size() == 8  # type: ignore[attr-defined]
    holder.dispose()
