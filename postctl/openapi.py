"""The OpenAPI 3 document of the HTTP API: the contract web.py serves and the tests check."""

from __future__ import annotations

from typing import Any

from postctl import __version__, openapi_writes
from postctl.openapi_parts import closed_object, error, error_schema, json_content, operation, ref

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1  # no page beyond this can hold a post: ids are signed 32-bit


SCHEMAS: dict[str, Any] = {
    "Post": closed_object(
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
    "PostPage": closed_object(
        {
            "posts": {"type": "array", "items": ref("schemas", "Post")},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
        }
    ),
    "Service": closed_object({"service": {"type": "string"}, "version": {"type": "string"}}),
    "Status": closed_object({"status": {"type": "string"}}),
    "Error": error_schema(),
    **openapi_writes.SCHEMAS,
}


RESPONSES: dict[str, Any] = {
    "BadRequest": error("A query parameter is not valid."),
    **openapi_writes.RESPONSES,
    "NotFound": error("No such post, or an id that is not a positive integer."),
    "Unavailable": error("The database does not answer; the detail is logged, not returned."),
    "Internal": error("An unexpected failure; the detail is logged on stderr, not returned."),
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
    "/": operation(
        "Name and version of the service.", json_content(ref("schemas", "Service"), "OK")
    ),
    "/healthz": operation(
        "The process is up (no database access).", json_content(ref("schemas", "Status"), "Up")
    ),
    "/readyz": operation(
        "The database answers and holds the post table.",
        json_content(ref("schemas", "Status"), "Ready"),
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
        **operation(
            "One post; the same JSON as `postctl show-post ID --format json`.",
            json_content(ref("schemas", "Post"), "The post"),
            **{"404": "NotFound", "500": "Internal", "503": "Unavailable"},
        ),
        **openapi_writes.DELETE_POST,
    },
    "/post": openapi_writes.CREATE_POST,
    "/posts": {
        "parameters": [
            _int_query("page", "Page number, from 1.", 1, MAX_PAGE),
            _int_query("per_page", "Posts per page.", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        ],
        **operation(
            "A page of posts, newest first, with the total count.",
            json_content(ref("schemas", "PostPage"), "The page (empty past the last one)"),
            **{"400": "BadRequest", "500": "Internal", "503": "Unavailable"},
        ),
    },
    "/openapi.json": operation(
        "This document.", json_content({"type": "object"}, "The OpenAPI document")
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
                "shape, and a request whose Host header is not a host name 400."
            ),
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": openapi_writes.SECURITY_SCHEMES,
        },
    }
