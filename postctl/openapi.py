"""The OpenAPI 3 document of the HTTP API: the contract web.py serves and the tests check."""

from __future__ import annotations

from typing import Any

from postctl import __version__
from postctl.rules import CONTENT_MAX_BYTES, EMAIL_MAX

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1  # no page beyond this can hold a post: ids are signed 32-bit
BEARER = "bearerAuth"
# What rules.parse_datetime accepts, as a regex, so that generated clients and
# property tests know a valid created_time: years from 1000, the days of each
# month, 29 February in leap years, hours to 23; empty means now.
_DATE = (
    r"[1-9]\d{3}-((0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
    r"|([1-9]\d(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00)-02-29"
)
# (?![\s\S]) ends the text in every regex dialect; Python's $ also matches before a final "\n".
_END = r"(?![\s\S])"
DATETIME_PATTERN = rf"^(({_DATE})[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?)?{_END}"
# Python's \s, which rules.EMAIL_RE means, spelled out: other dialects' \s differ.
PY_SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[^@{PY_SPACE}]+@[^@{PY_SPACE}]+{_END}"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("schemas", "Error"), description)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }


SCHEMAS: dict[str, Any] = {
    "Post": _object(
        {
            "id": {"type": "integer", "minimum": 1},
            "content": {"type": "string"},
            "author_email": {"type": "string", "maxLength": 100},
            "created_time": {
                "type": "string",
                "description": "ISO 8601 date and time as stored, without an offset.",
                "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
                "example": "2018-10-03T12:30:00",
            },
        }
    ),
    "PostPage": _object(
        {
            "posts": {"type": "array", "items": _ref("schemas", "Post")},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
        }
    ),
    "NewPost": {
        "type": "object",
        "required": ["content", "author_email"],
        "additionalProperties": False,
        "description": (
            "A post to create, checked by the rules `load-fixtures` uses; an `id` or any "
            "other field is an error."
        ),
        "properties": {
            "content": {
                "type": "string",
                "minLength": 1,
                "description": f"Not empty; at most {CONTENT_MAX_BYTES} bytes as UTF-8.",
            },
            "author_email": {
                "type": "string",
                "maxLength": EMAIL_MAX,
                "pattern": EMAIL_PATTERN,
                "description": "local@domain.",
            },
            "created_time": {
                "type": "string",
                "description": (
                    "A date and time without an offset, seconds optional, `T` or a space "
                    "between; year 1000 or later. Absent or empty: now."
                ),
                "pattern": DATETIME_PATTERN,
                "example": "2018-10-03T12:30:00",
            },
        },
    },
    "Service": _object({"service": {"type": "string"}, "version": {"type": "string"}}),
    "Status": _object({"status": {"type": "string"}}),
    "Error": _object(
        {
            "error": _object(
                {
                    "status": {"type": "integer", "description": "The HTTP status code."},
                    "message": {"type": "string", "description": "What went wrong, for people."},
                }
            )
        }
    ),
    "ValidationError": _object(
        {
            "error": _object(
                {
                    "status": {"type": "integer", "enum": [422]},
                    "message": {"type": "string", "description": "Every problem, for people."},
                    "errors": {
                        "type": "array",
                        "minItems": 1,
                        "items": _object(
                            {
                                "field": {
                                    "type": "string",
                                    "nullable": True,
                                    "description": "The field or header at fault; null: the body.",
                                },
                                "message": {"type": "string", "description": "What is wrong."},
                            }
                        ),
                    },
                }
            )
        }
    ),
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


RESPONSES: dict[str, Any] = {
    "BadRequest": _error("A query parameter is not valid."),
    "Malformed": _error(
        "The body is not well-formed JSON, or the Idempotency-Key is not 1 to 255 visible "
        "ASCII characters."
    ),
    "Unauthorized": {
        **_error(
            "No bearer token (the challenge has no error), or a token that is unknown, "
            'expired or revoked (`error="invalid_token"`).'
        ),
        "headers": {
            "WWW-Authenticate": _header(
                'RFC 6750: `Bearer realm="postctl"`, and `error="invalid_token"` with an '
                "`error_description` when a token was sent."
            )
        },
    },
    "Conflict": {
        **_error("The first request with this Idempotency-Key is still running; retry later."),
        "headers": {"Retry-After": _header("Seconds to wait.", {"type": "integer"})},
    },
    "TooLarge": _error("The body is larger than 1 MiB (1,048,576 bytes)."),
    "UnsupportedType": _error("The body is not sent as `Content-Type: application/json`."),
    "Unprocessable": _json(
        _ref("schemas", "ValidationError"),
        "A value breaks its rule (each field is named), or the Idempotency-Key was used "
        "with another body.",
    ),
    "NotFound": _error("No such post, or an id that is not a positive integer."),
    "Unavailable": _error("The database does not answer; the detail is logged, not returned."),
    "Internal": _error("An unexpected failure; the detail is logged on stderr, not returned."),
}


def _operation(
    summary: str, ok: dict[str, Any], method: str = "get", status: str = "200", **errors: str
) -> dict[str, Any]:
    responses: dict[str, Any] = {status: ok}
    responses.update({code: _ref("responses", name) for code, name in errors.items()})
    return {method: {"summary": summary, "responses": responses}}


def _write(operation: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Mark an operation as a write: it needs a bearer token and may answer 401."""
    ((method, op),) = operation.items()
    op["responses"]["401"] = _ref("responses", "Unauthorized")
    op["responses"] = dict(sorted(op["responses"].items()))
    return {method: {**op, "security": [{BEARER: []}], **extra}}


_CREATED = {
    **_json(_ref("schemas", "Post"), "Created: the post as `GET /post/{id}` answers it"),
    "headers": {
        "Location": {**_header("`/post/{id}` of the new post."), "required": True},
        "Idempotent-Replayed": _header(
            "`true` when this is the stored answer to an earlier request with the same "
            "Idempotency-Key (nothing was created).",
            {"type": "string", "enum": ["true"]},
        ),
    },
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: a request with the key and body of an earlier one (same token, "
        "within 24 hours) gets the first answer and creates nothing."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": f"^[!-~]+{_END}"},
}


def _int_query(name: str, description: str, default: int, maximum: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


PATHS: dict[str, Any] = {
    "/": _operation("Name and version of the service.", _json(_ref("schemas", "Service"), "OK")),
    "/healthz": _operation(
        "The process is up (no database access).", _json(_ref("schemas", "Status"), "Up")
    ),
    "/readyz": _operation(
        "The database answers and holds the post table.",
        _json(_ref("schemas", "Status"), "Ready"),
        **{"503": "Unavailable"},
    ),
    "/post/{id}": {
        "parameters": [
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer"},
                "example": 1,
            }
        ],
        **_operation(
            "One post; the same JSON as `postctl show-post ID --format json`.",
            _json(_ref("schemas", "Post"), "The post"),
            **{"404": "NotFound", "500": "Internal", "503": "Unavailable"},
        ),
        **_write(
            _operation(
                "Delete a post (needs a token).",
                {"description": "Deleted; no body."},
                "delete",
                "204",
                **{"404": "NotFound", "500": "Internal", "503": "Unavailable"},
            )
        ),
    },
    "/post": _write(
        _operation(
            "Create a post (needs a token); the answer is the post as `GET /post/{id}` gives it.",
            _CREATED,
            "post",
            "201",
            **{
                "400": "Malformed",
                "409": "Conflict",
                "413": "TooLarge",
                "415": "UnsupportedType",
                "422": "Unprocessable",
                "500": "Internal",
                "503": "Unavailable",
            },
        ),
        parameters=[_IDEMPOTENCY_KEY],
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", "NewPost")}},
        },
    ),
    "/posts": {
        "parameters": [
            _int_query("page", "Page number, from 1.", 1, MAX_PAGE),
            _int_query("per_page", "Posts per page.", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        ],
        **_operation(
            "A page of posts, newest first, with the total count.",
            _json(_ref("schemas", "PostPage"), "The page (empty past the last one)"),
            **{"400": "BadRequest", "500": "Internal", "503": "Unavailable"},
        ),
    },
    "/openapi.json": _operation(
        "This document.", _json({"type": "object"}, "The OpenAPI document")
    ),
}


def document() -> dict[str, Any]:
    """Return the OpenAPI document of the postctl HTTP API."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "postctl",
            "version": __version__,
            "description": (
                "Posts as JSON. Reading needs nothing; writing (POST /post, DELETE "
                "/post/{id}) needs a bearer token made with `postctl token create`. Every "
                "error has the body of the Error schema (a 422, of ValidationError); any "
                "path not listed here answers 404 and any method not listed 405, in that "
                "shape."
            ),
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A token from `postctl token create` (`pctl_` and 54 characters), "
                        "sent as `Authorization: Bearer <token>`."
                    ),
                }
            },
        },
    }
