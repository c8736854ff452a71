"""Hostile HTTP: generated methods, paths, query strings, headers and bodies against the app.

Schemathesis (test_api_schema.py) covers the documented operations; this covers the
rest: unknown paths, odd methods, malformed percent-encoding, over-long URLs, any
header, any body. Every answer has a status the OpenAPI document lists for what was
asked (any unlisted path 404, any unlisted method 405), never a 500, every error body
of the schema the document gives it, and nothing of a module, file or SQL in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from werkzeug.test import EnvironBuilder, run_wsgi_app

from postctl import openapi
from postctl.web import create_app, engine_of
from tests.hostile import LEAKS, examples

DOCUMENT = openapi.document()
# The document's own words: "any path not listed here answers 404 and any method not listed 405".
UNLISTED = {404, 405}
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
SEGMENTS = st.one_of(
    st.sampled_from(["post", "posts", "healthz", "readyz", "openapi.json", "static", ""]),
    st.integers(-5, 2**64).map(str),
    st.sampled_from(["%", "%zz", "%2F", "%00", "%C3%28", "%ff", "..", ".", "1.0", "\u0661"]),
    st.text(st.characters(codec="latin-1"), max_size=10),
    st.text(min_size=2000, max_size=4000, alphabet="ab%/"),  # over-long
)
ID_SEGMENTS = st.one_of(st.integers(-5, 8).map(str), SEGMENTS)
DOCUMENTED = st.tuples(
    st.sampled_from(sorted(DOCUMENT["paths"])), ID_SEGMENTS, st.sampled_from(["", "/", "/x"])
).map(lambda t: t[0].replace("{id}", t[1]) + (t[2] if t[0] != "/" else ""))
PATHS = st.one_of(
    DOCUMENTED,
    DOCUMENTED.map(lambda p: p.rstrip("/") or "/"),
    st.lists(SEGMENTS, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s)),
)
QUERIES = st.one_of(
    st.just(""),
    st.lists(
        st.tuples(
            st.sampled_from(["page", "per_page", "x", ""]),
            st.one_of(st.integers(-5, 2**40).map(str), st.text(st.characters(codec="latin-1"))),
        ),
        max_size=4,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.text(st.characters(codec="latin-1"), max_size=40),
)
HEADER_VALUES = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40)
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            *("HTTP_ACCEPT", "HTTP_HOST", "HTTP_X_FORWARDED_FOR", "CONTENT_TYPE"),
            *("CONTENT_LENGTH", "HTTP_IF_NONE_MATCH", "HTTP_RANGE", "HTTP_AUTHORIZATION"),
        ]
    ),
    st.one_of(HEADER_VALUES, st.sampled_from(["application/json", "-1", "99999999999", "0"])),
    max_size=4,
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
)


def documented_statuses(method: str, path: str) -> set[int]:
    """The statuses the OpenAPI document gives for this method on this path."""
    statuses = set(UNLISTED)
    for template, item in DOCUMENT["paths"].items():
        pattern = re.escape(template).replace(re.escape("{id}"), "[^/]+")
        if re.fullmatch(pattern, path, re.S):
            for name in {method.lower(), "get" if method == "HEAD" else ""} & set(item):
                statuses |= {int(code) for code in item[name]["responses"]}
    return statuses


@pytest.fixture
def app(db_url: str, loaded: Engine) -> Iterator[Flask]:
    flask_app = create_app(db_url)
    yield flask_app
    engine_of(flask_app).dispose()


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.one_of(
        st.just("GET"),
        st.sampled_from(METHODS),
        st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True),
    ),
    path=PATHS,
    query=QUERIES,
    headers=HEADERS,
    body=BODIES,
)
def test_any_request_gets_a_documented_status_and_the_one_error_shape(
    app: Flask,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    note(f"request: {method} {path!r} query={query!r} headers={headers!r} body={body!r}")
    path = path.encode("utf-8").decode("latin-1")
    query = query.encode("utf-8").decode("latin-1")
    builder = EnvironBuilder(method=method, data=body)
    environ: dict[str, Any] = builder.get_environ()
    builder.close()
    # Raw, as a server hands them over: PATH_INFO percent-decoded or not, any bytes as Latin-1.
    environ.update(headers, PATH_INFO=path, QUERY_STRING=query, REQUEST_URI=f"{path}?{query}")
    chunks, status_line, response_headers = run_wsgi_app(app, environ)
    status = int(status_line.split()[0])
    text = b"".join(chunks).decode("utf-8")
    event(f"status {status}")
    assert status != 500, text
    statuses = documented_statuses(method.upper(), app_path(environ))
    if "HTTP_HOST" in headers:  # the document: "a request whose Host header is not a host name"
        statuses.add(400)
    assert status in statuses, (status, path, text)
    if method.upper() == "HEAD":
        assert text == ""
        return
    assert response_headers.get("Content-Type") == "application/json", text
    value = json.loads(text)
    if status >= 400:
        jsonschema.validate(value, error_schema(method.upper(), app_path(environ), status))
        assert value["error"]["status"] == status
        # Nothing of the code in the message: what is left once the client's own
        # method and path, which a 404 or 405 repeats, are taken out.
        told = value["error"]["message"].replace(app_path(environ), "").replace(method, "")
        assert LEAKS.search(told) is None, value["error"]["message"]


def error_schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The schema the document gives this error's body (Error where it lists none)."""
    ref = "#/components/schemas/Error"
    for template, item in DOCUMENT["paths"].items():
        pattern = re.escape(template).replace(re.escape("{id}"), "[^/]+")
        operation = item.get(method.lower()) if re.fullmatch(pattern, path, re.S) else None
        response = (operation or {}).get("responses", {}).get(str(status))
        if response:
            name = response.get("$ref", "").rsplit("/", 1)[-1]
            response = DOCUMENT["components"]["responses"].get(name, response)
            ref = response["content"]["application/json"]["schema"]["$ref"]
    return {"$ref": ref, "components": DOCUMENT["components"]}


def app_path(environ: dict[str, Any]) -> str:
    """The path as the app routes it: PATH_INFO's bytes read as UTF-8, repeated slashes as one."""
    raw: str = environ["PATH_INFO"]
    return re.sub("/+", "/", raw.encode("latin-1").decode("utf-8", "replace"))
