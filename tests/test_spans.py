"""Loading a file in spans, by a worker and the loading process, gives what one reader gives."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from postctl import db, schema
from postctl.errors import FixtureError
from postctl.fixtures import pool
from postctl.fixtures import records as reading
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from postctl.fixtures.report import MAX_PROBLEMS, Problem
from postctl.fixtures.validate import read_by_spans
from postctl.rules import Row
from tests.conftest import table_rows, write_csv
from tests.hostile import examples

HEADER = "id,content,author_email,created_time\r\n"


def load(engine: Engine, path: Path) -> tuple[list[tuple[object, ...]], list[str]]:
    """Reset, load, and return the table's rows and the problems reported."""
    schema.reset_db(engine)
    problems: list[str] = []
    try:
        with db.transaction(engine) as conn:
            load_fixtures(conn, find_files([path]))
    except FixtureError as err:
        problems = err.problems
    return table_rows(engine), problems


@pytest.fixture(params=[False, True], ids=["inserts", "load-data"])
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database; on MariaDB, one that loads with LOAD DATA LOCAL too."""
    eng = db.make_engine(db_url, must_exist=False, local_infile=request.param)
    schema.reset_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans of a few records, each of several batches."""
    monkeypatch.setattr(reading, "SPAN_BYTES", 100)
    monkeypatch.setattr(reading, "BATCH_SIZE", 2)  # spans of several batches
    monkeypatch.setattr(reading, "SCAN_BYTES", 7)


@pytest.fixture(params=["worker", "both"])
def small_spans(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, small_reads: None
) -> None:
    """Spans of a few records; the worker alone, or the worker and this process."""
    helps = (lambda pool: False) if request.param == "worker" else (lambda pool: pool.given > 0)
    monkeypatch.setattr(pool._Pool, "_helps", helps)


def content(i: int) -> str:
    return [f"plain {i}", 'a, "quoted" {i}', f"two\nlines {i}", f"crlf\r\n{i}"][i % 4].format(i=i)


def tricky_rows(count: int) -> list[str]:
    """Records with quoted commas, quotes and line breaks; every 7th id left to the database."""
    records = []
    for i in range(1, count + 1):
        row_id = "" if i % 7 == 0 else str(i)
        text = content(i) if i % 4 == 0 else '"' + content(i).replace('"', '""') + '"'
        records.append(f"{row_id},{text},u{i}@example.com,2018-10-03 12:{i % 60:02d}:00\r\n")
    return records


def test_spans_load_the_same_rows_in_the_same_order(
    engine: Engine, tmp_path: Path, small_spans: None
) -> None:
    path = write_csv(tmp_path, "\ufeff" + HEADER + "".join(tricky_rows(60)))
    loaded, problems = load(engine, path)
    assert problems == []
    with pytest.MonkeyPatch.context() as whole:
        whole.setattr(reading, "SPAN_BYTES", 1 << 30)
        assert load(engine, path) == (loaded, [])
    # SQLite gives a row without id the largest id so far plus one: here its line's
    # number, only if the rows were written in file order.
    assert [r[:2] for r in loaded] == [(i, content(i)) for i in range(1, 61)]


def test_the_loading_process_validates_spans_while_the_worker_has_none_ready(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "SPAN_BYTES", 100)
    monkeypatch.setattr(reading, "BATCH_SIZE", 2)
    work = pool._work

    def slow_work(*args: Any) -> None:  # the forked worker only: 50 ms before it starts
        time.sleep(0.05)
        work(*args)

    ahead: list[int] = []
    validate_ahead = pool._Pool._validate_ahead

    def counted(self: pool._Pool) -> bool:
        ahead.append(1)
        return validate_ahead(self)

    monkeypatch.setattr(pool, "_work", slow_work)
    monkeypatch.setattr(pool._Pool, "_validate_ahead", counted)
    path = write_csv(tmp_path, HEADER + "".join(tricky_rows(60)))
    engine = db.make_engine(db_url, must_exist=False)  # without LOAD DATA: the pool's path
    try:
        loaded, problems = load(engine, path)
    finally:
        engine.dispose()
    assert problems == []
    assert [r[:2] for r in loaded] == [(i, content(i)) for i in range(1, 61)]
    assert ahead  # it did not just wait


