from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from postctl import db
from postctl.errors import FixtureError
from postctl.fixtures import records
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from postctl.fixtures.records import Records
from postctl.fixtures.report import MAX_PROBLEMS, LoadResult, Problem
from postctl.fixtures.validate import Batch, Validator
from postctl.rules import COLUMNS, Row
from tests import oracle
from tests.conftest import REPO, write_csv
from tests.hostile import examples

HEADER = "id,content,author_email,created_time\n"


def load(engine: Engine, *paths: Path) -> list[LoadResult]:
    with db.transaction(engine) as conn:
        return load_fixtures(conn, find_files(paths))


def rows(engine: Engine) -> list[tuple[object, ...]]:
    from tests.conftest import table_rows

    return table_rows(engine)


def assert_rejected(engine: Engine, path: Path, *expected: str) -> None:
    """Loading fails with exactly these problems and leaves the table as it was."""
    before = rows(engine)
    with pytest.raises(FixtureError) as err:
        load(engine, path)
    assert err.value.problems == ["cannot load fixtures, nothing was loaded:"] + [
        f"  {line}" for line in expected
    ]
    assert rows(engine) == before


def test_shipped_fixtures_load_with_every_value_intact(engine: Engine) -> None:
    results = load(engine, REPO / "fixtures")
    assert [(r.table, r.rows) for r in results] == [("post", 5)]
    loaded = rows(engine)
    assert loaded[:2] == [
        (1, "Hello", "me@me.com", datetime(2018, 10, 3, 12, 30)),
        (2, "Second", "me@fb.com", datetime(2018, 10, 4, 15, 20)),
    ]
    assert loaded[2][1] == 'Commas, "quotes" and a\nline break, all in one post'
    assert loaded[3][1] == "안녕하세요! 첫 번째 한국어 게시물입니다."
    assert loaded[4][1] == "Launch day 🚀 — with an emoji"


def test_bom_crlf_and_t_separator_are_accepted(engine: Engine, tmp_path: Path) -> None:
    data = '\ufeffid,content,author_email,created_time\r\n7,"a\r\nb",x@y.z,2018-10-03T12:30:00\r\n'
    load(engine, write_csv(tmp_path, data))
    assert rows(engine) == [(7, "a\r\nb", "x@y.z", datetime(2018, 10, 3, 12, 30))]


def test_id_and_created_time_may_be_left_out(engine: Engine, tmp_path: Path) -> None:
    load(engine, write_csv(tmp_path, "content,author_email\nfirst,a@b.c\nsecond,a@b.c\n"))
    loaded = rows(engine)
    assert [(r[0], r[1]) for r in loaded] == [(1, "first"), (2, "second")]
    assert all(isinstance(r[3], datetime) for r in loaded)


def test_email_of_100_characters_loads_and_101_does_not(engine: Engine, tmp_path: Path) -> None:
    ok = "a" * 88 + "@example.com"
    assert len(ok) == 100
    load(engine, write_csv(tmp_path, f"content,author_email\nok,{ok}\n"))
    bad = "a" * 89 + "@example.com"
    path = write_csv(tmp_path, f"content,author_email\nfits,x@y.z\ntoo long,{bad}\n", "post.csv")
    assert_rejected(
        engine,
        path,
        f"{path}:3: column author_email: longer than 100 characters (101) (value '{'a' * 39}…')",
    )


