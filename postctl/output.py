"""Render posts for people (tabulate) and programs (JSON, CSV).

The JSON here is the one serializer: `postctl show-post --format json` and the
HTTP API both call `post_json`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from postctl.rules import COLUMNS

FORMATS = ("table", "json", "csv")
# A subset of tabulate's formats that read well in a terminal and in docs.
TABLE_STYLES = (
    "plain",
    "simple",
    "github",
    "grid",
    "rounded_grid",
    "psql",
    "pipe",
    "rst",
    "orgtbl",
)
FIELDS = COLUMNS
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_datetime(value: datetime) -> str:
    """Render a datetime as fixtures and tables show it."""
    return value.strftime(DATETIME_FORMAT)


def post_dict(post: Any) -> dict[str, Any]:
    """Return a post's fields as JSON-ready values, created_time in ISO 8601."""
    return {
        "id": post.id,
        "content": post.content,
        "author_email": post.author_email,
        "created_time": post.created_time.isoformat(),
    }


# One encoder: json.dumps builds a new one per call when given any option, which
# costs more than encoding a post.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def to_json(value: Any) -> str:
    """Serialize JSON-ready values, non-ASCII text as UTF-8 rather than \\u escapes."""
    return _ENCODER.encode(value)


def post_json(post: Any) -> str:
    """Serialize one post as a JSON object, UTF-8 text unescaped."""
    return to_json(post_dict(post))


def posts_json(posts: Sequence[Any]) -> str:
    """Serialize posts as a JSON array of the same objects as post_json."""
    return to_json([post_dict(p) for p in posts])


def render_post(post: Any, fmt: str = "table", style: str = "plain") -> str:
    """Render one post: a field per row for a table, else JSON or fixture CSV."""
    if fmt == "json":
        return post_json(post)
    if fmt == "csv":
        return _csv([post])
    from tabulate import tabulate  # only the table format pays for it

    rows = [(name, _cell(getattr(post, name))) for name in FIELDS]
    return tabulate(rows, tablefmt=style, disable_numparse=True)


def render_posts(posts: Sequence[Any], fmt: str = "table", style: str = "simple") -> str:
    """Render many posts: a row per post for a table, a JSON array, or fixture CSV."""
    if fmt == "json":
        return posts_json(posts)
    if fmt == "csv":
        return _csv(posts)
    from tabulate import tabulate

    rows = [[_cell(getattr(p, name)) for name in FIELDS] for p in posts]
    return tabulate(rows, headers=FIELDS, tablefmt=style, disable_numparse=True)


def _cell(value: Any) -> str:
    return format_datetime(value) if isinstance(value, datetime) else str(value)


def _csv(posts: Sequence[Any]) -> str:
    out = io.StringIO()
    write_rows(posts, out)
    return out.getvalue().rstrip("\n")


def write_rows(rows: Iterable[Any], out: IO[str], columns: Sequence[str] = COLUMNS) -> None:
    """Write rows (objects with the column attributes) as fixture CSV with a header.

    The csv module quotes a field with a line feed but not one with a lone
    carriage return, which a reader then takes for a line end; such a row is
    written with every field quoted.
    """
    writer = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for row in rows:
        values = [
            format_datetime(v) if isinstance(v, datetime) else v
            for v in (getattr(row, c) for c in columns)
        ]
        if any(isinstance(v, str) and "\r" in v for v in values):
            quoted.writerow(values)
        else:
            writer.writerow(values)


def render_records(records: Sequence[dict[str, Any]], fmt: str, style: str = "simple") -> str:
    """Render rows other than posts: a table with the keys as headers, or a JSON array.

    In JSON a datetime is ISO 8601 and None is null; in a table, `YYYY-MM-DD
    HH:MM:SS` and `-`.
    """
    if fmt == "json":
        iso = [{k: _iso(v) for k, v in r.items()} for r in records]
        return to_json(iso)
    from tabulate import tabulate

    headers = list(records[0]) if records else []
    rows = [["-" if v is None else _cell(v) for v in r.values()] for r in records]
    return tabulate(rows, headers=headers, tablefmt=style, disable_numparse=True)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
