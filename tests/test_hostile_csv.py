"""Hostile fixture files: generated and mutated CSVs load exactly as the documented rules say.

Either the load succeeds and dump-fixtures gives back the table as it was plus the
file's rows as tests/oracle.py reads them, or it exits 1 naming file:line problems
and the table is byte for byte unchanged. Through the real CLI, in spans of the
default size and in tiny ones cut anywhere; on SQLite, and on MariaDB when
POSTCTL_TEST_DATABASE_URL is set, by LOAD DATA and by INSERTs.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from postctl import db, schema
from postctl.fixtures import pool
from postctl.fixtures import records as reading
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from tests import oracle
from tests.conftest import CONFIG_VARS, REPO
from tests.hostile import assert_no_crash, examples, invoke

TAKEN = {1, 2, 3, 4, 5}  # the shipped fixtures' ids, in the table before each load
TRICKY = [",", '"', "\n", "\r", "\r\n", "\0", "\\", "\\N", "\t", " ", "é", "🚀", "\ufeff"]
CONTENTS = st.one_of(
    st.lists(st.one_of(st.text(max_size=6), st.sampled_from(TRICKY)), max_size=5).map("".join),
    st.sampled_from(["x" * 65535, "x" * 65536, "é" * 32767 + "x", "é" * 32768]),
)
EMAILS = st.one_of(
    st.from_regex(r"[a-z0-9.+_-]{1,12}@[a-z0-9.-]{1,12}", fullmatch=True),
    st.sampled_from(["a" * 88 + "@example.com", "a" * 89 + "@example.com", "a@b@c", "a b@c"]),
    st.text(max_size=12),
)
TIMES = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.sampled_from(["", "2018-02-30 12:00:00", "0999-12-31 23:59:59", "2018-10-03T12:30"]),
    st.text(max_size=20),
)
IDS = st.one_of(st.integers(1, 12).map(str), st.just(""), st.sampled_from(["0", "07", " 8", "x"]))
PIECES = [b'"', b"\r", b"\n", b"\0", b",", b"\xff", b"\xef\xbb\xbf", b"\\", b"\xc3", b'""']


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A fixture file, valid or nearly, then mutated where it is easy to get wrong."""
    columns = [c for c in oracle.COLUMNS if c in oracle.REQUIRED or draw(st.booleans())]
    columns = draw(st.permutations(columns))
    value = {"id": IDS, "content": CONTENTS, "author_email": EMAILS, "created_time": TIMES}
    rows = draw(st.lists(st.tuples(*(value[c] for c in columns)), max_size=6))
    out = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(out, lineterminator=end, quoting=quoting)
    writer.writerow(columns)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    for _ in range(draw(st.integers(0, 3))):
        data = draw(mutations(data))
    return data


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """One change: a flipped bit, a cut, an inserted byte, a repeated or broken header."""
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["flip", "cut", "insert", "header", "column", "huge"]))
    if kind == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "cut":
        return data[:at]
    if kind == "insert":
        return data[:at] + draw(st.sampled_from(PIECES)) + data[at:]
    if kind == "header":
        head, _, rest = data.partition(b"\n")
        names = head.split(b",")
        change = draw(st.sampled_from(["repeat", "drop", "extra", "again"]))
        if change == "repeat":
            names.append(draw(st.sampled_from(names)))
        elif change == "drop":
            names.pop(draw(st.integers(0, len(names) - 1)))
        elif change == "extra":
            names.append(b"likes")
        else:
            return head + b"\n" + head + b"\n" + rest
        return b",".join(names) + b"\n" + rest
    if kind == "column":
        lines = data.split(b"\n")
        which = draw(st.integers(0, len(lines) - 1))
        lines[which] += b",extra"
        return b"\n".join(lines)
    return data[:at] + b"x" * 70000 + data[at:]  # a huge field, wherever it lands


def dump_rows(text: str) -> list[tuple[str, ...]]:
    return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""))][1:]