def test_korean_and_emoji_count_as_characters_not_bytes(engine: Engine, tmp_path: Path) -> None:
    email = "가" * 90 + "@example.kr"  # 101 characters, far more bytes
    path = write_csv(tmp_path, f"content,author_email\n🚀,{email[1:]}\n")
    load(engine, path)
    assert rows(engine)[0][1:3] == ("🚀", email[1:])


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        ("x,Hi,a@b.c,2018-10-03 12:30:00", "id", "x", "not a positive integer"),
        ("1.5,Hi,a@b.c,2018-10-03 12:30:00", "id", "1.5", "not a positive integer"),
        ("0,Hi,a@b.c,2018-10-03 12:30:00", "id", "0", "out of range (1 to 2147483647)"),
        ("1,,a@b.c,2018-10-03 12:30:00", "content", "", "must not be empty"),
        (
            "1,Hi,nobody,2018-10-03 12:30:00",
            "author_email",
            "nobody",
            "not an email address of the form local@domain",
        ),
        (
            "1,Hi,a@b.c,03/10/2018",
            "created_time",
            "03/10/2018",
            "not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00",
        ),
        (
            "1,Hi,a@b.c,2018-02-30 12:00:00",
            "created_time",
            "2018-02-30 12:00:00",
            "not a valid datetime (day is out of range for month)",
        ),
        (
            "1,Hi,a@b.c,2018-10-03 12:30:00+02:00",
            "created_time",
            "2018-10-03 12:30:00+02:00",
            "not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00",
        ),
    ],
)
def test_bad_value_names_file_line_column_and_loads_nothing(
    engine: Engine, tmp_path: Path, line: str, column: str, value: str, reason: str
) -> None:
    path = write_csv(tmp_path, HEADER + "9,fine,a@b.c,2018-10-03 12:30:00\n" + line + "\n")
    assert_rejected(engine, path, f"{path}:3: column {column}: {reason} (value {value!r})")


def test_reports_every_problem_up_to_the_limit(engine: Engine, tmp_path: Path) -> None:
    bad = "".join(f"{i},,a@b.c,\n" for i in range(1, 31))
    path = write_csv(tmp_path, HEADER + bad)
    with pytest.raises(FixtureError) as err:
        load(engine, path)
    problems = err.value.problems
    assert len(problems) == 1 + MAX_PROBLEMS + 1
    assert problems[1] == f"  {path}:2: column content: must not be empty (value '')"
    assert problems[-1] == f"  stopped after {MAX_PROBLEMS} problems"


def test_line_numbers_count_lines_inside_quoted_fields(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + '1,"two\nlines",a@b.c,\n2,ok,bad,\n')
    assert_rejected(
        engine,
        path,
        f"{path}:4: column author_email: not an email address of the form local@domain "
        "(value 'bad')",
    )


def test_duplicate_id_in_file_loads_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "1,a,a@b.c,\n2,b,a@b.c,\n1,c,a@b.c,\n")
    assert_rejected(
        engine, path, f"{path}:4: column id: duplicate id (also on an earlier line) (value '1')"
    )


def test_id_already_in_table_loads_nothing(engine: Engine, tmp_path: Path) -> None:
    load(engine, write_csv(tmp_path, HEADER + "5,a,a@b.c,\n"))
    path = write_csv(tmp_path, HEADER + "6,b,a@b.c,\n5,c,a@b.c,\n", "post.csv")
    assert_rejected(
        engine,
        path,
        f"{path}:3: column id: duplicate id (already in the table or on an earlier line) "
        "(value '5')",
    )


def test_duplicate_across_batches_is_found(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "BATCH_SIZE", 2)
    path = write_csv(tmp_path, HEADER + "1,a,a@b.c,\n2,b,a@b.c,\n3,c,a@b.c,\n1,d,a@b.c,\n")
    with pytest.raises(FixtureError, match=r":5: column id: duplicate id"):
        load(engine, path)
    assert rows(engine) == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "id,content,author_email,created_time,likes",
            "unknown column 'likes'; columns are id, content, author_email, created_time",
        ),
        ("id,content,created_time", "missing required column 'author_email'"),
        ("id,content,content,author_email", "column 'content' appears more than once"),
    ],
)
def test_bad_header_is_named(engine: Engine, tmp_path: Path, header: str, message: str) -> None:
    path = write_csv(tmp_path, header + "\n")
    with pytest.raises(FixtureError) as err:
        load(engine, path)
    assert err.value.problems == [f"{path}:1: {message}"]


