"""The OpenAPI description of the writes: POST /post, DELETE /post/{id}, the bearer scheme."""

from __future__ import annotations

from typing import Any

from postctl.openapi_parts import (
    closed_object,
    error,
    error_schema,
    header,
    json_content,
    operation,
    ref,
)
from postctl.rules import CONTENT_MAX_BYTES, EMAIL_MAX

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
KEY_PATTERN = rf"^[!-~]+{_END}"

SCHEMAS: dict[str, Any] = {
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
    "ValidationError": error_schema(
        errors={
            "type": "array",
            "minItems": 1,
            "items": closed_object(
                {
                    "field": {
                        "type": "string",
                        "nullable": True,
                        "description": "The field or header at fault; null: the body.",
                    },
                    "message": {"type": "string", "description": "What is wrong."},
                }
            ),
        }
    ),
}

RESPONSES: dict[str, Any] = {
    "Malformed": error(
        "The body is not well-formed JSON, or the Idempotency-Key is not 1 to 255 visible "
        "ASCII characters."
    ),
    "Unauthorized": {
        **error(
            "No bearer token (the challenge has no error), or a token that is unknown, "
            'expired or revoked (`error="invalid_token"`).'
        ),
        "headers": {
            "WWW-Authenticate": header(
                'RFC 6750: `Bearer realm="postctl"`, and `error="invalid_token"` with an '
                "`error_description` when a token was sent."
            )
        },
    },
    "Conflict": {
        **error("The first request with this Idempotency-Key is still running; retry later."),
        "headers": {"Retry-After": header("Seconds to wait.", {"type": "integer"})},
    },
    "TooLarge": error("The body is larger than 1 MiB (1,048,576 bytes)."),
    "UnsupportedType": error("The body is not sent as `Content-Type: application/json`."),
    "Unprocessable": json_content(
        ref("schemas", "ValidationError"),
        "A value breaks its rule (each field is named), or the Idempotency-Key was used "
        "with another body.",
    ),
}

SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "A token from `postctl token create` (`pctl_` and 54 characters), "
            "sent as `Authorization: Bearer <token>`."
        ),
    }
}


def _write(operation_: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Mark an operation as a write: it needs a bearer token and may answer 401."""
    ((method, op),) = operation_.items()
    op["responses"]["401"] = ref("responses", "Unauthorized")
    op["responses"] = dict(sorted(op["responses"].items()))
    return {method: {**op, "security": [{BEARER: []}], **extra}}


_CREATED = {
    **json_content(ref("schemas", "Post"), "Created: the post as `GET /post/{id}` answers it"),
    "headers": {
        "Location": {**header("`/post/{id}` of the new post."), "required": True},
        "Idempotent-Replayed": header(
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
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}

DELETE_POST = _write(
    operation(
        "Delete a post (needs a token).",
        {"description": "Deleted; no body."},
        "delete",
        "204",
        **{"404": "NotFound", "500": "Internal", "503": "Unavailable"},
    )
)
CREATE_POST = _write(
    operation(
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
        "content": {"application/json": {"schema": ref("schemas", "NewPost")}},
    },
)
