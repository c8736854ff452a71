"""An independent reading of a fixture file, by the rules as docs/fixtures.md writes them.

It shares no code with postctl: the csv module reads the text, and each rule is
written here again from the documentation's table, so that a test comparing
postctl with this oracle fails when either drifts from the documented rules.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

COLUMNS = ("id", "content", "author_email", "created_time")
REQUIRED = ("content", "author_email")
ID_MAX = 2147483647  # "a positive integer, at most 2147483647"
CONTENT_MAX_BYTES = 65535  # "at most 65,535 bytes of UTF-8"
EMAIL_MAX = 100  # "at most 100 characters"


def id_ok(text: str) -> bool:
    """ASCII digits only, from 1 to 2147483647."""
    return text.isascii() and text.isdigit() and 1 <= int(text) <= ID_MAX


def content_ok(text: str) -> bool:
    """Not empty; at most 65,535 bytes of UTF-8."""
    return text != "" and len(text.encode("utf-8")) <= CONTENT_MAX_BYTES


def email_ok(text: str) -> bool:
    """One "@" with something on each side, no whitespace, at most 100 characters."""
    local, at, domain = text.partition("@")
    return (
        len(text) <= EMAIL_MAX
        and at == "@"
        and local != ""
        and domain != ""
        and "@" not in domain
        and not any(c.isspace() for c in text)
    )


def created_time(text: str) -> str | None:
    """`YYYY-MM-DD HH:MM[:SS]` (or with T), ASCII digits, a real date, year 1000 on.

    Return it as `YYYY-MM-DD HH:MM:SS`, or None if it breaks the rule.
    """
    if not text.isascii() or len(text) not in (16, 19):
        return None
    pattern = "dddd-dd-dd?dd:dd" + (":dd" if len(text) == 19 else "")
    for char, want in zip(text, pattern, strict=True):
        if (want == "d" and not char.isdigit()) or (want == "?" and char not in " T"):
            return None
        if want not in "d?" and char != want:
            return None
    try:
        when = datetime(
            int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
            int(text[17:19]) if len(text) == 19 else 0,
        )  # fmt: skip
    except ValueError:
        return None
    return when.strftime("%Y-%m-%d %H:%M:%S") if when.year >= 1000 else None


@dataclass
class Reading:
    """What the rules make of a file: its rows, or the lines that break them."""

    rows: list[tuple[int | None, str, str, str | None]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # records that break a rule
    file_error: bool = False  # the file as a whole: not UTF-8, bad CSV, bad header

    @property
    def ok(self) -> bool:
        return not self.file_error and not self.bad_lines


def read(data: bytes, taken: set[int], nul_ok: bool = True) -> Reading:
    """Read a fixture file's bytes by the documented format; taken: ids already in the table.

    nul_ok=False: the backend cannot store NUL in text (PostgreSQL), a row with one breaks a rule.
    """
    result = Reading()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        result.file_error = True
        return result
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error):
        result.file_error = True
        return result
    if (
        any(name not in COLUMNS for name in header)
        or len(set(header)) != len(header)
        or any(name not in header for name in REQUIRED)
    ):
        result.file_error = True
        return result
    seen = set(taken)
    line = reader.line_num + 1
    try:
        for fields in reader:
            _record(result, header, fields, line, seen, nul_ok)
            line = reader.line_num + 1
    except csv.Error:
        result.file_error = True
    return result


def _record(
    result: Reading, header: list[str], fields: list[str], line: int, seen: set[int], nul_ok: bool
) -> None:
    if len(fields) != len(header):
        result.bad_lines.append(line)
        return
    values = dict(zip(header, fields, strict=True))
    raw_id, raw_time = values.get("id", ""), values.get("created_time", "")
    when = created_time(raw_time) if raw_time else None
    good = (
        (raw_id == "" or id_ok(raw_id))
        and content_ok(values["content"])
        and email_ok(values["author_email"])
        and (raw_time == "" or when is not None)
        and (nul_ok or "\0" not in values["content"] + values["author_email"])
    )
    row_id = int(raw_id) if good and raw_id else None
    if not good or (row_id is not None and row_id in seen):
        result.bad_lines.append(line)
        return
    if row_id is None:  # the database's next id: above every id so far, in file order
        row_id = max(seen, default=0) + 1
    seen.add(row_id)
    result.rows.append((row_id, values["content"], values["author_email"], when))
