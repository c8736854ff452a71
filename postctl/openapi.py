"""The OpenAPI 3 document of the HTTP API: the contract web.py serves and the tests check."""

from __future__ import annotations

from typing import Any

from postctl import __version__

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1  # no page beyond this can hold a post: ids are signed 32-bit


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
}

RESPONSES: dict[str, Any] = {
    "BadRequest": _error("A query parameter is not valid."),
    "NotFound": _error("No such post, or an id that is not a positive integer."),
    "Unavailable": _error("The database does not answer; the detail is logged, not returned."),
    "Internal": _error("An unexpected failure; the detail is logged on stderr, not returned."),
}


def _operation(summary: str, ok: dict[str, Any], **errors: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok}
    responses.update({code: _ref("responses", name) for code, name in errors.items()})
    return {"get": {"summary": summary, "responses": responses}}


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
    },
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
                "Posts as JSON. Every error has the body of the Error schema; any path "
                "not listed here answers 404 and any method not listed 405, in that shape, "
                "and a request whose Host header is not a host name 400."
            ),
        },
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "responses": RESPONSES},
    }
