"""CSV fixtures: find, read, validate and load them; write rows in the same format."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select
from sqlalchemy import exc as sa_exc

from postctl import db
from postctl.errors import FixtureError
from postctl.output import format_datetime

COLUMNS = ("id", "content", "author_email", "created_time")
REQUIRED = ("content", "author_email")
MAX_PROBLEMS = 20
BATCH_SIZE = 1000
CONTENT_MAX_BYTES = 65535  # MySQL TEXT; the same limit holds on SQLite
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a fixture file, where it is and why."""

    path: Path
    line: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f":{self.line}" if self.line else "")
        what = f" column {self.column}:" if self.column else ""
        value = f" (value {_shorten(self.value)!r})" if self.value is not None else ""
        return f"{where}:{what} {self.reason}{value}"


@dataclass(frozen=True)
class LoadResult:
    """How many rows one file put into which table."""

    path: Path
    table: str
    rows: int


class _InvalidValue(ValueError):
    """A field value that does not convert to its column's type."""


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def find_files(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Expand directories to their *.csv files and pair each file with its table."""
    found: list[tuple[Path, str]] = []
    problems: list[Problem] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(path.glob("*.csv"))
            if not files:
                problems.append(Problem(path, None, None, None, "directory has no *.csv files"))
        elif path.exists():
            files = [path]
        else:
            problems.append(Problem(path, None, None, None, "no such file or directory"))
            continue
        for file in files:
            table = table_for(file)
            if table is None:
                known = ", ".join(f"{t}s.csv" for t in db.metadata.tables)
                problems.append(
                    Problem(
                        file, None, None, None, f"no table for this file name; expected {known}"
                    )
                )
            else:
                found.append((file, table))
    if problems:
        raise FixtureError([str(p) for p in problems])
    return found


def table_for(path: Path) -> str | None:
    """Name the table a fixture file loads: `posts.csv` (or `post.csv`) loads `post`."""
    stem = path.stem
    for name in (stem, stem.removesuffix("s")):
        if name in db.metadata.tables:
            return name
    return None


def parse_id(value: str) -> int | None:
    """Convert an id field: empty means the database assigns one."""
    if value == "":
        return None
    if not value.isascii() or not value.strip().isdigit():
        raise _InvalidValue("not a positive integer")
    number = int(value)
    if not 1 <= number <= db.ID_MAX:
        raise _InvalidValue(f"out of range (1 to {db.ID_MAX})")
    return number


def parse_content(value: str) -> str:
    """Check a content field: non-empty and within the TEXT column's size."""
    if value == "":
        raise _InvalidValue("must not be empty")
    if len(value.encode("utf-8")) > CONTENT_MAX_BYTES:
        raise _InvalidValue(f"longer than {CONTENT_MAX_BYTES} bytes")
    return value


def parse_email(value: str) -> str:
    """Check an author_email field: local@domain, at most 100 characters."""
    if len(value) > db.EMAIL_MAX:
        raise _InvalidValue(f"longer than {db.EMAIL_MAX} characters ({len(value)})")
    if not EMAIL_RE.fullmatch(value):
        raise _InvalidValue("not an email address of the form local@domain")
    return value


def parse_datetime(value: str) -> datetime | None:
    """Convert an ISO 8601 datetime without offset or fractions; empty means now."""
    if value == "":
        return None
    if not _DATETIME_RE.fullmatch(value):
        raise _InvalidValue("not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise _InvalidValue(f"not a valid datetime ({err})") from None
    if parsed.year < 1000:
        raise _InvalidValue("year before 1000")
    return parsed


PARSERS = {
    "id": parse_id,
    "content": parse_content,
    "author_email": parse_email,
    "created_time": parse_datetime,
}


def read_header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    """Read and check the header row; raise FixtureError naming what is wrong."""
    try:
        header = next(reader)
    except StopIteration:
        raise FixtureError([f"{path}: file is empty; expected a header line"]) from None
    names = [name.strip() for name in header]
    unknown = [n for n in names if n not in COLUMNS]
    missing = [n for n in REQUIRED if n not in names]
    repeated = [n for n, count in Counter(names).items() if count > 1]
    problems = [
        f"{path}:1: unknown column {n!r}; columns are {', '.join(COLUMNS)}" for n in unknown
    ]
    problems += [f"{path}:1: missing required column {n!r}" for n in missing]
    problems += [f"{path}:1: column {n!r} appears more than once" for n in repeated]
    if problems:
        raise FixtureError(problems)
    return names


def read_rows(
    path: Path, loaded_at: datetime, problems: list[Problem]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, row) for each valid record, appending the invalid ones to problems.

    The file is streamed; `line` is where the record starts, so a quoted
    field that spans lines is reported where it begins.
    """
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, strict=True)
        try:
            header = read_header(path, reader)
            line: int = reader.line_num + 1
            for fields in reader:
                row = _convert(path, line, header, fields, loaded_at, problems)
                if row is not None:
                    yield line, row
                line = reader.line_num + 1
        except UnicodeDecodeError as err:
            bad_line = _first_undecodable_line(path)
            problems.append(Problem(path, bad_line, None, None, f"not valid UTF-8 ({err.reason})"))
        except csv.Error as err:
            problems.append(Problem(path, reader.line_num, None, None, f"malformed CSV: {err}"))


def _first_undecodable_line(path: Path) -> int | None:
    """Find the line of the first bad UTF-8 byte (text reads decode whole chunks)."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _convert(
    path: Path,
    line: int,
    header: Sequence[str],
    fields: Sequence[str],
    loaded_at: datetime,
    problems: list[Problem],
) -> dict[str, Any] | None:
    if len(fields) != len(header):
        problems.append(
            Problem(path, line, None, None, f"expected {len(header)} fields, found {len(fields)}")
        )
        return None
    row: dict[str, Any] = {}
    ok = True
    for name, value in zip(header, fields, strict=True):
        try:
            row[name] = PARSERS[name](value)
        except _InvalidValue as err:
            problems.append(Problem(path, line, name, value, str(err)))
            ok = False
    if not ok:
        return None
    if row.get("created_time") is None:
        row["created_time"] = loaded_at
    return row


def load(conn: Connection, files: Sequence[tuple[Path, str]]) -> list[LoadResult]:
    """Validate and insert every file's rows in the caller's transaction.

    Every file is read to the end even after a problem, to report up to
    MAX_PROBLEMS of them; then FixtureError is raised so that the caller's
    transaction rolls back and nothing is loaded.
    """
    loaded_at = db.now()
    problems: list[Problem] = []
    results = []
    for path, table_name in files:
        table = db.metadata.tables[table_name]
        count = 0
        batch: list[tuple[int, dict[str, Any]]] = []
        for line, row in read_rows(path, loaded_at, problems):
            if len(problems) >= MAX_PROBLEMS:
                break
            if problems:
                continue  # keep validating, stop writing
            batch.append((line, row))
            if len(batch) >= BATCH_SIZE:
                count += _insert(conn, table_name, path, batch, problems)
                batch = []
        if batch and not problems:
            count += _insert(conn, table_name, path, batch, problems)
        results.append(LoadResult(path, table.name, count))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise FixtureError(_report(problems))
    return results


def _report(problems: list[Problem]) -> list[str]:
    lines = ["cannot load fixtures, nothing was loaded:"]
    lines += [f"  {p}" for p in problems[:MAX_PROBLEMS]]
    if len(problems) >= MAX_PROBLEMS:
        lines.append(f"  stopped after {MAX_PROBLEMS} problems")
    return lines


def _insert(
    conn: Connection,
    table_name: str,
    path: Path,
    batch: list[tuple[int, dict[str, Any]]],
    problems: list[Problem],
) -> int:
    table = db.metadata.tables[table_name]
    # A savepoint undoes a batch that fails half-way, so that the rows already
    # in the table can be told from the batch's own when looking for duplicates.
    savepoint = conn.begin_nested()
    try:
        conn.execute(table.insert(), [row for _, row in batch])
    except sa_exc.IntegrityError as err:
        savepoint.rollback()
        problems.extend(
            _duplicates(conn, table_name, path, batch) or [_db_problem(path, batch, err)]
        )
        return 0
    except (sa_exc.DataError, sa_exc.OperationalError) as err:
        savepoint.rollback()
        problems.append(_db_problem(path, batch, err))
        return 0
    savepoint.commit()
    return len(batch)


def _duplicates(
    conn: Connection, table_name: str, path: Path, batch: list[tuple[int, dict[str, Any]]]
) -> list[Problem]:
    """Find the rows of a failed batch whose id is already taken."""
    table = db.metadata.tables[table_name]
    ids = [row["id"] for _, row in batch if row.get("id") is not None]
    existing = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
    seen: set[int] = set()
    found = []
    for line, row in batch:
        row_id = row.get("id")
        if row_id in seen:
            found.append(
                Problem(path, line, "id", str(row_id), "duplicate id (also on an earlier line)")
            )
        elif row_id in existing:
            found.append(
                Problem(
                    path,
                    line,
                    "id",
                    str(row_id),
                    "duplicate id (already in the table or on an earlier line)",
                )
            )
        if row_id is not None:
            seen.add(row_id)
    return found


def _db_problem(path: Path, batch: list[tuple[int, dict[str, Any]]], err: Exception) -> Problem:
    orig = getattr(err, "orig", err)
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    first, last = batch[0][0], batch[-1][0]
    return Problem(
        path, first, None, None, f"database rejected rows on lines {first}-{last}: {reason}"
    )


def write_rows(rows: Iterable[Any], out: IO[str], columns: Sequence[str] = COLUMNS) -> None:
    """Write rows (objects with the column attributes) as fixture CSV with a header."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                format_datetime(v) if isinstance(v, datetime) else v
                for v in (getattr(row, c) for c in columns)
            ]
        )