def test_problems_have_the_same_lines_in_any_span(
    engine: Engine, tmp_path: Path, small_spans: None
) -> None:
    records = tricky_rows(80)
    for at in (5, 33, 61, 77):
        records[at] = records[at].replace("@example.com", "-at-example.com")
    path = write_csv(tmp_path, HEADER + "".join(records))
    loaded, problems = load(engine, path)
    assert loaded == []
    with pytest.MonkeyPatch.context() as whole:
        whole.setattr(reading, "SPAN_BYTES", 1 << 30)
        assert load(engine, path) == ([], problems)
    # Records 2 and 3 of every 4 take two lines each.
    lines = [2 + sum(1 + (i % 4 >= 2) for i in range(1, at + 1)) for at in (5, 33, 61, 77)]
    assert [p.split(": column")[0] for p in problems[1:]] == [f"  {path}:{n}" for n in lines]


def test_at_most_twenty_problems_the_first_in_the_file(
    engine: Engine, tmp_path: Path, small_spans: None
) -> None:
    bad = "".join(f"{i},,a@b.c,\n" for i in range(1, 41))
    path = write_csv(tmp_path, HEADER + bad)
    loaded, problems = load(engine, path)
    assert loaded == []
    assert problems[1:21] == [
        f"  {path}:{line}: column content: must not be empty (value '')" for line in range(2, 22)
    ]
    assert problems[21:] == [f"  stopped after {MAX_PROBLEMS} problems"]


def test_a_quote_inside_an_unquoted_field_does_not_misplace_a_span(
    engine: Engine, tmp_path: Path, small_spans: None
) -> None:
    # The stray quote makes the count odd: the next cut falls inside "two\nlines",
    # the span before it ends inside quotes, and the rest is read in one piece.
    rows = '1,a 5" screen,a@b.c,\n' + "".join(
        f'{i},"two\nlines {i}",a@b.c,2018-10-03 12:30:00\n' for i in range(2, 30)
    )
    path = write_csv(tmp_path, HEADER + rows + "30,last,not-an-email,\n")
    loaded, problems = load(engine, path)
    assert loaded == []
    assert problems[1:] == [
        f"  {path}:59: column author_email: not an email address of the form local@domain"
        " (value 'not-an-email')"
    ]
    fixed = write_csv(tmp_path, HEADER + rows)
    loaded, problems = load(engine, fixed)
    assert problems == []
    assert [r[:2] for r in loaded[:2]] == [(1, 'a 5" screen'), (2, "two\nlines 2")]
    assert len(loaded) == 29


def test_malformed_csv_in_a_later_span_stops_there(
    engine: Engine, tmp_path: Path, small_spans: None
) -> None:
    good = "".join(f"{i},post {i},a@b.c,\n" for i in range(1, 30))
    path = write_csv(tmp_path, HEADER + good + '30,"bad"x,a@b.c,\n31,,a@b.c,\n')
    loaded, problems = load(engine, path)
    assert loaded == []
    assert problems[1:] == [f"  {path}:31: malformed CSV: ',' expected after '\"'"]