def test_empty_file_is_an_error(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "")
    with pytest.raises(FixtureError) as err:
        load(engine, path)
    assert err.value.problems == [f"{path}: file is empty; expected a header line"]


def test_header_only_loads_zero_rows(engine: Engine, tmp_path: Path) -> None:
    assert [r.rows for r in load(engine, write_csv(tmp_path, HEADER))] == [0]


def test_bytes_that_are_not_utf8_name_line_and_column(engine: Engine, tmp_path: Path) -> None:
    data = HEADER.encode() + b"1,ok,a@b.c,\n2,caf\xe9,a@b.c,\n3,ok,\xff@b.c,\n4,fine,a@b.c,\n"
    path = write_csv(tmp_path, data)
    assert_rejected(
        engine,
        path,
        f"{path}:3: column content: not valid UTF-8 (unexpected end of data) (value 'caf\ufffd')",
        f"{path}:4: column author_email: not valid UTF-8 (invalid start byte) (value '\ufffd@b.c')",
    )


def test_a_character_split_between_two_contents_is_not_utf8(engine: Engine, tmp_path: Path) -> None:
    # Together the two contents would spell "a中b": each must be checked on its own.
    data = HEADER.encode() + b"1,a\xe4,a@b.c,\n2,\xb8\xadb,a@b.c,\n"
    path = write_csv(tmp_path, data)
    assert_rejected(
        engine,
        path,
        f"{path}:2: column content: not valid UTF-8 (unexpected end of data) (value 'a\ufffd')",
        f"{path}:3: column content: not valid UTF-8 (invalid start byte) (value '\ufffd\ufffdb')",
    )


def test_non_ascii_email_and_content_load_as_text(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "1,café 🚀,zoë@exämple.com,2018-10-03 12:30:00\n")
    load(engine, path)
    assert rows(engine) == [(1, "café 🚀", "zoë@exämple.com", datetime(2018, 10, 3, 12, 30))]


def test_wrong_number_of_fields(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "1,a,a@b.c\n")
    assert_rejected(engine, path, f"{path}:2: expected 4 fields, found 3")


def test_second_file_bad_leaves_first_unloaded(engine: Engine, tmp_path: Path) -> None:
    good = write_csv(tmp_path, HEADER + "1,a,a@b.c,\n", "posts.csv")
    other = tmp_path / "more"
    other.mkdir()
    bad = write_csv(other, HEADER + "2,b,not-an-email,\n", "posts.csv")
    with pytest.raises(FixtureError), db.transaction(engine) as conn:
        load_fixtures(conn, find_files([good, bad]))
    assert rows(engine) == []


def test_find_files_expands_directory_and_names_tables(tmp_path: Path) -> None:
    write_csv(tmp_path, HEADER, "posts.csv")
    (tmp_path / "notes.txt").write_text("ignored")
    assert find_files([tmp_path]) == [(tmp_path / "posts.csv", "post")]


def test_find_files_reports_unknown_table_and_missing_path(tmp_path: Path) -> None:
    stray = write_csv(tmp_path, HEADER, "comments.csv")
    with pytest.raises(FixtureError) as err:
        find_files([stray, tmp_path / "nope.csv"])
    assert err.value.problems == [
        f"{stray}: no table for this file name; expected posts.csv",
        f"{tmp_path / 'nope.csv'}: no such file or directory",
    ]


def test_overlong_content_is_rejected_before_the_database(engine: Engine, tmp_path: Path) -> None:
    big = "가" * 21846  # 65,538 bytes in UTF-8
    path = write_csv(tmp_path, f"content,author_email\n{big},a@b.c\n")
    with pytest.raises(FixtureError, match=r":2: column content: longer than 65535 bytes"):
        load(engine, path)
    assert rows(engine) == []


