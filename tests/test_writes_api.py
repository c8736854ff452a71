"""POST /post and DELETE /post/ID through Flask's test client: every answer exactly, every 4xx.

On SQLite, and on MariaDB when POSTCTL_TEST_DATABASE_URL names one.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, text, update

from postctl import db, idempotency, openapi_writes, queries, rules, schema, tokens
from postctl.admin_schema import api_token, idempotency_key, utc_now
from postctl.web import MAX_BODY_BYTES, create_app, engine_of

REALM = 'Bearer realm="postctl"'
NEW = {"content": "Hello, 한국어 🚀", "author_email": "writer@example.com"}


def error_body(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"status": status, "message": message}
    if errors is not None:
        error["errors"] = errors
    return (json.dumps({"error": error}, ensure_ascii=False) + "\n").encode("utf-8")


@pytest.fixture
def app(db_url: str, engine: Engine) -> Iterator[Flask]:
    """The app on a freshly reset database: no posts, no tokens."""
    flask_app = create_app(db_url)
    yield flask_app
    engine_of(flask_app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(engine: Engine, name: str = "ci", expires_in: timedelta | None = None) -> str:
    with db.transaction(engine) as conn:
        return tokens.create(conn, name, expires_in or tokens.DEFAULT_EXPIRY)[0]


@pytest.fixture
def token(engine: Engine) -> str:
    return make_token(engine)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def count(engine: Engine) -> int:
    with db.transaction(engine) as conn:
        return queries.count_rows(conn)


def stored_keys(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        query = select(idempotency_key.c.idem_key, idempotency_key.c.status)
        return [tuple(r) for r in conn.execute(query.order_by(idempotency_key.c.idem_key))]


def test_post_answers_201_with_the_post_as_get_shows_it(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    body = {**NEW, "created_time": "2018-10-03T12:30:00"}
    resp = client.post("/post", json=body, headers=bearer(token))
    assert resp.status_code == 201, resp.data
    assert resp.headers["Location"] == "/post/1"
    assert resp.headers["Content-Type"] == "application/json"
    assert (
        resp.data
        == (
            '{"id": 1, "content": "Hello, 한국어 🚀", "author_email": "writer@example.com", '
            '"created_time": "2018-10-03T12:30:00"}\n'
        ).encode()
    )
    assert client.get("/post/1").data == resp.data
    assert count(engine) == 1


def test_post_without_a_time_is_stamped_now_and_ids_ascend(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    first = client.post("/post", json=NEW, headers=bearer(token))
    second = client.post("/post", json={**NEW, "created_time": ""}, headers=bearer(token))
    assert [first.status_code, second.status_code] == [201, 201]
    assert [first.json["id"], second.json["id"]] == [1, 2]  # type: ignore[index]
    with db.transaction(engine) as conn:
        stamped = queries.get_post(conn, 1).created_time
    assert abs((stamped - utc_now()).total_seconds()) < 24 * 3600  # local time, to the second
    assert client.get("/post/1").data == first.data


def test_a_space_before_the_time_and_no_seconds_are_accepted(
    client: FlaskClient, token: str
) -> None:
    resp = client.post(
        "/post", json={**NEW, "created_time": "2020-02-29 23:59"}, headers=bearer(token)
    )
    assert resp.status_code == 201, resp.data
    assert resp.json["created_time"] == "2020-02-29T23:59:00"  # type: ignore[index]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "pctl_only"}],
    ids=["none", "basic", "no-scheme"],
)
def test_a_write_without_a_bearer_token_is_401_with_the_realm(
    client: FlaskClient, engine: Engine, token: str, method: str, headers: dict[str, str]
) -> None:
    path = "/post" if method == "POST" else "/post/1"
    resp = client.open(path, method=method, json=NEW, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == REALM
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == error_body(
        401, "this request needs a token: send Authorization: Bearer <token>"
    )
    assert count(engine) == 0


def invalid(reason: str) -> tuple[str, bytes]:
    challenge = f'{REALM}, error="invalid_token", error_description="{reason}"'
    return challenge, error_body(401, reason)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_wrong_token_is_401_invalid_token(
    client: FlaskClient, engine: Engine, token: str, method: str
) -> None:
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")  # same display prefix
    for presented in (wrong, "pctl_x", "", "not-a-token", token + " "):
        path = "/post" if method == "POST" else "/post/1"
        resp = client.open(path, method=method, json=NEW, headers=bearer(presented))
        if presented == token + " ":  # surrounding spaces are not part of the token
            assert resp.status_code in (201, 404)
            continue
        assert resp.status_code == 401, presented
        assert (resp.headers["WWW-Authenticate"], resp.data) == invalid("unknown token")


def test_an_expired_token_is_401_invalid_token(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    with db.transaction(engine) as conn:
        conn.execute(update(api_token).values(expires=utc_now() - timedelta(seconds=1)))
    resp = client.post("/post", json=NEW, headers=bearer(token))
    assert resp.status_code == 401
    assert (resp.headers["WWW-Authenticate"], resp.data) == invalid("token expired")
    assert count(engine) == 0


def test_a_revoked_token_is_401_invalid_token(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    with db.transaction(engine) as conn:
        tokens.revoke(conn, "ci")
    time.sleep(tokens.CACHE_SECONDS)  # what a worker read of the token, it trusts a second
    for method, path in (("POST", "/post"), ("DELETE", "/post/1")):
        resp = client.open(path, method=method, json=NEW, headers=bearer(token))
        assert resp.status_code == 401
        assert (resp.headers["WWW-Authenticate"], resp.data) == invalid("token revoked")
    assert count(engine) == 1


def test_a_fresh_install_is_read_only(client: FlaskClient, engine: Engine) -> None:
    """No token in the database: every write is refused, every read answered."""
    made_elsewhere = tokens.generate()
    assert client.post("/post", json=NEW).status_code == 401
    resp = client.post("/post", json=NEW, headers=bearer(made_elsewhere))
    assert (resp.status_code, resp.data) == (401, invalid("unknown token")[1])
    assert client.get("/posts").status_code == 200
    assert client.get("/post/1").status_code == 404


def test_only_the_digest_is_stored(engine: Engine, token: str) -> None:
    with engine.connect() as conn:
        row = conn.execute(select(api_token)).one()
    assert token not in " ".join(str(v) for v in row)
    assert row.digest == tokens.digest(token)
    assert row.prefix == token[: tokens.PREFIX_LENGTH]


def test_malformed_json_is_400(client: FlaskClient, engine: Engine, token: str) -> None:
    cases = [
        (b'{"content": "x",', "malformed JSON: Expecting property name enclosed in double quotes "
         "(line 1, column 17)"),
        (b"", "malformed JSON: Expecting value (line 1, column 1)"),
        (b'{"content": "\xff"}', "malformed JSON: not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON: nested too deeply"),
        (b"1" * 5000, "malformed JSON: Exceeds the limit (4300 digits) for integer string "
         "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the "
         "limit"),
    ]  # fmt: skip
    for data, message in cases:
        resp = client.post(
            "/post", data=data, content_type="application/json", headers=bearer(token)
        )
        assert resp.status_code == 400, data[:20]
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.data == error_body(400, message)
    assert count(engine) == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"]
)
def test_a_body_that_is_not_json_is_415(
    client: FlaskClient, engine: Engine, token: str, content_type: str | None
) -> None:
    resp = client.post(
        "/post", data=json.dumps(NEW), content_type=content_type, headers=bearer(token)
    )
    assert resp.status_code == 415
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == error_body(
        415, "the body must be JSON: send Content-Type: application/json"
    )
    assert count(engine) == 0


def test_json_with_a_charset_or_a_json_suffix_is_json(client: FlaskClient, token: str) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        resp = client.post(
            "/post", data=json.dumps(NEW), content_type=content_type, headers=bearer(token)
        )
        assert resp.status_code == 201, content_type


def test_a_body_over_the_limit_is_413_and_one_at_it_is_read(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    over = b" " * (MAX_BODY_BYTES + 1)
    resp = client.post("/post", data=over, content_type="application/json", headers=bearer(token))
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == error_body(413, "the body is larger than 1048576 bytes")
    at = json.dumps({**NEW, "content": "x" * 100}).encode().ljust(MAX_BODY_BYTES)
    resp = client.post("/post", data=at, content_type="application/json", headers=bearer(token))
    assert resp.status_code == 201
    assert count(engine) == 1


def test_the_body_limit_is_1_mib() -> None:
    assert MAX_BODY_BYTES == 1 << 20
    assert create_app("sqlite://").config["MAX_CONTENT_LENGTH"] == MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [("content", "missing"), ("author_email", "missing")]),
        (
            {"content": "", "author_email": "no-at-sign"},
            [
                ("content", "must not be empty"),
                ("author_email", "not an email address of the form local@domain"),
            ],
        ),
        (
            {**NEW, "id": 7, "likes": 3},
            [("id", "assigned by the server, not accepted"), ("likes", "unknown column")],
        ),
        ({**NEW, "content": 5}, [("content", "not text")]),
        ({**NEW, "author_email": None}, [("author_email", "not text")]),
        ({**NEW, "content": "x" * 65536}, [("content", "longer than 65535 bytes")]),
        (
            {**NEW, "author_email": "a" * 95 + "@b.com"},
            [("author_email", "longer than 100 characters (101)")],
        ),
        ({**NEW, "content": "\ud800"}, [("content", "not valid Unicode text (a lone surrogate)")]),
        (
            {**NEW, "created_time": "2018-02-30T00:00:00"},
            [("created_time", "not a valid datetime (day is out of range for month)")],
        ),
        (
            {**NEW, "created_time": "yesterday"},
            [
                (
                    "created_time",
                    "not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00",
                )
            ],
        ),
        ({**NEW, "created_time": "0999-01-01T00:00:00"}, [("created_time", "year before 1000")]),
        ([NEW], [(None, "the body must be a JSON object")]),
        ("text", [(None, "the body must be a JSON object")]),
    ],
)
def test_invalid_values_are_422_naming_each_field(
    client: FlaskClient, engine: Engine, token: str, body: Any, errors: list[tuple[str, str]]
) -> None:
    resp = client.post("/post", json=body, headers=bearer(token))
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/json"
    message = "; ".join(f"{f}: {m}" if f else m for f, m in errors)
    assert resp.data == error_body(
        422, f"invalid post: {message}", [{"field": f, "message": m} for f, m in errors]
    )
    assert count(engine) == 0


def test_the_order_of_checks_is_401_413_415_400_422(client: FlaskClient, token: str) -> None:
    too_big = b"x" * (MAX_BODY_BYTES + 1)
    assert client.post("/post", data=too_big, content_type="text/plain").status_code == 401
    resp = client.post("/post", data=too_big, content_type="text/plain", headers=bearer(token))
    assert resp.status_code == 413
    resp = client.post("/post", data=b"{", content_type="text/plain", headers=bearer(token))
    assert resp.status_code == 415
    resp = client.post("/post", data=b"{", content_type="application/json", headers=bearer(token))
    assert resp.status_code == 400
    key = bearer(token, **{"Idempotency-Key": " "})
    assert client.post("/post", json={}, headers=key).status_code == 422


def test_delete_is_204_without_a_body_then_404(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    for _ in range(2):
        assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    resp = client.delete("/post/1", headers=bearer(token))
    assert resp.status_code == 204
    assert resp.data == b""
    assert "Content-Type" not in resp.headers
    assert client.get("/post/1").status_code == 404
    assert count(engine) == 1
    for post_id in ("1", "99", "0", "99999999999999999999"):
        resp = client.delete(f"/post/{post_id}", headers=bearer(token))
        assert resp.status_code == 404
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.data == error_body(404, f"post {post_id} not found")
    assert count(engine) == 1


def test_other_methods_are_405_naming_the_allowed_ones(client: FlaskClient, token: str) -> None:
    resp = client.put("/post/1", json=NEW, headers=bearer(token))
    assert resp.status_code == 405
    assert sorted(resp.headers["Allow"].split(", ")) == ["DELETE", "GET", "HEAD"]
    for method in ("GET", "PUT", "DELETE"):
        resp = client.open("/post", method=method, headers=bearer(token))
        assert resp.status_code == 405
        assert resp.headers["Allow"] == "POST"
        assert resp.data == error_body(405, f"method {method} not allowed for /post")


def test_no_token_can_be_managed_over_http(client: FlaskClient, token: str) -> None:
    for path in ("/token", "/tokens", "/api_token", "/token/ci"):
        for method in ("GET", "POST", "DELETE"):
            assert client.open(path, method=method, headers=bearer(token)).status_code == 404


def test_last_used_is_written_at_most_once_a_minute(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    def last_used() -> Any:
        with engine.connect() as conn:
            return conn.execute(select(api_token.c.last_used)).scalar_one()

    assert last_used() is None
    assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    first = last_used()
    assert first is not None and abs((first - utc_now()).total_seconds()) < 5
    recent = utc_now() - timedelta(seconds=50)
    with db.transaction(engine) as conn:
        conn.execute(update(api_token).values(last_used=recent))
    assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    assert client.delete("/post/1", headers=bearer(token)).status_code == 204
    assert last_used() == recent
    with db.transaction(engine) as conn:
        conn.execute(update(api_token).values(last_used=utc_now() - timedelta(seconds=61)))
    time.sleep(tokens.CACHE_SECONDS)  # until the worker reads the row again
    assert client.delete("/post/2", headers=bearer(token)).status_code == 204
    assert abs((last_used() - utc_now()).total_seconds()) < 5


def keyed(token: str, key: str = "order-17") -> dict[str, str]:
    return bearer(token, **{"Idempotency-Key": key})


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    first = client.post("/post", json=NEW, headers=keyed(token))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # The same JSON, keys in another order and spaced otherwise, is the same body.
    same = json.dumps(dict(reversed(NEW.items())), indent=2)
    retry = client.post("/post", data=same, content_type="application/json", headers=keyed(token))
    assert retry.status_code == 201
    assert retry.data == first.data
    assert retry.headers["Location"] == first.headers["Location"] == "/post/1"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(engine) == 1
    assert stored_keys(engine) == [("order-17", 201)]


def test_the_same_key_with_another_body_is_422(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    assert client.post("/post", json=NEW, headers=keyed(token)).status_code == 201
    resp = client.post("/post", json={**NEW, "content": "Other"}, headers=keyed(token))
    assert resp.status_code == 422
    assert resp.data == error_body(
        422,
        "Idempotency-Key already used with a different body; use a new key for a new post",
        [{"field": "Idempotency-Key", "message": "already used with a different body"}],
    )
    assert count(engine) == 1


def claim(engine: Engine, key: str, body: Any, age: timedelta, status: int | None = None) -> None:
    """Store a key as a request would have: claimed `age` ago, answered if status is given."""
    with db.transaction(engine) as conn:
        token_id = conn.execute(select(api_token.c.id)).scalar_one()
        conn.execute(
            idempotency_key.insert().values(
                token_id=token_id,
                idem_key=key,
                fingerprint=idempotency.fingerprint(body),
                created=utc_now() - age,
                status=status,
                location="/post/999" if status else None,
                body='{"id": 999}' if status else None,
            )
        )


def test_a_retry_while_the_first_runs_is_409(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    claim(engine, "order-17", NEW, timedelta(seconds=5))
    resp = client.post("/post", json=NEW, headers=keyed(token))
    assert resp.status_code == 409
    assert resp.headers["Retry-After"] == "1"
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == error_body(
        409, "a request with this Idempotency-Key is still running; retry it later"
    )
    assert count(engine) == 0


def test_a_claim_blocked_by_a_running_retry_is_in_use_not_a_server_error(
    server_url: str | None, engine: Engine, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two retries inserting the same key at once: the second waits on the first's
    # row lock, and running out of patience must read as "in use" (409), not a 503.
    if not server_url:
        pytest.skip("needs a server with row locks: set POSTCTL_TEST_DATABASE_URL")
    monkeypatch.setattr(idempotency, "_last_purge", time.monotonic())  # no purge to wait on
    with engine.connect() as first, engine.connect() as second:
        token_id = first.execute(select(api_token.c.id)).scalar_one()
        first.execute(  # uncommitted: holds the key's row lock
            idempotency_key.insert().values(
                token_id=token_id, idem_key="order-17", fingerprint="x", created=utc_now()
            )
        )
        if db.is_mysql(server_url):
            second.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
        else:
            second.execute(text("SET lock_timeout = '1s'"))
        with pytest.raises(idempotency.KeyInUse):
            idempotency.claim(second, token_id, "order-17", "y", utc_now())
        first.rollback()


def test_a_claim_abandoned_for_a_minute_is_taken_over(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    claim(engine, "order-17", NEW, idempotency.ABANDONED_AFTER + timedelta(seconds=1))
    resp = client.post("/post", json=NEW, headers=keyed(token))
    assert (resp.status_code, resp.headers["Location"]) == (201, "/post/1")
    assert stored_keys(engine) == [("order-17", 201)]


def test_keys_live_24_hours(client: FlaskClient, engine: Engine, token: str) -> None:
    claim(engine, "young", NEW, idempotency.TTL - timedelta(minutes=1), status=201)
    claim(engine, "old", NEW, idempotency.TTL + timedelta(seconds=1), status=201)
    young = client.post("/post", json=NEW, headers=keyed(token, "young"))
    assert (young.status_code, young.data) == (201, b'{"id": 999}\n')
    assert young.headers["Idempotent-Replayed"] == "true"
    old = client.post("/post", json=NEW, headers=keyed(token, "old"))
    assert (old.status_code, old.headers["Location"]) == (201, "/post/1")
    assert "Idempotent-Replayed" not in old.headers
    assert count(engine) == 1


def test_keys_belong_to_one_token(client: FlaskClient, engine: Engine, token: str) -> None:
    other = make_token(engine, "other")
    first = client.post("/post", json=NEW, headers=keyed(token))
    second = client.post("/post", json=NEW, headers=keyed(other))
    assert [first.headers["Location"], second.headers["Location"]] == ["/post/1", "/post/2"]
    assert "Idempotent-Replayed" not in second.headers


@pytest.mark.parametrize("key", ["", " ", "with space", "x" * 256, "tab\there"])
def test_a_bad_idempotency_key_is_400(
    client: FlaskClient, engine: Engine, token: str, key: str
) -> None:
    resp = client.post("/post", json=NEW, headers=keyed(token, key))
    assert resp.status_code == 400
    assert resp.data == error_body(400, "Idempotency-Key must be 1 to 255 visible ASCII characters")
    assert count(engine) == 0


def test_a_key_of_255_characters_is_fine(client: FlaskClient, token: str) -> None:
    resp = client.post("/post", json=NEW, headers=keyed(token, "~" * 255))
    assert resp.status_code == 201


def test_invalid_values_are_422_before_a_key_is_stored(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    resp = client.post("/post", json={"content": ""}, headers=keyed(token))
    assert resp.status_code == 422
    assert stored_keys(engine) == []
    assert client.post("/post", json=NEW, headers=keyed(token)).status_code == 201


def test_a_failed_write_lets_go_of_its_key(
    client: FlaskClient, engine: Engine, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The post table gone: 503, and the key is free for a retry once it is back."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE post"))
    resp = client.post("/post", json=NEW, headers=keyed(token))
    assert (resp.status_code, resp.data) == (503, error_body(503, "database unavailable"))
    assert stored_keys(engine) == []
    with engine.begin() as conn:
        schema.post.create(conn)
    resp = client.post("/post", json=NEW, headers=keyed(token))
    assert (resp.status_code, resp.headers["Location"]) == (201, "/post/1")


def test_reset_db_forgets_the_answers_but_keeps_the_tokens(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    assert client.post("/post", json=NEW, headers=keyed(token)).status_code == 201
    schema.reset_db(engine)
    assert stored_keys(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_token)).scalar_one() == 1
    resp = client.post("/post", json={**NEW, "content": "after"}, headers=keyed(token))
    assert (resp.status_code, resp.headers["Location"]) == (201, "/post/1")


def test_the_id_of_a_deleted_post_is_never_given_again(
    client: FlaskClient, engine: Engine, token: str
) -> None:
    for _ in range(2):
        assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    assert client.delete("/post/2", headers=bearer(token)).status_code == 204
    resp = client.post("/post", json=NEW, headers=bearer(token))
    assert resp.headers["Location"] == "/post/3"


def test_the_documented_patterns_are_the_rules() -> None:
    """The OpenAPI patterns accept exactly what rules.py accepts, so clients can trust them."""
    space = re.compile(f"[{openapi_writes.PY_SPACE}]")
    assert all(bool(space.match(chr(c))) is chr(c).isspace() for c in range(sys.maxunicode + 1))
    when = re.compile(openapi_writes.DATETIME_PATTERN)
    for year in (999, 1000, 1600, 1700, 1900, 2000, 2024, 2100, 9999):
        for month in range(14):
            for day in range(33):
                for time_ in ("23:59", "00:00:00", "24:00", "12:60"):
                    value = f"{year:04d}-{month:02d}-{day:02d}T{time_}"
                    try:
                        rules.parse_datetime(value)
                        valid = True
                    except rules.InvalidValue:
                        valid = False
                    assert bool(when.search(value)) is valid, value
    assert when.search("") and not when.search("2018-10-03T12:30\n")
    email = re.compile(openapi_writes.EMAIL_PATTERN)
    for value in ("a@b", "a@b\n", "a b@c", "a@@b", "@b", "a@", "a\x1c@b", "ü@ß"):
        assert bool(email.search(value)) is bool(rules.EMAIL_RE.fullmatch(value)), value


@pytest.mark.parametrize(
    "content",
    [
        "trailing spaces   ",
        "  leading, and a tab\tinside",
        "lines\r\nwith CRLF\rand CR\n",
        "한국어 🚀 — “quotes” \\ backslash",
        "x" * 65535,
        "가" * (65535 // 3),
    ],
    ids=["trailing", "leading-tab", "newlines", "unicode", "max-ascii", "max-korean"],
)
def test_the_answer_is_the_post_as_stored(client: FlaskClient, token: str, content: str) -> None:
    body = {"content": content, "author_email": "x" * 88 + "@example.com"}
    resp = client.post("/post", json=body, headers=bearer(token))
    assert resp.status_code == 201, resp.data[:200]
    assert client.get(resp.headers["Location"]).data == resp.data


def test_a_write_on_a_connection_the_server_dropped_runs_again(
    app: Flask, client: FlaskClient, mysql_url: str, engine: Engine, token: str
) -> None:
    """The web engine has no pre-ping: a write that finds its pooled connection gone retries."""
    assert client.post("/post", json=NEW, headers=bearer(token)).status_code == 201
    with engine_of(app).get().connect() as conn:
        conn_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    with engine.connect() as other:
        other.execute(text(f"KILL {int(conn_id)}"))
    resp = client.post("/post", json=NEW, headers=bearer(token))
    assert (resp.status_code, resp.headers["Location"]) == (201, "/post/2"), resp.data
    assert count(engine) == 2