def csv_module_records(text: str) -> tuple[list[list[str]], list[int], int] | None:
    """What the csv module reads from text: records, their lines, the next line; None: error."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, lines, line = [], [], 1
    try:
        for fields in reader:
            records.append(fields)
            lines.append(line)
            line = reader.line_num + 1
    except csv.Error:
        return None
    return records, lines, line


FIELD = st.text(st.sampled_from([*'ab,"\n\r\x00é']), max_size=5)
RECORD = st.tuples(
    st.lists(FIELD, max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),  # quote this field?
    st.sampled_from(["\n", "\r\n", "", "\r"]),
)
# Records as a CSV writer makes them: a field with a comma, quote or line feed is
# quoted; no NUL, no carriage return but before a line feed.
CLEAN_FIELD = st.text(st.sampled_from([*'ab,"\né']), max_size=5)
CLEAN_RECORD = st.tuples(
    st.lists(CLEAN_FIELD, max_size=4).map(lambda fs: [f.replace("\n", "\r\n") for f in fs]),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.sampled_from(["\n", "\r\n"]),
).map(
    lambda r: (r[0], [q or bool(set(f) & set(',"\n')) for f, q in zip(*r[:2], strict=False)], r[2])
)


def render(record: tuple[list[str], list[bool], str]) -> str:
    fields, quoting, end = record
    cells = [
        f'"{f.replace(chr(34), chr(34) * 2)}"' if q else f
        for f, q in zip(fields, quoting, strict=False)
    ]
    return ",".join(cells) + end


def stray_quote(record: tuple[list[str], list[bool], str]) -> bool:
    """A quote character inside a field left unquoted: CSV the splitter may leave alone."""
    fields, quoting, _ = record
    return any('"' in f and not q for f, q in zip(fields, quoting, strict=False))


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(CLEAN_RECORD, max_size=8))
def test_splitting_takes_what_a_csv_writer_writes(records: list[Any]) -> None:
    text = "".join(map(render, records))
    split = reading._split_records(text, 1)
    assert split is not None, text
    assert (split.fields, split.lines, split.next_line) == csv_module_records(text)


@settings(max_examples=examples(500), deadline=None)
@given(st.lists(RECORD, max_size=8))
def test_splitting_gives_what_the_csv_module_gives(records: list[Any]) -> None:
    text = "".join(map(render, records))
    split = reading._split_records(text, 1)
    expected = csv_module_records(text)
    if split is not None:
        assert (split.fields, split.lines, split.next_line) == expected
    else:  # declining is allowed only for what the docstring names
        lone_cr = text.count("\r") != text.count("\r\n")
        glued = any(end == "" for _, _, end in records[:-1])  # a quote may follow plain text
        stray = any(map(stray_quote, records))
        assert "\0" in text or lone_cr or expected is None or stray or glued, text


def test_splitting_takes_common_records(tmp_path: Path) -> None:
    text = 'id,"a, ""b""\r\nc",x@y.z,\r\n7,plain,x@y.z,2018-10-03 12:30:00\r\n\r\n'
    split = reading._split_records(text, 10)
    assert split is not None
    assert (split.fields, split.lines, split.next_line) == (
        [["id", 'a, "b"\r\nc', "x@y.z", ""], ["7", "plain", "x@y.z", "2018-10-03 12:30:00"], []],
        [10, 12, 13],
        14,
    )


@pytest.mark.parametrize(
    "text",
    [
        'a"b,"c\n",x"\n',  # a literal quote, then quotes that the csv module pairs otherwise
        '1,"open\n',  # ends inside quotes
        "a\rb\n",  # a carriage return that ends a line on its own
        "a\x00b\n",
        '1,"bad"x,a@b.c,\n',  # text after a closing quote: malformed for the strict csv module
    ],
)
def test_splitting_leaves_what_it_cannot_match_to_the_csv_module(text: str) -> None:
    assert reading._split_records(text, 1) is None


def test_malformed_csv_in_a_span_is_named_by_its_line(tmp_path: Path) -> None:
    """A span after the first, read in this process: no records, the problem on its own line."""
    head = HEADER + "".join(f"{i},post {i},a@b.c,\n" for i in range(1, 30))
    path = write_csv(tmp_path, head + '30,"bad"x,a@b.c,\n31,,a@b.c,\n')
    span = reading.Span(len(head.encode()), path.stat().st_size, 31)
    problems: list[Problem] = []
    assert list(reading.read_records(path, problems, span)) == []
    assert problems == [Problem(path, 31, None, None, "malformed CSV: ',' expected after '\"'")]


def test_batches_say_where_they_end(tmp_path: Path) -> None:
    """Records of 2,000 rows: the line after each, and how far into the file it has been read."""
    rows = [f"{i},post,a@b.c,\n" for i in range(1, 2501)]
    path = write_csv(tmp_path, HEADER + "".join(rows))
    first_batch_ends = len((HEADER + "".join(rows[:2000])).encode())
    size = path.stat().st_size
    batches = list(reading.read_records(path, []))
    assert [(b.lines[0], b.lines[-1], b.next_line) for b in batches] == [
        (2, 2001, 2002),
        (2002, 2501, 2502),
    ]
    # The reader reads ahead: a batch ends at or before the position it gives.
    assert first_batch_ends <= batches[0].position <= batches[1].position == size
    # A later span is split without the csv module; its batches end where the span ends.
    span = reading.Span(len((HEADER + rows[0]).encode()), size, 3)
    batches = list(reading.read_records(path, [], span))
    assert [(b.lines[0], b.lines[-1], b.next_line, b.position) for b in batches] == [
        (3, 2002, 2003, size),
        (2003, 2501, 2502, size),
    ]


def by_spans(path: Path) -> tuple[list[tuple[int, Row]], list[Problem]]:
    """What the MariaDB feed's reader gives (its forked child runs it): lines, rows, problems."""
    problems: list[Problem] = []
    batches = list(read_by_spans(path, "2020-01-01 00:00:00", problems))
    return [(n, row) for b in batches for n, row in zip(b.lines, b.rows, strict=True)], problems


def test_read_by_spans_reads_every_span_in_order(tmp_path: Path, small_reads: None) -> None:
    path = write_csv(tmp_path, "\ufeff" + HEADER + "".join(tricky_rows(60)))
    rows, problems = by_spans(path)
    assert problems == []
    # Records 2 and 3 of every 4 take two lines each.
    lines = [2 + sum(1 + (k % 4 >= 2) for k in range(1, i)) for i in range(1, 61)]
    assert [(n, row[0], row[1].decode()) for n, row in rows] == [
        (line, None if i % 7 == 0 else i, content(i)) for i, line in enumerate(lines, 1)
    ]