def _as_read(text: str) -> str:
    """A value as the reader hands it over: its UTF-8 bytes, one character each.

    A lone surrogate from \\udc80 up stands for a byte that is not UTF-8.
    """
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _mostly(common: st.SearchStrategy[str], *unusual: str) -> st.SearchStrategy[str]:
    """Common values three times in four, so that whole batches of them come up."""
    return st.one_of(common, common, common, st.sampled_from(unusual))


# Values off the common path, by column, in COLUMNS order: some valid, some not.
UNUSUAL = [
    ["1000000000", "2147483647", "0", "07", "", " 1", "1\n2", "\u0661"],
    ["", "a\nb", "x" * 65535, "x" * 65536, "caf\udce9"],
    [
        "x" * 98 + "@b",
        "x" * 99 + "@b",
        "a@@b",
        "@b",
        "ab@",
        "a b@c",
        "zoë@b.c",
        "a@b\nc@d",
        "a@b\t",
    ],
    ["2018-02-30 12:30:00", "0999-10-03 12:30:00", "2018-10-03T12:30:00", "2018-10-03 12:30"],
]
UNUSUAL[3] += ["2018-10-03 12:30:00\n", "\uff12\uff1018-10-03 12:30:00", ""]
IDS = _mostly(st.integers(1, 999_999_999).map(str), *UNUSUAL[0])
CONTENTS = _mostly(st.text(min_size=1, max_size=8), *UNUSUAL[1])
EMAILS = _mostly(st.from_regex(r"[!-?A-~]{1,10}@[!-?A-~]{1,10}", fullmatch=True), *UNUSUAL[2])
TIMES = _mostly(
    st.datetimes(datetime(1000, 1, 1)).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    *UNUSUAL[3],
)


LOADED_AT = "2020-01-01 00:00:00"
COMMON = ["7", "안녕 🚀", "a@b.c", "2018-10-03 12:30:00"]


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8
        return False
    return True


def _by_the_rules(header: list[str], records: list[list[str]]) -> tuple[list[Row], list[int]]:
    """The rows and the bad lines (from 2) by the documented rules (tests/oracle.py)."""
    rows: list[Row] = []
    bad: list[int] = []
    for line, record in enumerate(records, start=2):
        values = dict(zip(header, record, strict=True))
        raw_id, raw_time = values.get("id", ""), values.get("created_time", "")
        when = oracle.created_time(raw_time) if raw_time else LOADED_AT
        if (
            all(map(_utf8, record))
            and (raw_id == "" or oracle.id_ok(raw_id))
            and oracle.content_ok(values["content"])
            and oracle.email_ok(values["author_email"])
            and when is not None
        ):
            row_id = int(raw_id) if raw_id else None
            rows.append((row_id, values["content"].encode(), values["author_email"], when))
        else:
            bad.append(line)
    return rows, bad


def _common(record: list[str]) -> bool:
    """Values as most files hold them, which the column checks must take without help."""
    row_id, content, email, when = record
    return (
        re.fullmatch(r"[1-9][0-9]{0,8}", row_id) is not None
        and _utf8(content)
        and oracle.content_ok(content)
        and re.fullmatch(r"[!-?A-~]+@[!-?A-~]+", email) is not None
        and len(email) <= oracle.EMAIL_MAX
        and len(when) == 19
        and when[10] == " "
        and oracle.created_time(when) is not None
    )


def _check_batch(header: list[str], records: list[list[str]]) -> None:
    """The validator keeps exactly the rows the rules keep and names exactly the bad lines."""
    validator = Validator(Path("posts.csv"), header, LOADED_AT)
    fields = [[_as_read(v) for v in record] for record in records]
    rows, bad = _by_the_rules(header, records)
    by_column = validator._by_column(fields)
    if by_column is not None:
        assert by_column == rows
    in_order = [[r[header.index(c)] for c in COLUMNS] for r in records] if len(header) == 4 else []
    if records and in_order and all(map(_common, in_order)):
        assert by_column == rows, "the column checks declined common values"
    problems: list[Problem] = []
    lines = list(range(2, len(records) + 2))
    batch = validator.batch(Records(lines, fields, 0), problems)
    assert batch.rows == rows
    assert batch.lines == [n for n in lines if n not in bad]
    assert sorted({p.line for p in problems if p.line is not None}) == bad


