"""The write endpoints, POST /post and DELETE /post/<id>: for bearer token holders only.

A request is checked in the order a client can fix it: the token (401), the
body's size (413), type (415) and syntax (400), the post's values (422,
with the rules load-fixtures uses), then its Idempotency-Key (400, 409, 422).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Connection, Engine

from postctl import db, idempotency, output, rules, tokens, writes
from postctl.admin_schema import utc_now
from postctl.errors import DatabaseError
from postctl.web_base import ApiError, engine_of, token_cache_of

REALM = 'Bearer realm="postctl"'
KEY_HEADER = "Idempotency-Key"

api = Blueprint("writes", __name__)


class _Caller(NamedTuple):
    """Who is writing: the token, the time its request is checked at, the token cache."""

    token: tokens.Token
    now: datetime
    cache: tokens.Cache

    def touch(self, conn: Connection) -> None:
        """Record the token's use in the request's transaction (at most once a minute)."""
        tokens.touch(conn, self.token, self.now, self.cache)


@dataclass(frozen=True)
class _Claimed:
    """A POST whose Idempotency-Key is claimed: what its second transaction writes."""

    token: tokens.Token
    key: str
    row: rules.Row


@api.post("/post")
def create_post() -> Response:
    caller = _authenticate()
    value = _json_body()
    row = _checked(value)
    key = request.headers.get(KEY_HEADER)
    if key is not None and not idempotency.valid_key(key):
        raise ApiError(400, f"{KEY_HEADER} must be 1 to 255 visible ASCII characters")
    engine = engine_of(current_app).get()
    step = db.write(engine, lambda conn: _post_first(conn, caller, row, key, value))
    if not isinstance(step, _Claimed):
        return _respond(*step)
    try:
        result = db.write(engine, lambda conn: _post_claimed(conn, step))
    except Exception:
        _release(engine, step)
        raise
    return _respond(result)


def _post_first(
    conn: Connection, caller: _Caller, row: rules.Row, key: str | None, value: Any
) -> tuple[idempotency.Answer, bool] | _Claimed:
    """Write a checked POST; with a key, only claim it, or find its first answer.

    Return the answer and whether it is a replay, or the claim. Everything is
    read and checked before: a slow client never holds SQLite's write lock.
    """
    caller.touch(conn)  # kept if this commits
    if key is None:
        return _create(conn, row), False
    earlier = _claim(conn, caller, key, idempotency.fingerprint(value))
    return (earlier, True) if earlier is not None else _Claimed(caller.token, key, row)


def _post_claimed(conn: Connection, claimed: _Claimed) -> idempotency.Answer:
    """Write the post of a claimed key and store its answer, together."""
    result = _create(conn, claimed.row)
    idempotency.answer(conn, claimed.token.id, claimed.key, result)
    return result


@api.delete("/post/<int:post_id>")
def delete_post(post_id: int) -> Response:
    caller = _authenticate()

    def delete(conn: Connection) -> None:
        caller.touch(conn)
        writes.delete_post(conn, post_id)

    db.write(engine_of(current_app).get(), delete)
    response = Response(status=204)
    response.headers.remove("Content-Type")  # no content, so no type
    return response


def _authenticate() -> _Caller:
    """Return the request's active token, or answer 401 with the challenge of RFC 6750.

    The token rows come from the worker's cache (a query at most once a second
    per token), so checking a token costs no query on most requests.
    """
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(
            401,
            "this request needs a token: send Authorization: Bearer <token>",
            [("WWW-Authenticate", REALM)],
        )
    now, cache = utc_now(), token_cache_of(current_app)
    try:
        return _Caller(tokens.authenticate(credentials.strip(), now, cache), now, cache)
    except tokens.InvalidToken as err:
        challenge = f'{REALM}, error="invalid_token", error_description="{err}"'
        raise ApiError(401, str(err), [("WWW-Authenticate", challenge)]) from None


def _json_body() -> Any:
    """Return the parsed JSON body, or answer 413, 415 or 400."""
    data = request.get_data()  # over MAX_CONTENT_LENGTH: 413
    if not request.is_json:
        raise ApiError(415, "the body must be JSON: send Content-Type: application/json")
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        reason = f"{err.msg} (line {err.lineno}, column {err.colno})"
    except UnicodeDecodeError:
        reason = "not UTF-8"
    except (ValueError, RecursionError) as err:  # an integer too long, nesting too deep
        reason = str(err) if isinstance(err, ValueError) else "nested too deeply"
    raise ApiError(400, f"malformed JSON: {reason}")


def _checked(value: Any) -> rules.Row:
    """Check the body's values with the rules load-fixtures uses, or answer 422 naming each."""
    if not isinstance(value, dict):
        _invalid([(None, "the body must be a JSON object")])
    problems: list[tuple[str | None, str]] = []
    if "id" in value:
        problems.append(("id", "assigned by the server, not accepted"))
    try:
        row = rules.check_post({k: v for k, v in value.items() if k != "id"}, rules.now())
    except rules.InvalidPost as err:
        _invalid([*problems, *err.problems])
    problems += rules.unstorable(row, engine_of(current_app).get().dialect.name)  # NUL
    if problems:
        _invalid(problems)
    return row


def _invalid(problems: list[tuple[str | None, str]]) -> NoReturn:
    message = "; ".join(f"{field}: {reason}" if field else reason for field, reason in problems)
    errors = [{"field": field, "message": reason} for field, reason in problems]
    raise ApiError(422, f"invalid post: {message}", errors=errors)


def _create(conn: Connection, row: rules.Row) -> idempotency.Answer:
    post = writes.insert_post(conn, row)
    return idempotency.Answer(201, f"/post/{post.id}", output.post_json(post))


def _respond(result: idempotency.Answer, replayed: bool = False) -> Response:
    response = _Answer(result.body + "\n", status=result.status, mimetype="application/json")
    response.location_path = result.location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


class _Answer(Response):
    """A JSON answer whose Location is a path made here, /post/ID: ASCII, a URI already.

    werkzeug converts a Location header from an IRI to a URI as it sends it,
    which costs a sixth of a POST's Python; this path needs no conversion.
    """

    location_path: str | None = None

    def get_wsgi_headers(self, environ: Any) -> Any:
        headers = super().get_wsgi_headers(environ)
        if self.location_path:
            headers["Location"] = self.location_path
        return headers


def _claim(
    conn: Connection, caller: _Caller, key: str, request_digest: str
) -> idempotency.Answer | None:
    """Claim the key, or return the first answer, or answer 409 or 422."""
    try:
        return idempotency.claim(conn, caller.token.id, key, request_digest, caller.now)
    except idempotency.KeyReused:
        reason = "already used with a different body"
        raise ApiError(
            422,
            f"{KEY_HEADER} {reason}; use a new key for a new post",
            errors=[{"field": KEY_HEADER, "message": reason}],
        ) from None
    except idempotency.KeyInUse:
        raise ApiError(
            409,
            f"a request with this {KEY_HEADER} is still running; retry it later",
            [("Retry-After", "1")],
        ) from None


def _release(engine: Engine, claimed: _Claimed) -> None:
    """Let a retry run after a failed write; a claim left behind lapses on its own."""
    try:
        db.write(engine, lambda conn: idempotency.release(conn, claimed.token.id, claimed.key))
    except DatabaseError as err:
        current_app.logger.error("could not release %s after a failed POST: %s", KEY_HEADER, err)
