"""Write validated fixture rows as fast as each backend allows, in the caller's transaction.

SQLite: the sqlite3 module's executemany on the raw DBAPI connection under the
caller's SQLAlchemy Connection (Core's per-row bookkeeping costs more than
SQLite's own work). MariaDB/MySQL: the rows are streamed through a named pipe
into `LOAD DATA LOCAL INFILE`, the server's own bulk loader; where the client
or the server forbids it, multi-row INSERTs through the driver's executemany.
Each path keeps the all-or-nothing contract: a duplicate id is an error
naming its file and line, never a skipped row.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy import exc as sa_exc

from postctl import db
from postctl.fixtures import (
    MAX_PROBLEMS,
    Problem,
    Row,
    Source,
    check_header,
    db_problem,
    duplicates,
    read_rows,
)

COLUMNS = ("id", "content", "author_email", "created_time")
# SQLAlchemy stores a SQLite DATETIME with microseconds; rows loaded here must
# compare equal to rows it wrote, so the suffix is added in SQL, not per row in Python.
# Content arrives as UTF-8 bytes (cheaper to pass between processes and to bind
# than text) and becomes TEXT in SQL.
_SQLITE_ROW = "(?, CAST(? AS TEXT), ?, ? || '.000000')"
# Rows per INSERT on SQLite: one statement per row costs half again the time of
# fifty, and its 200 parameters stay below every SQLite's variable limit (999).
_SQLITE_GROUP = 50
_MYSQL_VALUES = "VALUES (%s, %s, %s, %s)"
_SQLITE_UPSERT = " ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in COLUMNS[1:]
)
_MYSQL_UPSERT = " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in COLUMNS[1:])
_LOAD_DATA = (
    "LOAD DATA LOCAL INFILE %s{verb} INTO TABLE `{table}` CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
    "LINES TERMINATED BY '\\n' STARTING BY '' ({columns})"
)
# LOAD DATA's escapes for the characters that would end a field or a line,
# the escape character first.
_ESCAPES = [(b"\\", b"\\\\"), (b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r"), (b"\0", b"\\0")]
_NULL = "\\N"
_INFO = re.compile(r"Records: (\d+)\s+Deleted: (\d+)\s+Skipped: (\d+)\s+Warnings: (\d+)")
_DUPLICATE = re.compile(r"Duplicate entry '(\d+)' for key")


def empty(conn: Connection, table_name: str) -> None:
    """Delete every row of the table, inside the caller's transaction (no TRUNCATE: it commits)."""
    conn.execute(db.metadata.tables[table_name].delete())


def write(conn: Connection, table_name: str, source: Source, upsert: bool) -> tuple[int, str]:
    """Write the file's valid rows into the table; return the row count and the method used.

    After the first problem, the file is still validated to its end (to
    report more problems) but nothing more is written.
    """
    if source.problems:  # an earlier file failed: only validate this one
        return check(conn, table_name, source, insert=False)[0], "validation only"
    fifo_ok = hasattr(os, "mkfifo") and hasattr(os, "fork")
    if db.is_mysql(conn.engine.url) and fifo_ok and _local_infile_works(conn, table_name):
        return _load_data(conn, table_name, source, upsert), "load data"
    return _executemany(conn, table_name, source, upsert), "executemany"


def check(conn: Connection, table_name: str, source: Source, insert: bool) -> tuple[int, str]:
    """Count the rows a load would write; in insert mode, find ids already taken. Write nothing."""
    table = db.metadata.tables[table_name]
    path, problems = source.path, source.problems
    seen: set[int] = set()
    count = 0
    for batch in source.batches():
        count += len(batch.rows)
        if not insert or len(problems) >= MAX_PROBLEMS:
            continue
        ids = [row[0] for row in batch.rows if row[0] is not None]
        existing = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
        problems.extend(duplicates(path, batch, existing | (seen & set(ids))))
        seen.update(ids)
    return count, "dry run"


def _executemany(conn: Connection, table_name: str, source: Source, upsert: bool) -> int:
    """Insert batch by batch with the driver's executemany, each batch in a savepoint."""
    path, problems = source.path, source.problems
    sqlite = conn.dialect.name == "sqlite"
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    insert = _sqlite_insert(cursor, table_name, upsert) if sqlite else None
    sql = f"INSERT INTO {table_name} ({', '.join(COLUMNS)}) {_MYSQL_VALUES}"
    sql += _MYSQL_UPSERT if upsert else ""
    count = 0
    for batch in source.batches():
        if problems or not batch.rows:
            continue  # keep validating, stop writing
        # A savepoint undoes a batch that fails half-way, so that the rows already
        # in the table can be told from the batch's own when looking for duplicates.
        savepoint = conn.begin_nested()
        try:
            if insert is not None:
                insert(batch.rows)
            else:  # mysqlclient's executemany already sends multi-row INSERTs
                cursor.executemany(sql, batch.rows)
        except dbapi.IntegrityError as err:
            savepoint.rollback()
            existing = _existing(conn, table_name, [r[0] for r in batch.rows])
            problems.extend(duplicates(path, batch, existing) or [db_problem(path, batch, err)])
            continue
        except dbapi.DatabaseError as err:
            savepoint.rollback()
            problems.append(db_problem(path, batch, err))
            continue
        savepoint.commit()
        count += len(batch.rows)
    cursor.close()
    return count


