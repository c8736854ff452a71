"""CSV fixtures: find, read, validate and load them; write rows in the same format."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection

from postctl import db
from postctl.errors import FixtureError
from postctl.output import format_datetime

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

COLUMNS = ("id", "content", "author_email", "created_time")
REQUIRED = ("content", "author_email")
MAX_PROBLEMS = 20
BATCH_SIZE = 2000  # rows; about half a megabyte, so that a batch fits the pipe whole
MODES = ("insert", "replace", "upsert")
CONTENT_MAX_BYTES = 65535  # MySQL TEXT; the same limit holds on SQLite
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")
# Files are read as Latin-1, one character per byte: every byte CSV syntax uses
# is ASCII and no byte of a multi-byte UTF-8 character is, so the csv module
# splits UTF-8 correctly without a decoding pass, and content goes to the
# database as the file's own bytes. UTF-8 is checked once per batch of
# contents; other fields are ASCII in the common case, else decoded.
_READ_AS = "latin-1"
_BOM = b"\xef\xbb\xbf"
_UTF8_CHECK_ROWS = 256  # contents decoded at a time: small enough to stay in the CPU cache


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


# A validated row: id (None: the database assigns one), content as UTF-8 bytes,
# author_email, and created_time as canonical text, `YYYY-MM-DD HH:MM:SS`,
# which every backend accepts.
Row = tuple[int | None, bytes, str, str]


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
    names = [_shown(name).strip() for name in header]
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


@dataclass
class Records:
    """CSV records as read, not yet validated: fields with the line each starts on."""

    lines: list[int]
    fields: list[list[str]]
    position: int  # how far into the file (bytes) they end
    next_line: int = 0  # the line after them


@dataclass(frozen=True)
class Span:
    """A byte range of a fixture file believed to start and end on a record boundary."""

    start: int
    end: int | None  # None: to the end of the file
    first_line: int  # the line number at start


WHOLE_FILE = Span(0, None, 1)
MALFORMED = "malformed CSV"


class CutShort(Exception):
    """A span ended inside a quoted field: its end was not a record boundary."""


def read_records(path: Path, problems: list[Problem], span: Span = WHOLE_FILE) -> Iterator[Records]:
    """Yield batches of records after the header; add a CSV error to problems.

    The file is streamed; a record's line is where it starts, so a quoted
    field that spans lines is reported where it begins. A span that does not
    reach the end of the file raises CutShort if it ends inside a quoted field,
    before yielding any of it: none of its records may be used then.
    """
    if span.end is None:
        yield from _csv_records(path, problems, span)
        return
    if span.start > 0:  # try splitting it first
        with open(path, "rb") as raw:
            raw.seek(span.start)
            text = raw.read(span.end - span.start).decode(_READ_AS)
        split = _split_records(text, span.first_line)
        if split is not None:
            yield from _in_batches(split, span.end)
            return
    yield from list(_csv_records(path, problems, span))  # a span is small


def _csv_records(path: Path, problems: list[Problem], span: Span) -> Iterator[Records]:
    """Yield the records of a span (or the rest of the file) as the csv module reads them."""
    with _open_csv(path, span) as (tell, reader):
        base = span.first_line - 1
        try:
            if span.start == 0:
                read_header(path, reader)
            size = BATCH_SIZE
            # The hot loop: locals only, no attribute lookups per row.
            lines: list[int] = []
            records: list[list[str]] = []
            add_line, add_record = lines.append, records.append
            line: int = base + reader.line_num + 1
            for fields in reader:
                add_record(fields)
                add_line(line)
                line = base + reader.line_num + 1
                if len(records) >= size:
                    yield Records(lines, records, tell(), line)
                    lines, records = [], []
                    add_line, add_record = lines.append, records.append
            yield Records(lines, records, tell(), line)
        except csv.Error as err:
            if span.end is not None and str(err) == "unexpected end of data":
                raise CutShort from None
            reason = f"{MALFORMED}: {err}"
            problems.append(Problem(path, base + reader.line_num, None, None, reason))


def _split_records(text: str, first_line: int) -> Records | None:
    """Split CSV text as the csv module would, in loops that run in C where no field is quoted.

    Lines without a quote character are split at commas; the records with
    quotes go to the csv module, grouped by counting quotes, in one reader.
    Return None where that might not give what the csv module gives: a
    carriage return not before a line feed, a NUL, or quoted records that do
    not come out one per group of lines. The caller then uses the csv module.
    """
    if "\0" in text or text.count("\r") != text.count("\r\n"):
        return None
    crlf = "\r" in text
    physical = text.split("\n")
    if physical[-1] == "":  # the text ends with a line feed
        physical.pop()
    records: list[list[str]] = []
    lines: list[int] = []
    quoted: list[str] = []
    quoted_at: list[int] = []
    add_record, add_line = records.append, lines.append
    i, count = 0, len(physical)
    while i < count:
        line = physical[i]
        add_line(first_line + i)
        if '"' not in line:
            if crlf and line.endswith("\r"):
                line = line[:-1]
            add_record(line.split(",") if line else [])
            i += 1
            continue
        end, odd = i, line.count('"') % 2
        while odd:  # a line break inside quotes: the record goes on
            end += 1
            if end == count:
                return None
            odd ^= physical[end].count('"') % 2
        quoted_at.append(len(records))
        add_record([])
        quoted.append("\n".join(physical[i : end + 1]) + "\n")
        i = end + 1
    if quoted:
        try:
            parsed = list(csv.reader(quoted, strict=True))
        except csv.Error:
            return None
        if len(parsed) != len(quoted):
            return None
        for at, fields in zip(quoted_at, parsed, strict=True):
            records[at] = fields
    return Records(lines, records, 0, first_line + count)


def _in_batches(split: Records, end: int) -> Iterator[Records]:
    """Yield split records BATCH_SIZE at a time, the last ending where the span ends."""
    total = len(split.fields)
    for start in range(0, max(total, 1), BATCH_SIZE):
        stop = start + BATCH_SIZE
        last = stop >= total
        yield Records(
            split.lines[start:stop],
            split.fields[start:stop],
            end,
            split.next_line if last else split.lines[stop],
        )


class Validator:
    """Turn records of one file into valid rows, and the invalid ones into problems."""

    def __init__(self, path: Path, header: Sequence[str], loaded_at: str) -> None:
        self.path = path
        self.header = header
        self.convert = _converter(header, loaded_at)
        # Where each column is, when the file has all four (else no column checks).
        self.order = [header.index(c) for c in COLUMNS] if set(header) == set(COLUMNS) else None

    def batch(self, records: Records, problems: list[Problem]) -> Batch:
        """Validate records; return the valid rows, add a problem for each invalid one."""
        rows = self._by_column(records.fields)
        if rows is not None:  # the common case: every record is valid, and keeps its line
            return Batch(records.lines, rows, records.position)
        try:  # every record valid, some with less common values
            rows = list(map(self.convert, records.fields))
            if _all_utf8([row[1] for row in rows]):
                return Batch(records.lines, rows, records.position)
        except ValueError:
            pass
        batch = Batch(position=records.position)
        for line, fields in zip(records.lines, records.fields, strict=True):
            try:
                row = self.convert(fields)
                row[1].decode("utf-8")  # content: convert leaves that to _all_utf8
            except ValueError:
                _report_row(self.path, line, self.header, fields, problems)
                continue
            batch.rows.append(row)
            batch.lines.append(line)
        return batch

    def _by_column(self, records: list[list[str]]) -> list[Row] | None:
        """Check common values a column at a time, in loops that run in C; None if any is not.

        Accepts a subset of what convert accepts, and builds the same rows.
        """
        if self.order is None or set(map(len, records)) != {len(COLUMNS)}:
            return None
        columns = list(zip(*records, strict=True))
        ids, texts, emails, times = (columns[i] for i in self.order)
        if not (
            _each_matches(_COMMON_ID, ids)
            and _each_matches(_COMMON_EMAIL, emails)
            and max(map(len, emails)) <= db.EMAIL_MAX
            and _each_matches(_COMMON_TIME, times)
        ):
            return None
        try:
            deque(map(datetime.fromisoformat, times), maxlen=0)  # the calendar: no February 30th
        except ValueError:
            return None
        contents = list(map(str.encode, texts, repeat(_READ_AS)))
        lengths = list(map(len, contents))
        if min(lengths) == 0 or max(lengths) > CONTENT_MAX_BYTES or not _all_utf8(contents):
            return None
        return list(zip(map(int, ids), contents, emails, times, strict=True))


def _column_of(value: str) -> re.Pattern[str]:
    """Compile a pattern for a column of such values, one per line."""
    return re.compile(f"(?:{value}\n)*{value}")


# What the common values look like: an id without leading zeros that fits any
# INTEGER; printable ASCII around one "@"; a datetime from year 1000 on.
_COMMON_ID = _column_of(r"[1-9][0-9]{0,8}")
_COMMON_EMAIL = _column_of(r"[!-?A-~]+@[!-?A-~]+")
_COMMON_TIME = _column_of(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def _each_matches(column_pattern: re.Pattern[str], column: Sequence[str]) -> bool:
    """Tell whether every value matches, with one regex run over them all."""
    joined = "\n".join(column)
    # A line feed inside a value would pass for a separator: count them.
    return joined.count("\n") == len(column) - 1 and bool(column_pattern.fullmatch(joined))


def _all_utf8(contents: list[bytes]) -> bool:
    """Tell whether every content is valid UTF-8, decoding many at a time."""
    step = _UTF8_CHECK_ROWS
    for start in range(0, len(contents), step):
        # Joined by NUL: a character cut short at one content's end fails there.
        joined = b"\0".join(contents[start : start + step])
        if not joined.isascii():
            try:
                joined.decode("utf-8")
            except UnicodeDecodeError:
                return False
    return True


@contextlib.contextmanager
def _open_csv(path: Path, span: Span = WHOLE_FILE) -> Iterator[tuple[Callable[[], int], CsvReader]]:
    """Open (a span of) a fixture file for the csv module, as Latin-1 after any byte-order mark.

    Yield a function that tells how far into the file the reading is, and the reader.
    """
    with open(path, "rb") as raw:
        raw.seek(span.start)
        if span.start == 0 and raw.read(len(_BOM)) != _BOM:
            raw.seek(0)
        source: IO[bytes] = raw
        offset = 0
        if span.end is not None:  # a span is small: read it whole, and not a byte further
            offset = raw.tell()
            source = io.BytesIO(raw.read(span.end - offset))
        with io.TextIOWrapper(source, _READ_AS, newline="") as file:
            yield (lambda: offset + source.tell()), csv.reader(file, strict=True)


def _text(value: str) -> str:
    """Decode a field read as Latin-1 into the text it stands for (or raise ValueError)."""
    return value.encode(_READ_AS).decode("utf-8")


def _shown(value: str) -> str:
    """Decode a field read as Latin-1 for a message, marking any bytes that are not UTF-8."""
    return value.encode(_READ_AS).decode("utf-8", "replace")


def read_rows(
    path: Path, loaded_at: str, problems: list[Problem], span: Span = WHOLE_FILE
) -> Iterator[Batch]:
    """Yield batches of valid rows, appending the invalid ones to problems."""
    # No header means it cannot be read; read_records reports why, before any row.
    validator = Validator(path, check_header(path) or COLUMNS, loaded_at)
    for records in read_records(path, problems, span):
        yield validator.batch(records, problems)


def _converter(header: Sequence[str], loaded_at: str) -> Callable[[list[str]], Row]:
    """Make the per-row conversion for this header: the hot loop of every load.

    It takes fields read as Latin-1 (see _READ_AS) and raises ValueError for
    any bad row; the caller then asks the parsers for every problem of that
    row. Common values take cheap checks here and only unusual ones the full
    parsers, which accept or reject them. Whether content is UTF-8 is left to
    the caller, which checks a batch at a time.
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
        content = fields[i_content].encode(_READ_AS)  # the file's UTF-8 bytes, as they were
        if not 0 < len(content) <= CONTENT_MAX_BYTES:
            raise _InvalidValue("content")
        email = fields[i_email]
        # ASCII, one "@" not at either end, no whitespace (none is printable but
        # " "): what EMAIL_RE accepts, tested without a regex; else the regex decides.
        if not (
            len(email) <= db.EMAIL_MAX
            and email.isascii()
            and email.count("@") == 1
            and email[0] != "@" != email[-1]
            and email.isprintable()
            and " " not in email
        ):
            email = parse_email(_text(email))
        when = loaded_at if i_time is None else fields[i_time]
        # YYYY-MM-DD HH:MM:SS from year 1000 on: the separators here, the digits
        # and the calendar (no February 30th) checked by fromisoformat.
        if len(when) == 19 and when.isascii() and when[4::3] == "-- ::" and when[0] != "0":
            fromiso(when)
        else:
            when = parse_datetime(_text(when)) or loaded_at
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
            PARSERS[name](_text(value))
        except UnicodeDecodeError as err:
            problems.append(
                Problem(path, line, name, _shown(value), f"not valid UTF-8 ({err.reason})")
            )
        except _InvalidValue as err:
            problems.append(Problem(path, line, name, _shown(value), str(err)))


def validated(path: Path, loaded_at: str, problems: list[Problem]) -> Iterator[Batch]:
    """Yield the file's valid batches in file order, adding its problems.

    Where the platform can fork, a forked worker shares the reading and
    validating with this process (see prefetch): they cost more than the
    inserts, and with the GIL only a second process gets a second core.
    """
    check_header(path)
    if hasattr(os, "fork"):
        from postctl import prefetch

        yield from prefetch.batches(path, loaded_at, problems)
    else:
        yield from read_rows(path, loaded_at, problems)


def check_header(path: Path) -> list[str] | None:
    """Return the header's column names; raise FixtureError for a bad header.

    A header that cannot be decoded or parsed gives None: that is reported
    with its line when the rows are read.
    """
    with _open_csv(path) as (_tell, reader), contextlib.suppress(csv.Error):
        return read_header(path, reader)
    return None


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

    def batches(self) -> Iterator[Batch]:
        """Yield the valid batches; after a problem, validate on but yield nothing."""
        for batch in validated(self.path, self.loaded_at, self.problems):
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
