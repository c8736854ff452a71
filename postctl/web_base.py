"""What the web app's modules share: the engine holder, JSON answers and the one error shape."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from postctl import db, output, tokens

ENGINE_KEY = "postctl.engine"
TOKENS_KEY = "postctl.tokens"


class ApiError(HTTPException):
    """An error answered with its own status, message, headers and, for 422, field errors."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: list[tuple[str, str]] | None = None,
        errors: list[dict[str, str | None]] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.extra_headers = headers or []
        self.errors = errors


def engine_of(app: Flask) -> db.ProcessEngine:
    """Return the app's per-process engine holder."""
    holder: db.ProcessEngine = app.extensions[ENGINE_KEY]
    return holder


def token_cache_of(app: Flask) -> tokens.Cache:
    """Return the app's cache of token rows (one per process: it is copied on fork)."""
    cache: tokens.Cache = app.extensions[TOKENS_KEY]
    return cache


def json_response(value: Any, status: int = 200, headers: Any = None) -> Response:
    """Answer with JSON text, ending in a newline as `postctl ... --format json` prints it."""
    text = value if isinstance(value, str) else output.to_json(value)
    return Response(text + "\n", status=status, headers=headers, mimetype="application/json")


def error_response(
    status: int,
    message: str,
    headers: Any = None,
    errors: list[dict[str, str | None]] | None = None,
) -> Response:
    """Answer with the one error body shape; a 422 also lists each field and what is wrong."""
    error: dict[str, Any] = {"status": status, "message": message}
    if errors is not None:
        error["errors"] = errors
    return json_response({"error": error}, status, headers)