def _sqlite_insert(cursor: Any, table_name: str, upsert: bool) -> Callable[[list[Row]], None]:
    """Make a function that inserts rows in statements of _SQLITE_GROUP rows each."""
    head = f"INSERT INTO {table_name} ({', '.join(COLUMNS)}) VALUES "
    tail = _SQLITE_UPSERT if upsert else ""
    one = head + _SQLITE_ROW + tail
    many = head + ", ".join([_SQLITE_ROW] * _SQLITE_GROUP) + tail
    step = _SQLITE_GROUP * len(COLUMNS)

    def insert(rows: list[Row]) -> None:
        whole = len(rows) - len(rows) % _SQLITE_GROUP
        if whole:
            flat = list(chain.from_iterable(rows))
            groups = range(0, whole * len(COLUMNS), step)
            cursor.executemany(many, [flat[i : i + step] for i in groups])
        if whole < len(rows):
            cursor.executemany(one, rows[whole:])

    return insert


def _existing(conn: Connection, table_name: str, ids: Iterable[int | None]) -> set[int]:
    table = db.metadata.tables[table_name]
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return set()
    return set(conn.execute(select(table.c.id).where(table.c.id.in_(wanted))).scalars())


def _local_infile_works(conn: Connection, table_name: str) -> bool:
    """Try LOAD DATA LOCAL on an empty file: both client and server must allow it."""
    try:
        # Zero rows: harmless, and the one reliable test of both sides' settings.
        # A refused statement leaves a MySQL transaction as it was.
        conn.exec_driver_sql(_statement(table_name, upsert=False), (os.devnull,))
    except sa_exc.DBAPIError:
        return False
    return True


def _statement(table_name: str, upsert: bool) -> str:
    return _LOAD_DATA.format(
        verb=" REPLACE" if upsert else "", table=table_name, columns=", ".join(COLUMNS)
    )


def _load_data(conn: Connection, table_name: str, source: Source, upsert: bool) -> int:
    """Have a child stream the valid rows through a named pipe into LOAD DATA LOCAL INFILE;
    then check that the server took every row it was sent."""
    from postctl.prefetch import Feed

    path, problems = source.path, source.problems
    check_header(path)
    raw = conn.connection.driver_connection
    table = db.metadata.tables[table_name]
    # A savepoint lets a failed load be undone to tell ids that were in the table
    # from the file's own duplicates; into an empty table (the common case after
    # reset-db or with --replace) none is needed, and InnoDB loads faster without.
    was_empty = conn.execute(select(table.c.id).limit(1)).first() is None
    savepoint = None if was_empty else conn.begin_nested()
    with tempfile.TemporaryDirectory(prefix="postctl-") as tmp:
        fifo = os.path.join(tmp, "rows.tsv")
        os.mkfifo(fifo, 0o600)
        feed = Feed(path, source.loaded_at, fifo, _tsv, problems, source.progress)
        try:
            conn.exec_driver_sql(_statement(table_name, upsert), (fifo,))
        except BaseException:
            feed.stop()
            if savepoint is not None:
                savepoint.rollback()
            raise
        sent = feed.finish()
    info = _INFO.search(raw.info() or "")  # type: ignore[union-attr]
    records, _deleted, skipped, warnings = (int(g) for g in info.groups()) if info else (-1,) * 4
    if records == sent and skipped == 0 and warnings == 0 and not problems:
        if savepoint is not None:
            savepoint.commit()
        return records
    # The load has failed: the caller's transaction will roll it all back.
    messages = [] if problems else [str(r[2]) for r in conn.exec_driver_sql("SHOW WARNINGS")]
    if savepoint is not None:
        savepoint.rollback()
    if not problems:
        problems.extend(_load_problems(conn, table_name, path, messages, sent, records, was_empty))
    return 0


def _load_problems(
    conn: Connection,
    table_name: str,
    path: Path,
    messages: list[str],
    sent: int,
    records: int,
    was_empty: bool,
) -> list[Problem]:
    """Explain why LOAD DATA did not take every row: duplicate ids by line, else its warnings."""
    ids = {int(m.group(1)) for m in map(_DUPLICATE.search, messages) if m}
    if ids:
        existing = set() if was_empty else _existing(conn, table_name, ids)
        return _duplicate_lines(path, ids, existing)
    found = [Problem(path, None, None, None, f"database warning: {m}") for m in messages]
    return found or [
        Problem(path, None, None, None, f"database took {records} of {sent} rows; nothing loaded")
    ]


def _duplicate_lines(path: Path, ids: set[int], existing: set[int]) -> list[Problem]:
    """Read the file again to name the lines of the duplicate ids (only on failure)."""
    found: list[Problem] = []
    seen: set[int] = set()
    for batch in read_rows(path, "", []):
        found += duplicates(path, batch, existing, seen, only=ids)
        if len(found) >= MAX_PROBLEMS:
            return found[:MAX_PROBLEMS]
    return found


def _tsv(rows: list[Row]) -> bytes:
    """Render rows in LOAD DATA's default format: tab-separated, backslash escapes, UTF-8."""
    # Built as Latin-1 text, one character per byte: content stays the bytes it came as.
    lines: list[str] = []
    add = lines.append
    for row_id, data, email, created in rows:
        # Five byte searches (memchr) cost less than one regex or translate pass.
        if b"\\" in data or b"\t" in data or b"\n" in data or b"\r" in data or b"\0" in data:
            data = _escaped(data)
        if not email.isascii() or not email.isprintable() or "\\" in email:
            email = _escaped(email.encode("utf-8")).decode("latin-1")
        add(
            f"{_NULL if row_id is None else row_id}\t{data.decode('latin-1')}\t{email}\t{created}\n"
        )
    return "".join(lines).encode("latin-1")


def _escaped(data: bytes) -> bytes:
    for special, escape in _ESCAPES:
        data = data.replace(special, escape)
    return data