def test_read_by_spans_reads_the_rest_whole_after_a_span_cut_in_quotes(
    tmp_path: Path, small_reads: None
) -> None:
    # The stray quote, after the first span, makes the count odd: a later cut falls inside
    # "two\nlines", the span before it ends inside quotes, and the rest is read in one piece.
    plain = "".join(f"{i},plain {i},a@b.c,2018-10-03 12:30:00\n" for i in range(1, 11))
    rows = '11,a 5" screen,a@b.c,2018-10-03 12:30:00\n' + "".join(
        f'{i},"two\nlines {i}",a@b.c,2018-10-03 12:30:00\n' for i in range(12, 40)
    )
    path = write_csv(tmp_path, HEADER + plain + rows + "40,last,not-an-email,\n41,fine,a@b.c,\n")
    read, problems = by_spans(path)
    assert problems == [
        Problem(
            path,
            69,
            "author_email",
            "not-an-email",
            "not an email address of the form local@domain",
        )
    ]
    at = "2018-10-03 12:30:00"
    assert read == (
        [(i + 1, (i, f"plain {i}".encode(), "a@b.c", at)) for i in range(1, 11)]
        + [(12, (11, b'a 5" screen', "a@b.c", at))]
        + [(2 * i - 11, (i, f"two\nlines {i}".encode(), "a@b.c", at)) for i in range(12, 40)]
        + [(70, (41, b"fine", "a@b.c", "2020-01-01 00:00:00"))]
    )


def test_read_by_spans_follows_the_header_and_names_bad_rows(
    tmp_path: Path, small_reads: None
) -> None:
    rows = [f",u{i}@b.c,{i},post {i}\n" for i in range(1, 41)]
    rows[24] = ",u25@b.c,25,\n"  # line 26: no content
    path = write_csv(tmp_path, "created_time,author_email,id,content\n" + "".join(rows))
    read, problems = by_spans(path)
    assert problems == [Problem(path, 26, "content", "", "must not be empty")]
    assert read == [
        (i + 1, (i, f"post {i}".encode(), f"u{i}@b.c", "2020-01-01 00:00:00"))
        for i in range(1, 41)
        if i != 25
    ]


def test_read_by_spans_stops_at_malformed_csv(tmp_path: Path, small_reads: None) -> None:
    good = "".join(f"{i},post {i},a@b.c,\n" for i in range(1, 30))
    path = write_csv(tmp_path, HEADER + good + '30,"bad"x,a@b.c,\n31,,a@b.c,\n32,,a@b.c,\n')
    _, problems = by_spans(path)
    assert problems == [Problem(path, 31, None, None, "malformed CSV: ',' expected after '\"'")]


def test_a_worker_that_dies_fails_the_load(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(*_args: object) -> None:
        os._exit(1)

    monkeypatch.setattr(reading, "SPAN_BYTES", 100)
    monkeypatch.setattr(pool._Pool, "_helps", lambda pool: False)
    monkeypatch.setattr(pool, "_validate_span", die)  # the worker forks with this
    path = write_csv(tmp_path, HEADER + "".join(tricky_rows(20)))
    eng = db.make_engine(db_url, must_exist=False)  # without LOAD DATA: the worker's path
    try:
        assert load(eng, path) == (
            [],
            [
                "cannot load fixtures, nothing was loaded:",
                f"  {path}: the validating process stopped early",
            ],
        )
    finally:
        eng.dispose()


def expected_spans(data: bytes, span_bytes: int) -> list[tuple[int, int | None]]:
    """Where spans end, by the rule: past span_bytes, after the next line feed outside quotes."""
    found: list[tuple[int, int | None]] = []
    start = 0
    while True:
        end, quotes = min(start + span_bytes, len(data)), 0
        quotes = data.count(b'"', start, end) % 2
        while end < len(data):
            quotes ^= data[end] == ord('"')
            end += 1
            if data[end - 1] == ord("\n") and not quotes:
                break
        found.append((start, None if end >= len(data) else end))
        if end >= len(data):
            return found
        start = end


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=300).map(lambda b: bytes(b'"\na,'[x % 4] for x in b)), st.integers(1, 40))
def test_spans_end_after_a_line_feed_outside_quotes(data: bytes, span_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posts.csv"
        path.write_bytes(data)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reading, "SPAN_BYTES", span_bytes)
            patch.setattr(reading, "SCAN_BYTES", 7)
            cut = [(s.start, s.end) for s in reading.spans(path)]
    assert cut == expected_spans(data, span_bytes)
