"""The Flask app factory: posts as JSON over the same SQLAlchemy layer as the CLI."""

from __future__ import annotations

import re
import traceback
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest, HTTPException

from postctl import __version__, config, db, galera, openapi, output, queries, tokens, web_writes
from postctl.errors import DatabaseError, NotFoundError
from postctl.web_base import (
    ENGINE_KEY,
    TOKENS_KEY,
    ApiError,
    engine_of,
    error_response,
    json_response,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["MAX_BODY_BYTES", "create_app", "engine_of", "error_response", "json_response"]

UNAVAILABLE = "database unavailable"
# The largest request body accepted; deploy/nginx.conf's client_max_body_size matches it.
MAX_BODY_BYTES = 1 << 20
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() also takes " 1", "+1", "1_0"

api = Blueprint("api", __name__)


class BadParameter(BadRequest):
    """A query parameter is out of its documented range."""


def create_app(database_url: str | None = None, pool_size: int | None = None) -> Flask:
    """Create the app; connect to nothing until a request needs the database.

    The URL follows the CLI's configuration rules when not given. The engine is
    made per process on first use (see db.ProcessEngine), so the app can be
    created before uWSGI forks its workers without sharing connections.
    pool_size: the connections each process keeps (its thread count).
    """
    url = database_url or config.database_url()
    db.check_url(url)
    app = Flask(__name__, static_folder=None)  # JSON only: no /static route
    # OPTIONS would answer an empty text/html 200; every method but GET/HEAD gets the JSON 405.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    holder = db.ProcessEngine(url, sync_wait=galera.sync_wait_setting(), pool_size=pool_size)
    app.extensions[ENGINE_KEY] = holder
    app.extensions[TOKENS_KEY] = tokens.Cache(
        lambda prefix: db.read(holder.get(), lambda conn: tokens.rows_by_prefix(conn, prefix))
    )
    app.register_blueprint(api)
    app.register_blueprint(web_writes.api)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(NotFoundError, _not_found)
    app.register_error_handler(DatabaseError, _unavailable)
    app.register_error_handler(Exception, _internal_error)
    return app


@api.get("/")
def index() -> Response:
    return json_response({"service": "postctl", "version": __version__})


@api.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@api.get("/readyz")
def readyz() -> Response:
    engine = engine_of(current_app).get()
    db.read(engine, queries.ping)
    if engine.dialect.name in ("mysql", "mariadb"):
        # A Galera node that answers but is not Synced (a donor, a joiner) lags behind.
        refusal = db.read(engine, lambda conn: galera.refusal(galera.node_state(conn), "not ready"))
        if refusal is not None:
            raise DatabaseError(refusal)
    return json_response({"status": "ready"})


@api.get("/post/<int:post_id>")
def show_post(post_id: int) -> Response:
    post = db.read(engine_of(current_app).get(), lambda conn: queries.get_post(conn, post_id))
    return json_response(output.post_json(post))


@api.get("/posts")
def list_posts() -> Response:
    page = _int_arg("page", 1, openapi.MAX_PAGE)
    per_page = _int_arg("per_page", openapi.DEFAULT_PER_PAGE, openapi.MAX_PER_PAGE)
    total, posts = db.read(engine_of(current_app).get(), lambda conn: _page(conn, page, per_page))
    body = {
        "posts": [output.post_dict(p) for p in posts],
        "page": page,
        "per_page": per_page,
        "total": total,
    }
    return json_response(body)


@api.get("/openapi.json")
def openapi_document() -> Response:
    return json_response(openapi.document())


def _page(conn: Connection, page: int, per_page: int) -> tuple[int, list[Any]]:
    total = queries.count_rows(conn)
    if not total:
        return total, []
    return total, queries.list_posts(conn, limit=per_page, offset=(page - 1) * per_page)


def _int_arg(name: str, default: int, maximum: int) -> int:
    """Read an integer query parameter from 1 to maximum, or raise BadParameter."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise BadParameter(f"{name} must be an integer from 1 to {maximum}")
    return int(raw)


def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    if isinstance(err, ApiError):
        return error_response(status, str(err.description), err.extra_headers, err.errors)
    if isinstance(err, BadParameter):
        message = str(err.description)
    elif status == 404:
        message = f"no such resource: {request.path}"
    elif status == 405:
        message = f"method {request.method} not allowed for {request.path}"
    elif status == 413:
        message = f"the body is larger than {MAX_BODY_BYTES} bytes"
    else:
        message = err.name.lower()
    # Keep what the status needs (Allow on a 405), not werkzeug's HTML content type.
    headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
    return error_response(status, message, headers)


def _not_found(err: NotFoundError) -> Response:
    return error_response(404, str(err))


def _unavailable(err: DatabaseError) -> Response:
    # The message names the masked URL and the driver's reason: for the log, not the client.
    current_app.logger.error("%s %s: %s", request.method, request.path, _hidden(str(err)))
    return error_response(503, UNAVAILABLE)


def _internal_error(err: Exception) -> Response:
    told = "".join(traceback.format_exception(err))
    current_app.logger.error("%s %s failed\n%s", request.method, request.path, _hidden(told))
    return error_response(500, "internal server error")


def _hidden(text: str) -> str:
    """Mask the database password wherever a log line may carry it."""
    return db.hide_password(text, engine_of(current_app).url)
