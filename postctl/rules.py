"""The rules a post's values follow, wherever the post comes from.

`load-fixtures` (through postctl.fixtures.validate, a faster path built on
these rules) and the HTTP API check posts with this module alone. It imports
nothing but the standard library, so any layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

COLUMNS = ("id", "content", "author_email", "created_time")
REQUIRED = ("content", "author_email")
CONTENT_MAX_BYTES = 65535  # MySQL TEXT; the same limit holds on every backend
EMAIL_MAX = 100  # the author_email column is VARCHAR(100)
ID_MAX = 2**31 - 1  # MySQL signed INT, the id column's type
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", re.ASCII)

# A checked post: id (None: the database assigns one), content as UTF-8 bytes,
# author_email, and created_time as canonical text, `YYYY-MM-DD HH:MM:SS`,
# which every backend accepts.
Row = tuple[int | None, bytes, str, str]


class InvalidValue(ValueError):
    """A value that breaks its column's rule; the message says which and how."""


class InvalidPost(ValueError):
    """A post with invalid values: every (column, reason) found."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{column}: {reason}" for column, reason in problems))


def parse_id(value: str) -> int | None:
    """Convert an id field: empty means the database assigns one."""
    if value == "":
        return None
    if not (value.isascii() and value.isdigit()):  # no sign, no spaces: digits only
        raise InvalidValue("not a positive integer")
    number = int(value)
    if not 1 <= number <= ID_MAX:
        raise InvalidValue(f"out of range (1 to {ID_MAX})")
    return number


def parse_content(value: str) -> str:
    """Check a content field: non-empty and within the TEXT column's size."""
    if value == "":
        raise InvalidValue("must not be empty")
    if len(value.encode("utf-8")) > CONTENT_MAX_BYTES:
        raise InvalidValue(f"longer than {CONTENT_MAX_BYTES} bytes")
    return value


def parse_email(value: str) -> str:
    """Check an author_email field: local@domain, at most 100 characters."""
    if len(value) > EMAIL_MAX:
        raise InvalidValue(f"longer than {EMAIL_MAX} characters ({len(value)})")
    if not EMAIL_RE.fullmatch(value):
        raise InvalidValue("not an email address of the form local@domain")
    return value


def parse_datetime(value: str) -> str | None:
    """Check an ISO 8601 datetime without offset or fractions; empty means now.

    Return it as `YYYY-MM-DD HH:MM:SS` text: building datetime objects for a
    million rows only to format them again costs more than the load itself.
    """
    if value == "":
        return None
    if not _DATETIME_RE.fullmatch(value):
        raise InvalidValue("not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00")
    try:
        datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidValue(f"not a valid datetime ({err})") from None
    if value < "1000":
        raise InvalidValue("year before 1000")
    return f"{value[:10]} {value[11:]}" if len(value) == 19 else f"{value[:10]} {value[11:]}:00"


# PostgreSQL cannot store NUL in text; SQLite and MariaDB store it like any other character.
NUL_REASON = "contains a NUL character (\\x00), which PostgreSQL cannot store"


def unstorable(row: Row, backend: str) -> list[tuple[str, str]]:
    """Name the values of a checked row that this backend cannot store: (column, reason).

    backend is a SQLAlchemy dialect name. The one such rule: on PostgreSQL, no
    NUL character in the text columns (see docs/fixtures.md).
    """
    if backend != "postgresql":
        return []
    found = [("content", NUL_REASON)] if b"\0" in row[1] else []
    return found + ([("author_email", NUL_REASON)] if "\0" in row[2] else [])


PARSERS: dict[str, Callable[[str], object]] = {
    "id": parse_id,
    "content": parse_content,
    "author_email": parse_email,
    "created_time": parse_datetime,
}


def now() -> str:
    """Return the current time as a created_time: to the second, canonical text."""
    return datetime.now().replace(microsecond=0).isoformat(sep=" ")


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_post(values: Mapping[str, object], loaded_at: str) -> Row:
    """Check one post's values (text, as in a fixture file); return its row or raise InvalidPost.

    Every column present is checked and every problem named; a missing
    required column or an unknown one is a problem too. An empty or absent
    created_time becomes loaded_at.
    """
    problems = [(name, "unknown column") for name in values if name not in COLUMNS]
    problems += [(name, "missing") for name in REQUIRED if name not in values]
    checked: dict[str, object] = {}
    for name in COLUMNS:
        if name not in values:
            continue
        value = values[name]
        if not isinstance(value, str):
            problems.append((name, "not text"))
            continue
        if not _encodes(value):
            problems.append((name, "not valid Unicode text (a lone surrogate)"))
            continue
        try:
            checked[name] = PARSERS[name](value)
        except InvalidValue as err:
            problems.append((name, str(err)))
    if problems:
        raise InvalidPost(problems)
    row_id = checked.get("id")
    return (
        row_id if isinstance(row_id, int) else None,
        str(checked["content"]).encode("utf-8"),
        str(checked["author_email"]),
        str(checked.get("created_time") or loaded_at),
    )
