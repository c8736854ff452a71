"""CSV fixtures: find, read, validate and load them; write rows in the same format."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection

from postctl import db
from postctl.errors import FixtureError
from postctl.output import format_datetime

COLUMNS = ("id", "content", "author_email", "created_time")
REQUIRED = ("content", "author_email")
MAX_PROBLEMS = 20
BATCH_SIZE = 2000  # rows; about half a megabyte, so that a batch fits the pipe whole
MODES = ("insert", "replace", "upsert")
CONTENT_MAX_BYTES = 65535  # MySQL TEXT; the same limit holds on SQLite
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")
_CONTENT_SURELY_FITS = CONTENT_MAX_BYTES // 4  # characters; UTF-8 takes at most 4 bytes each


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
    """How many rows one file put (or, in a dry run, would put) into which table."""

    path: Path
    table: str
    rows: int
    seconds: float = 0.0
    method: str = ""


# A validated row: id (None: the database assigns one), content, author_email and
# created_time as canonical text, `YYYY-MM-DD HH:MM:SS`, which every backend accepts.
# Content may travel as UTF-8 bytes, which SQLite takes without re-encoding it.
Row = tuple[int | None, str | bytes, str, str]


@dataclass
class Batch:
    """Validated rows with the line each starts on, and how far into the file they end."""

    lines: list[int] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    position: int = 0


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


def parse_datetime(value: str) -> str | None:
    """Check an ISO 8601 datetime without offset or fractions; empty means now.

    Return it as `YYYY-MM-DD HH:MM:SS` text: building datetime objects for a
    million rows only to format them again costs more than the load itself.
    """
    if value == "":
        return None
    if not _DATETIME_RE.fullmatch(value):
        raise _InvalidValue("not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00")
    try:
        datetime.fromisoformat(value)
    except ValueError as err:
        raise _InvalidValue(f"not a valid datetime ({err})") from None
    if value < "1000":
        raise _InvalidValue("year before 1000")
    return f"{value[:10]} {value[11:]}" if len(value) == 19 else f"{value[:10]} {value[11:]}:00"


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
    path: Path, loaded_at: str, problems: list[Problem], binary_content: bool = False
) -> Iterator[Batch]:
    """Yield batches of valid rows, appending the invalid ones to problems.

    The file is streamed; a row's line is where its record starts, so a
    quoted field that spans lines is reported where it begins.
    """
    with open(path, "rb") as raw, io.TextIOWrapper(raw, "utf-8-sig", newline="") as file:
        reader = csv.reader(file, strict=True)
        try:
            header = read_header(path, reader)
            convert = _converter(header, loaded_at, binary_content)
            size = BATCH_SIZE
            # The hot loop: locals only, no attribute lookups per row.
            lines: list[int] = []
            rows: list[Row] = []
            add_line, add_row = lines.append, rows.append
            line: int = reader.line_num + 1
            for fields in reader:
                try:
                    add_row(convert(fields))
                    add_line(line)
                except ValueError:
                    _report_row(path, line, header, fields, problems)
                line = reader.line_num + 1
                if len(rows) >= size:
                    yield Batch(lines, rows, raw.tell())
                    lines, rows = [], []
                    add_line, add_row = lines.append, rows.append
            yield Batch(lines, rows, raw.tell())
        except UnicodeDecodeError as err:
            bad_line = _first_undecodable_line(path)
            problems.append(Problem(path, bad_line, None, None, f"not valid UTF-8 ({err.reason})"))
        except csv.Error as err:
            problems.append(Problem(path, reader.line_num, None, None, f"malformed CSV: {err}"))


def _converter(
    header: Sequence[str], loaded_at: str, binary_content: bool = False
) -> Callable[[list[str]], Row]:
    """Make the per-row conversion for this header: the hot loop of every load.

    It raises ValueError for any bad row; the caller then asks the parsers
    for every problem of that row. Common values take cheap checks here and
    only unusual ones the full parsers, which accept or reject them.
    """
    where = {name: header.index(name) for name in header}
    i_id, i_time = where.get("id"), where.get("created_time")
    i_content, i_email = where["content"], where["author_email"]
    width = len(header)
    fromiso = datetime.fromisoformat

    def convert(fields: list[str]) -> Row:
        if len(fields) != width:
            raise _InvalidValue("wrong number of fields")
        row_id: int | None = None
        if i_id is not None:
            text = fields[i_id]
            if text.isdigit() and text.isascii() and 0 < len(text) < 10 and text[0] != "0":
                row_id = int(text)
            else:
                row_id = parse_id(text)
        content = fields[i_content]
        if not 0 < len(content) <= _CONTENT_SURELY_FITS:
            parse_content(content)
        email = fields[i_email]
        # One "@" not at either end, no whitespace (none is printable but " "):
        # what EMAIL_RE accepts, tested without a regex; else the regex decides.
        if not (
            len(email) <= db.EMAIL_MAX
            and email.count("@") == 1
            and email[0] != "@" != email[-1]
            and email.isprintable()
            and " " not in email
        ):
            parse_email(email)
        when = loaded_at if i_time is None else fields[i_time]
        # YYYY-MM-DD HH:MM:SS from year 1000 on: the separators here, the digits
        # and the calendar (no February 30th) checked by fromisoformat.
        if len(when) == 19 and when[4::3] == "-- ::" and when[0] != "0":
            fromiso(when)
        else:
            when = parse_datetime(when) or loaded_at
        if binary_content:
            return (row_id, content.encode(), email, when)
        return (row_id, content, email, when)

    return convert


def _report_row(
    path: Path, line: int, header: Sequence[str], fields: Sequence[str], problems: list[Problem]
) -> None:
    """Append every problem of a row that failed to convert."""
    if len(fields) != len(header):
        problems.append(
            Problem(path, line, None, None, f"expected {len(header)} fields, found {len(fields)}")
        )
        return
    for name, value in zip(header, fields, strict=True):
        try:
            PARSERS[name](value)
        except _InvalidValue as err:
            problems.append(Problem(path, line, name, value, str(err)))


def _first_undecodable_line(path: Path) -> int | None:
    """Find the line of the first bad UTF-8 byte (text reads decode whole chunks)."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def validated(
    path: Path, loaded_at: str, problems: list[Problem], binary_content: bool = False
) -> Iterator[Batch]:
    """Yield the file's valid batches; stop yielding (keep validating) after a problem.

    Where the platform can fork, a child process reads and validates while
    this one writes: CSV parsing and validation cost about as much as the
    inserts, and with the GIL only a second process gets a second core.
    """
    check_header(path)
    if hasattr(os, "fork"):
        from postctl import prefetch

        yield from prefetch.batches(path, loaded_at, problems, binary_content)
    else:
        yield from read_rows(path, loaded_at, problems, binary_content)