@pytest.mark.parametrize(
    ("column", "value"), [(c, v) for c, values in enumerate(UNUSUAL) for v in values]
)
def test_unusual_values_are_judged_by_the_rules(column: int, value: str) -> None:
    unusual = [*COMMON[:column], value, *COMMON[column + 1 :]]
    _check_batch(list(COLUMNS), [COMMON, unusual])


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(st.tuples(IDS, CONTENTS, EMAILS, TIMES), max_size=4), st.permutations(range(4)))
def test_validation_keeps_what_the_rules_keep(
    records: list[tuple[str, str, str, str]], order: list[int]
) -> None:
    _check_batch([COLUMNS[i] for i in order], [[record[i] for i in order] for record in records])


def test_column_checks_take_the_common_values(tmp_path: Path) -> None:
    validator = Validator(tmp_path, list(COLUMNS), "2020-01-01 00:00:00")
    fields = [["7", _as_read("안녕 🚀"), "a@b.c", "2018-10-03 12:30:00"]]
    assert validator._by_column(fields) == [(7, "안녕 🚀".encode(), "a@b.c", "2018-10-03 12:30:00")]


def test_a_quote_left_open_at_the_end_is_malformed_csv(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + '1,ok,a@b.c,\n2,"never closed,a@b.c,\n')
    assert_rejected(engine, path, f"{path}:3: malformed CSV: unexpected end of data")


def test_malformed_csv_is_named_by_the_line_its_record_starts_on(
    engine: Engine, tmp_path: Path
) -> None:
    # The csv module fails past a line break inside the quotes (a carriage return):
    # on line 3 as it counts, in the record that starts on line 2.
    huge = "x" * (csv.field_size_limit() + 1)
    path = write_csv(tmp_path, f'{HEADER}1,"\r{huge}",a@b.c,\n2,b,a@b.c,\n')
    reason = f"malformed CSV: field larger than field limit ({csv.field_size_limit()})"
    assert_rejected(engine, path, f"{path}:2: {reason}")


def test_a_quote_left_open_in_the_header_is_malformed_csv_on_line_1(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, 'id,"content,author_email,created_time\n1,a,b@c.d,\n')
    assert_rejected(engine, path, f"{path}:1: malformed CSV: unexpected end of data")


def test_a_taken_id_after_a_row_without_id_is_named(engine: Engine, tmp_path: Path) -> None:
    load(engine, write_csv(tmp_path, HEADER + "1,a,a@b.c,\n"))
    path = write_csv(tmp_path, HEADER + ",b,a@b.c,\n1,c,a@b.c,\n", "post.csv")
    assert_rejected(
        engine,
        path,
        f"{path}:3: column id: duplicate id (already in the table or on an earlier line) "
        "(value '1')",
    )


def test_a_taken_id_twice_is_named_each_time(engine: Engine, tmp_path: Path) -> None:
    load(engine, write_csv(tmp_path, HEADER + "5,a,a@b.c,\n"))
    path = write_csv(tmp_path, HEADER + "5,b,a@b.c,\n6,c,a@b.c,\n5,d,a@b.c,\n", "post.csv")
    assert_rejected(
        engine,
        path,
        f"{path}:2: column id: duplicate id (already in the table or on an earlier line) "
        "(value '5')",
        f"{path}:4: column id: duplicate id (also on an earlier line) (value '5')",
    )


def test_read_rows_follows_the_files_own_columns(tmp_path: Path) -> None:
    """Two columns of four, in another order: each value lands in its own field."""
    from postctl.fixtures.validate import read_rows

    path = write_csv(tmp_path, "author_email,content\na@b.c,Hello\n")
    problems: list[Problem] = []
    rows = [row for batch in read_rows(path, "2020-01-01 00:00:00", problems) for row in batch.rows]
    assert (rows, problems) == ([(None, b"Hello", "a@b.c", "2020-01-01 00:00:00")], [])