@pytest.fixture(params=["default spans", "tiny spans"])
def spans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Spans as shipped, or of a few dozen bytes: cut anywhere, shared with the worker."""
    if request.param == "tiny spans":
        monkeypatch.setattr(reading, "SPAN_BYTES", 48)
        monkeypatch.setattr(reading, "SCAN_BYTES", 7)
        monkeypatch.setattr(reading, "BATCH_SIZE", 2)
        monkeypatch.setattr(pool._Pool, "_helps", lambda pool: pool.given > 0)
    return str(request.param)


WRITERS = ["cli", "inserts"]


@pytest.fixture(params=WRITERS)
def writer(request: pytest.FixtureRequest, db_url: str) -> str:
    """The CLI (LOAD DATA on MariaDB), or INSERTs (the client refusing LOAD DATA LOCAL)."""
    if request.param == "inserts" and not db.is_mysql(db_url):
        pytest.skip("SQLite has one write path: the cli case covers it")
    return str(request.param)


@pytest.fixture
def base(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    eng = db.make_engine(db_url, must_exist=False)
    yield eng
    eng.dispose()


def fresh(engine: Engine) -> None:
    """The table as every example starts: reset, the shipped fixtures loaded."""
    schema.reset_db(engine)
    with db.transaction(engine) as conn:
        load_fixtures(conn, find_files([REPO / "fixtures"]))


def load_with_inserts(db_url: str, path: Path) -> tuple[int, str]:
    """Load through the library with LOAD DATA LOCAL refused by the client."""
    eng = db.make_engine(db_url)
    try:
        with db.transaction(eng) as conn:
            results = load_fixtures(conn, find_files([path]))
        assert [r.method for r in results] == ["executemany"]
        return 0, ""
    except Exception as err:
        return 1, "Error: " + str(err) + "\n"
    finally:
        eng.dispose()


PROBLEM = (
    r"(Error: |  |)(cannot load fixtures, nothing was loaded:|stopped after \d+ problems"
    r"|{p}(:\d+)?: .*)"
)


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=csv_files())
def test_a_file_loads_as_the_rules_say_or_changes_nothing(
    data: bytes, base: Engine, db_url: str, tmp_path: Path, spans: str, writer: str
) -> None:
    note(f"file: {data!r}")
    fresh(base)
    path = tmp_path / "posts.csv"
    path.write_bytes(data)
    env: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    env["POSTCTL_DATABASE_URL"] = db_url
    before = invoke(["dump-fixtures", "-q", str(tmp_path / "before")], env)
    assert before.exit_code == 0, before.output
    if writer == "cli":
        result = invoke(["load-fixtures", "--quiet", str(path)], env)
        assert_no_crash(result)
        code, stderr = result.exit_code, result.stderr
    else:
        code, stderr = load_with_inserts(db_url, path)
    after = invoke(["dump-fixtures", "-q", str(tmp_path / "after")], env)
    assert after.exit_code == 0, after.output
    dumped_before = (tmp_path / "before" / "posts.csv").read_bytes().decode("utf-8")
    dumped_after = (tmp_path / "after" / "posts.csv").read_bytes().decode("utf-8")
    expected = oracle.read(data, TAKEN, nul_ok=not db_url.startswith("postgresql"))
    event("loaded" if code == 0 else "refused")
    if code == 0:
        assert expected.ok, f"loaded a file the rules reject: {expected}"
        rows = dump_rows(dumped_after)
        assert rows[: len(TAKEN)] == dump_rows(dumped_before)
        loaded = sorted(rows[len(TAKEN) :], key=lambda r: int(r[0]))
        want = sorted(expected.rows, key=lambda r: r[0] or 0)
        assert [r[:3] for r in loaded] == [(str(i), c, e) for i, c, e, _ in want]
        for got, (_, _, _, when) in zip(loaded, want, strict=True):
            assert when is None or got[3] == when
    else:
        assert code == 1, stderr
        assert not expected.ok, f"refused a file the rules accept:\n{stderr}"
        assert dumped_after == dumped_before
        pattern = PROBLEM.format(p=re.escape(str(path)))
        for line in stderr.splitlines():
            assert re.fullmatch(pattern, line, re.S), stderr
        if not expected.file_error:
            # Every line named breaks a rule (a duplicate id may go unnamed while a
            # line breaks another rule: the duplicates are found while writing).
            named = {int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+):", stderr)}
            assert named and named <= set(expected.bad_lines), stderr