def check_header(path: Path) -> None:
    """Raise FixtureError here for a bad header: it is about the file, not a row."""
    # A decoding or CSV error is reported with its line when the rows are read.
    with (
        open(path, encoding="utf-8-sig", newline="") as file,
        contextlib.suppress(UnicodeDecodeError, csv.Error),
    ):
        read_header(path, csv.reader(file, strict=True))


Progress = Callable[[Path, int], None]


def load(
    conn: Connection,
    files: Sequence[tuple[Path, str]],
    *,
    mode: str = "insert",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[LoadResult]:
    """Validate and write every file's rows in the caller's transaction.

    mode is insert (an id already taken is an error), replace (empty each
    target table first) or upsert (a row whose id exists replaces it). Every
    file is read to the end even after a problem, to report up to MAX_PROBLEMS
    of them; then FixtureError is raised so that the caller's transaction rolls
    back and nothing is loaded. A dry run validates and writes nothing.
    """
    from postctl import bulk  # the backend writers only where rows are written

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    loaded_at = db.now().isoformat(sep=" ")
    problems: list[Problem] = []
    results = []
    emptied: set[str] = set()
    for path, table_name in files:
        if mode == "replace" and table_name not in emptied and not dry_run:
            bulk.empty(conn, table_name)
            emptied.add(table_name)
        started, before = time.perf_counter(), len(problems)
        source = Source(path, loaded_at, problems, progress)
        if dry_run:
            count, how = bulk.check(conn, table_name, source, mode == "insert")
        else:
            count, how = bulk.write(conn, table_name, source, mode == "upsert")
        seconds = time.perf_counter() - started
        results.append(LoadResult(path, table_name, count, seconds, how))
        problems[before:] = sorted(problems[before:], key=lambda p: p.line or 0)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise FixtureError(_report(problems))
    return results


@dataclass
class Source:
    """One fixture file to load, and where its problems and progress go."""

    path: Path
    loaded_at: str
    problems: list[Problem]
    progress: Progress | None = None

    def batches(self, binary_content: bool = False) -> Iterator[Batch]:
        """Yield the valid batches; after a problem, validate on but yield nothing."""
        for batch in validated(self.path, self.loaded_at, self.problems, binary_content):
            if self.progress is not None:
                self.progress(self.path, batch.position)
            yield batch


def _report(problems: list[Problem]) -> list[str]:
    lines = ["cannot load fixtures, nothing was loaded:"]
    lines += [f"  {p}" for p in problems[:MAX_PROBLEMS]]
    if len(problems) >= MAX_PROBLEMS:
        lines.append(f"  stopped after {MAX_PROBLEMS} problems")
    return lines


def duplicates(
    path: Path,
    batch: Batch,
    existing: set[int],
    seen: set[int] | None = None,
    only: set[int] | None = None,
) -> list[Problem]:
    """Name the rows of a batch whose id is taken, by the table (existing) or an earlier row.

    `seen` carries the ids of earlier batches when a caller scans a whole file;
    `only` limits the scan to ids already known to be duplicates.
    """
    seen = set() if seen is None else seen
    found = []
    for line, row in zip(batch.lines, batch.rows, strict=True):
        row_id = row[0]
        if row_id is None or (only is not None and row_id not in only):
            continue
        if row_id in seen:
            reason = "duplicate id (also on an earlier line)"
        elif row_id in existing:
            reason = "duplicate id (already in the table or on an earlier line)"
        else:
            seen.add(row_id)
            continue
        found.append(Problem(path, line, "id", str(row_id), reason))
        seen.add(row_id)
    return found


def db_problem(path: Path, batch: Batch, err: Exception) -> Problem:
    """Describe a database error for the lines of the batch it happened in."""
    orig = getattr(err, "orig", err)
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    first, last = batch.lines[0], batch.lines[-1]
    return Problem(
        path, first, None, None, f"database rejected rows on lines {first}-{last}: {reason}"
    )


def dump(conn: Connection, directory: Path) -> list[LoadResult]:
    """Write every table to `<table>s.csv` in directory, ordered by id, streaming."""
    directory.mkdir(parents=True, exist_ok=True)
    results = []
    for table_name in db.metadata.tables:
        started = time.perf_counter()
        path = directory / f"{table_name}s.csv"
        partial = path.with_name(f".{path.name}.partial")
        counter = _Counter()
        try:
            with open(partial, "w", encoding="utf-8", newline="") as out:
                write_rows(counter.count(db.stream_rows(conn, table_name)), out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, path)  # never leave half a dump under the real name
        results.append(LoadResult(path, table_name, counter.rows, time.perf_counter() - started))
    return results


class _Counter:
    def __init__(self) -> None:
        self.rows = 0

    def count(self, rows: Iterable[Any]) -> Iterator[Any]:
        for row in rows:
            self.rows += 1
            yield row


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