def test_read_rows_of_a_span_reads_from_its_start(tmp_path: Path) -> None:
    """The rest of a file from a record boundary on (a load's fallback when a span is cut)."""
    from postctl.fixtures.records import Span
    from postctl.fixtures.validate import read_rows

    first = "1,a,a@b.c,2020-01-01 00:00:00\n"
    path = write_csv(tmp_path, HEADER + first + "2,b,a@b.c,2020-01-01 00:00:00\n")
    span = Span(len(HEADER + first), None, 3)
    problems: list[Problem] = []
    batches = list(read_rows(path, "2020-01-01 00:00:00", problems, span))
    assert [(b.lines, b.rows) for b in batches] == [
        ([3], [(2, b"b", "a@b.c", "2020-01-01 00:00:00")])
    ]
    assert problems == []


def test_read_rows_names_every_problem_of_each_bad_row(tmp_path: Path) -> None:
    """In this process (a load does it in a worker): the good rows, and each bad one's problems."""
    from postctl.fixtures.validate import read_rows

    data = b"1,a,a@b.c\n2,caf\xe9,a@b.c,\n3,ok,\xff@b.c,\n4,fine,a@b.c,\n5,,bad,\n"
    path = write_csv(tmp_path, HEADER.encode() + data)
    problems: list[Problem] = []
    rows = [row for batch in read_rows(path, "2020-01-01 00:00:00", problems) for row in batch.rows]
    assert rows == [(4, b"fine", "a@b.c", "2020-01-01 00:00:00")]
    assert problems == [
        Problem(path, 2, None, None, "expected 4 fields, found 3"),
        Problem(path, 3, "content", "caf\ufffd", "not valid UTF-8 (unexpected end of data)"),
        Problem(path, 4, "author_email", "\ufffd@b.c", "not valid UTF-8 (invalid start byte)"),
        Problem(path, 6, "content", "", "must not be empty"),
        Problem(path, 6, "author_email", "bad", "not an email address of the form local@domain"),
    ]


def test_a_batch_keeps_its_file_position_on_every_path(tmp_path: Path) -> None:
    """The position (bytes read, for the progress line) passes through each way of validating."""
    validator = Validator(tmp_path / "posts.csv", list(COLUMNS), "2020-01-01 00:00:00")
    when = "2020-01-01 00:00:00"
    common = ["1", "x", "a@b.c", when]  # checked a column at a time
    unusual = ["2", "x", "zo\u00eb@b.c".encode().decode("latin-1"), when]  # row by row
    bad = ["3", "", "a@b.c", when]  # row by row, each row on its own
    batches = [
        validator.batch(Records([2], [fields], 4096), []) for fields in (common, unusual, bad)
    ]
    assert batches == [
        Batch([2], [(1, b"x", "a@b.c", when)], 4096),
        Batch([2], [(2, b"x", "zo\u00eb@b.c", when)], 4096),
        Batch([], [], 4096),
    ]


def test_content_not_utf8_is_found_wherever_it_is_in_a_batch(tmp_path: Path) -> None:
    """UTF-8 is checked many contents at a time: the last of 600 is checked too."""
    validator = Validator(tmp_path / "posts.csv", list(COLUMNS), "2020-01-01 00:00:00")
    fields = [[str(i), "x", "a@b.c", "2020-01-01 00:00:00"] for i in range(1, 601)]
    fields[-1][1] = b"caf\xe9".decode("latin-1")  # as the reader gives bytes that are not UTF-8
    problems: list[Problem] = []
    batch = validator.batch(Records(list(range(2, 602)), fields, 0), problems)
    assert (len(batch.rows), batch.lines[-1]) == (599, 600)
    assert [(p.line, p.column) for p in problems] == [(601, "content")]
