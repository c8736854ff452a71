"""load-fixtures modes, dry run, id sequence, reset-db --fixtures and dump-fixtures."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from postctl import db, output, schema
from postctl.commands import base, data
from postctl.errors import FixtureError
from postctl.fixtures.dump import dump
from postctl.fixtures.files import find_files
from postctl.fixtures.load import load as load_fixtures
from tests.conftest import REPO, Run, table_rows, write_csv

HEADER = "id,content,author_email,created_time\n"
SUMMARY = r"Loaded {rows} rows into post from {path} in \d+\.\d\d s \([\d,]+ rows/s\)\.\n"
SHIPPED_DUMP = (
    HEADER + "1,Hello,me@me.com,2018-10-03 12:30:00\n"
    "2,Second,me@fb.com,2018-10-04 15:20:00\n"
    '3,"Commas, ""quotes"" and a\nline break, all in one post",quoting@example.com,'
    "2018-10-05 09:00:00\n"
    "4,안녕하세요! 첫 번째 한국어 게시물입니다.,korean@example.kr,2018-10-06 18:45:00\n"
    "5,Launch day 🚀 — with an emoji,emoji@example.com,2018-10-07 07:07:07\n"
)


def summary(rows: int, path: Path) -> str:
    return SUMMARY.format(rows=rows, path=re.escape(str(path)))


def loading_engine(url: str) -> Engine:
    """An engine as the load commands make it (LOAD DATA LOCAL allowed on MySQL)."""
    return db.make_engine(url, local_infile=True)


def test_load_summary_names_rows_table_file_and_speed(engine: Engine, run: Run) -> None:
    path = REPO / "fixtures" / "posts.csv"
    result = run("load-fixtures", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert re.fullmatch(summary(5, path), result.stderr), result.stderr


def test_quiet_prints_nothing(engine: Engine, run: Run) -> None:
    result = run("load-fixtures", "--quiet", str(REPO / "fixtures"))
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == ("", "")
    assert len(table_rows(engine)) == 5


def test_replace_empties_the_table_first(loaded: Engine, run: Run, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "2,new two,a@b.c,2020-01-01 00:00:00\n7,seven,a@b.c,\n")
    result = run("load-fixtures", "--replace", "--yes", str(path))
    assert result.exit_code == 0, result.output
    assert [(r[0], r[1]) for r in table_rows(loaded)] == [(2, "new two"), (7, "seven")]


def test_replace_refuses_without_yes_and_terminal(
    loaded: Engine, run: Run, tmp_path: Path, db_url: str
) -> None:
    before = table_rows(loaded)
    path = write_csv(tmp_path, HEADER + "7,seven,a@b.c,\n")
    result = run("load-fixtures", "--replace", str(path))
    assert result.exit_code == base.EXIT_REFUSED
    assert result.stderr == (
        f"Error: refusing to replace post in {db.mask_url(db_url)}, nothing changed: "
        "no terminal to confirm on; pass --yes\n"
    )
    assert table_rows(loaded) == before


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 4)])
def test_replace_asks_on_a_terminal(
    loaded: Engine,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
) -> None:
    monkeypatch.setattr(base, "_stdin_is_tty", lambda: True)
    before = table_rows(loaded)
    path = write_csv(tmp_path, HEADER + "7,seven,a@b.c,\n")
    result = run("load-fixtures", "--replace", "--quiet", str(path), input=answer)
    assert result.exit_code == code, result.output
    assert "Delete every row of post in " in result.stderr
    assert [r[0] for r in table_rows(loaded)] == ([7] if code == 0 else [r[0] for r in before])


def test_upsert_updates_existing_ids_and_inserts_the_rest(
    loaded: Engine, run: Run, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path, HEADER + "2,changed,new@b.c,2021-02-03 04:05:06\n9,nine,a@b.c,2021-01-01 00:00\n"
    )
    result = run("load-fixtures", "--upsert", str(path))
    assert result.exit_code == 0, result.output
    rows = table_rows(loaded)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 9]
    assert rows[1] == (2, "changed", "new@b.c", datetime(2021, 2, 3, 4, 5, 6))
    assert rows[5] == (9, "nine", "a@b.c", datetime(2021, 1, 1))
    assert rows[0] == (1, "Hello", "me@me.com", datetime(2018, 10, 3, 12, 30))


def test_replace_and_upsert_together_is_a_usage_error(run: Run) -> None:
    result = run("load-fixtures", "--replace", "--upsert", "--yes")
    assert result.exit_code == 2
    assert "--replace and --upsert exclude each other" in result.stderr


def test_dry_run_reports_and_writes_nothing(engine: Engine, run: Run) -> None:
    path = REPO / "fixtures" / "posts.csv"
    result = run("load-fixtures", "--dry-run", str(path))
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        summary(5, path)
        .replace("Loaded", "Would load")
        .replace(r"\)\.", r"\) \(dry run: nothing written\)\."),
        result.stderr,
    ), result.stderr
    assert table_rows(engine) == []


def test_dry_run_finds_bad_values_and_taken_ids(loaded: Engine, run: Run, tmp_path: Path) -> None:
    before = table_rows(loaded)
    path = write_csv(tmp_path, HEADER + "3,dup,a@b.c,\n8,ok,a@b.c,\n8,again,a@b.c,\n")
    result = run("load-fixtures", "--dry-run", str(path))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot load fixtures, nothing was loaded:\n"
        f"  {path}:2: column id: duplicate id (already in the table or on an earlier line) "
        "(value '3')\n"
        f"  {path}:4: column id: duplicate id (also on an earlier line) (value '8')\n"
    )
    bad = write_csv(tmp_path, HEADER + "8,ok,a@b.c,\n9,,a@b.c,\n", "post.csv")
    result = run("load-fixtures", "--dry-run", str(bad))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot load fixtures, nothing was loaded:\n"
        f"  {bad}:3: column content: must not be empty (value '')\n"
    )
    assert table_rows(loaded) == before


def test_next_id_is_above_the_largest_loaded_id(engine: Engine, run: Run, tmp_path: Path) -> None:
    result = run("load-fixtures", str(write_csv(tmp_path, HEADER + "3,a,a@b.c,\n40,b,a@b.c,\n")))
    assert result.exit_code == 0, result.output
    more = write_csv(tmp_path, "content,author_email\nc,a@b.c\n", "post.csv")
    result = run("load-fixtures", str(more))
    assert result.exit_code == 0, result.output
    assert [r[0] for r in table_rows(engine)] == [3, 40, 41]


def test_ids_left_empty_follow_the_largest_id_so_far(
    engine: Engine, run: Run, tmp_path: Path
) -> None:
    rows = "5,a,a@b.c,\n,b,a@b.c,\n2,c,a@b.c,\n,d,a@b.c,\n"
    result = run("load-fixtures", str(write_csv(tmp_path, HEADER + rows)))
    assert result.exit_code == 0, result.output
    assert [r[:2] for r in table_rows(engine)] == [(2, "c"), (5, "a"), (6, "b"), (7, "d")]


def test_upsert_of_a_repeated_id_keeps_the_last_row(
    loaded: Engine, run: Run, tmp_path: Path
) -> None:
    rows = "2,first,a@b.c,\n7,seven,a@b.c,\n2,last,a@b.c,\n7,again,a@b.c,\n"
    result = run("load-fixtures", "--upsert", str(write_csv(tmp_path, HEADER + rows)))
    assert result.exit_code == 0, result.output
    assert [r[:2] for r in table_rows(loaded)][1:] == [
        (2, "last"),
        (3, 'Commas, "quotes" and a\nline break, all in one post'),
        (4, "안녕하세요! 첫 번째 한국어 게시물입니다."),
        (5, "Launch day 🚀 — with an emoji"),
        (7, "again"),
    ]


def test_reset_db_with_fixtures_resets_and_loads(loaded: Engine, run: Run, db_url: str) -> None:
    path = REPO / "fixtures" / "posts.csv"
    result = run("reset-db", "--yes", "--fixtures", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Reset {db.mask_url(db_url)}: dropped and created table post.\n"
    assert re.fullmatch(summary(5, path), result.stderr), result.stderr
    assert len(table_rows(loaded)) == 5


def test_reset_db_with_bad_fixtures_changes_nothing(
    loaded: Engine, run: Run, tmp_path: Path
) -> None:
    before = table_rows(loaded)
    result = run("reset-db", "--yes", "--fixtures", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'missing.csv'}: no such file or directory\n"
    assert table_rows(loaded) == before


def test_dump_fixtures_writes_the_loadable_format(loaded: Engine, run: Run, tmp_path: Path) -> None:
    result = run("dump-fixtures", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    dumped = tmp_path / "out" / "posts.csv"
    assert result.stderr == f"Dumped 5 rows of post to {dumped}.\n"
    assert dumped.read_bytes() == SHIPPED_DUMP.encode("utf-8")
    assert list((tmp_path / "out").iterdir()) == [dumped]


def test_dump_then_reset_then_load_gives_the_same_database(
    loaded: Engine, run: Run, tmp_path: Path
) -> None:
    before = table_rows(loaded)
    dumped = run("dump-fixtures", str(tmp_path))
    assert dumped.exit_code == 0, dumped.output
    assert dumped.stderr == f"Dumped 5 rows of post to {tmp_path / 'posts.csv'}.\n"
    result = run("reset-db", "--yes", "--fixtures", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert table_rows(loaded) == before


def test_lone_carriage_return_is_quoted_in_a_dump(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + '1,"a\rb",a@b.c,2018-10-03 12:30:00\n')
    with db.transaction(engine) as conn:
        load_fixtures(conn, find_files([path]))
    with db.transaction(engine) as conn:
        dump(conn, tmp_path / "out")
    assert (tmp_path / "out" / "posts.csv").read_bytes() == (
        HEADER + '"1","a\rb","a@b.c","2018-10-03 12:30:00"\n'
    ).encode()


def test_special_characters_survive_every_write_path(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    content = "tab\there\\N back\\slash\nnew\r\nline \x00nul \\t café 🚀 한국어 trailing  "
    if engine.dialect.name == "postgresql":  # no NUL there: see test_nul.py
        content = content.replace("\x00", "")
    path = tmp_path / "posts.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        output.write_rows([_Post(1, content, "x\\y@bö.c", datetime(2018, 1, 2, 3, 4, 5))], out)
    for make in (loading_engine, db.make_engine):
        eng = make(db_url)
        schema.reset_db(eng)
        with db.transaction(eng) as conn:
            load_fixtures(conn, find_files([path]))
        assert table_rows(eng) == [(1, content, "x\\y@bö.c", datetime(2018, 1, 2, 3, 4, 5))]
        eng.dispose()


class _Post:
    def __init__(self, id: int, content: str, author_email: str, created_time: datetime) -> None:
        self.id = id
        self.content = content
        self.author_email = author_email
        self.created_time = created_time


def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'stored.db'}", must_exist=False)
    schema.reset_db(eng)
    with db.transaction(eng) as conn:
        load_fixtures(conn, find_files([REPO / "fixtures"]))
        conn.execute(
            schema.post.insert().values(
                id=9, content="c", author_email="a@b.c", created_time=datetime(2018, 10, 3, 12, 30)
            )
        )
    with eng.connect() as conn:
        stored = conn.execute(text("SELECT created_time FROM post WHERE id IN (1, 9)")).all()
    assert stored == [("2018-10-03 12:30:00.000000",)] * 2
    eng.dispose()


def test_load_data_path_reports_duplicates_by_line(mysql_url: str, tmp_path: Path) -> None:
    eng = loading_engine(mysql_url)
    schema.reset_db(eng)
    with db.transaction(eng) as conn:
        first = load_fixtures(conn, find_files([write_csv(tmp_path, HEADER + "5,a,a@b.c,\n")]))
    assert first[0].method == "load data"
    path = write_csv(
        tmp_path, HEADER + "6,b,a@b.c,\n5,c,a@b.c,\n7,d,a@b.c,\n6,e,a@b.c,\n", "post.csv"
    )
    with pytest.raises(FixtureError) as err, db.transaction(eng) as conn:
        load_fixtures(conn, find_files([path]))
    assert err.value.problems == [
        "cannot load fixtures, nothing was loaded:",
        f"  {path}:3: column id: duplicate id (already in the table or on an earlier line) "
        "(value '5')",
        f"  {path}:5: column id: duplicate id (also on an earlier line) (value '6')",
    ]
    assert [r[0] for r in table_rows(eng)] == [5]
    schema.reset_db(eng)  # into an empty table LOAD DATA runs without a savepoint
    with pytest.raises(FixtureError) as err, db.transaction(eng) as conn:
        load_fixtures(conn, find_files([path]))
    assert err.value.problems == [
        "cannot load fixtures, nothing was loaded:",
        f"  {path}:5: column id: duplicate id (also on an earlier line) (value '6')",
    ]
    assert table_rows(eng) == []
    eng.dispose()


def test_mysql_falls_back_when_local_infile_is_off(mysql_url: str, tmp_path: Path) -> None:
    eng = db.make_engine(mysql_url)  # the client does not allow LOAD DATA LOCAL
    schema.reset_db(eng)
    with db.transaction(eng) as conn:
        results = load_fixtures(conn, find_files([REPO / "fixtures"]))
    assert [(r.rows, r.method) for r in results] == [(5, "executemany")]
    assert len(table_rows(eng)) == 5
    eng.dispose()


def test_bad_row_at_the_end_of_a_long_file_loads_nothing(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    good = "".join(f"{i},post {i},a{i}@b.c,2018-10-03 12:30:00\n" for i in range(1, 30_001))
    path = write_csv(tmp_path, HEADER + good + "30001,last,not-an-email,\n")
    eng = loading_engine(db_url)
    with (
        pytest.raises(FixtureError, match=r":30002: column author_email"),
        db.transaction(eng) as conn,
    ):
        load_fixtures(conn, find_files([path]))
    assert table_rows(engine) == []
    eng.dispose()


def test_progress_bar_only_when_stderr_is_a_terminal(
    engine: Engine, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "".join(f"{i},post {i} {'x' * 200},a@b.c,\n" for i in range(1, 5001))
    path = write_csv(tmp_path, HEADER + body)
    assert path.stat().st_size > 1 << 20  # big enough to be worth a bar
    result = run("load-fixtures", str(path))
    assert result.exit_code == 0, result.output
    assert re.fullmatch(summary(5000, path), result.stderr), result.stderr
    monkeypatch.setattr(data, "_stderr_is_tty", lambda: True)
    result = run("load-fixtures", "--replace", "--yes", str(path))
    assert result.exit_code == 0, result.output
    # Click draws the bar itself only on a real terminal; elsewhere, its label.
    assert re.fullmatch(re.escape(f"{path}\n") + summary(5000, path), result.stderr)
    result = run("load-fixtures", "--replace", "--yes", "--quiet", str(path))
    assert (result.exit_code, result.stderr) == (0, "")


def test_dump_before_reset_says_what_to_do_and_writes_nothing(run: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db.make_engine(url, must_exist=False).dispose()
    (tmp_path / "empty.db").touch()
    result = run("dump-fixtures", str(tmp_path / "out"), url=url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {url}: no such table: post; run `postctl reset-db` first to create the schema\n"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_a_server_without_local_infile_gets_inserts(
    mysql_url: str, no_local_infile_url: str, run: Run, tmp_path: Path
) -> None:
    """The fallback MySQL 8 needs by default: the client allows LOAD DATA LOCAL, the server not."""
    eng = loading_engine(no_local_infile_url)
    schema.reset_db(eng)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT @@GLOBAL.local_infile")).scalar_one() == 0
    path = write_csv(tmp_path, HEADER + "1,a\\b,x\\y@b.c,2018-10-03 12:30:00\n")
    with db.transaction(eng) as conn:
        results = load_fixtures(conn, find_files([path]))
    assert [(r.rows, r.method) for r in results] == [(1, "executemany")]
    assert table_rows(eng) == [(1, "a\\b", "x\\y@b.c", datetime(2018, 10, 3, 12, 30))]
    eng.dispose()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("OperationalError", "disk I/O error\nmore"),
        ("OperationalError", ""),
        ("IntegrityError", "x"),
    ],
)
def test_a_batch_the_database_rejects_is_named_by_its_lines(
    engine: Engine, tmp_path: Path, kind: str, message: str
) -> None:
    """An error other than a duplicate id: the batch's lines and the first line of the reason."""
    from postctl.fixtures.report import Problem
    from postctl.fixtures.source import Source
    from postctl.fixtures.write import insert_batches

    header = "id,content,author_email,created_time\n"
    rows = "".join(f"{i},a,a@b.c,2020-01-0{i} 00:00:00\n" for i in (1, 2, 3))
    path = write_csv(tmp_path, header + rows)
    problems: list[Problem] = []
    with engine.begin() as conn:
        rejected = getattr(conn.dialect.loaded_dbapi, kind)(message)

        def refuse(_rows: object) -> None:
            raise rejected

        count = insert_batches(conn, "post", Source(path, "2020-01-03 00:00:00", problems), refuse)
    reason = message.splitlines()[0] if message else kind
    assert (count, problems) == (
        0,
        [Problem(path, 2, None, None, f"database rejected rows on lines 2-4: {reason}")],
    )
    assert table_rows(engine) == []


def test_a_duplicate_id_does_not_hide_a_later_batchs_problems(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The INSERT path (SQLite; MariaDB without LOAD DATA), in batches of 2,000 rows.

    After a duplicate id in the first batch the file is still read to its end, so a
    bad value in the third batch is named too; but nothing more is written, so the
    second batch's own repeated id is not looked for (the dry run names every one).
    """
    eng = loading_engine(db_url)
    with eng.connect() as conn:
        if eng.dialect.name != "sqlite" and not (
            eng.dialect.name in ("mysql", "mariadb")
            and conn.execute(text("SELECT @@GLOBAL.local_infile")).scalar_one() == 0
        ):
            eng.dispose()
            pytest.skip("LOAD DATA and COPY write a file in one piece, not in batches")
    ids = list(range(1, 4201))
    ids[1] = 1  # line 3 repeats line 2's id: the first batch (lines 2-2001)
    ids[3000] = ids[2999]  # line 3002 repeats line 3001's: the second (lines 2002-4001)
    rows = [f"{i},post,a@b.c,2020-01-01 00:00:00\n" for i in ids]
    rows[4099] = f"{ids[4099]},bad email,not-an-email,\n"  # line 4101: the third batch
    path = write_csv(tmp_path, HEADER + "".join(rows))
    with pytest.raises(FixtureError) as err, db.transaction(eng) as conn:
        load_fixtures(conn, find_files([path]))
    assert err.value.problems == [
        "cannot load fixtures, nothing was loaded:",
        f"  {path}:3: column id: duplicate id (also on an earlier line) (value '1')",
        f"  {path}:4101: column author_email: not an email address of the form local@domain "
        "(value 'not-an-email')",
    ]
    assert table_rows(engine) == []
    eng.dispose()


def test_a_rejected_batch_does_not_hide_a_later_batchs_problems(
    engine: Engine, tmp_path: Path
) -> None:
    """After the database rejects the first batch, the file is still read to its end."""
    from postctl.fixtures.report import Problem
    from postctl.fixtures.source import Source
    from postctl.fixtures.write import insert_batches

    rows = [f"{i},a,a@b.c,2020-01-01 00:00:00\n" for i in range(1, 2501)]
    rows[2299] = "2300,,a@b.c,\n"  # line 2301, in the second batch: empty content
    path = write_csv(tmp_path, HEADER + "".join(rows))
    problems: list[Problem] = []
    with engine.begin() as conn:
        rejected = conn.dialect.loaded_dbapi.OperationalError("disk I/O error")

        def refuse(_rows: object) -> None:
            raise rejected

        count = insert_batches(conn, "post", Source(path, "2020-01-03 00:00:00", problems), refuse)
    assert (count, sorted(problems, key=lambda p: p.line or 0)) == (
        0,
        [
            Problem(path, 2, None, None, "database rejected rows on lines 2-2001: disk I/O error"),
            Problem(path, 2301, "content", "", "must not be empty"),
        ],
    )
    assert table_rows(engine) == []


def test_duplicates_carries_seen_ids_across_batches_and_keeps_to_the_ids_asked_for(
    tmp_path: Path,
) -> None:
    """As the MariaDB and PostgreSQL writers name the lines of duplicate ids after a failed load."""
    from postctl.fixtures.report import Problem
    from postctl.fixtures.validate import Batch
    from postctl.fixtures.write import duplicates

    path = tmp_path / "posts.csv"
    when = "2020-01-01 00:00:00"
    first = Batch([2, 3], [(1, b"a", "a@b.c", when), (2, b"b", "a@b.c", when)])
    second = Batch([4, 5, 6, 7], [(i, b"c", "a@b.c", when) for i in (1, 2, 3, None)])
    seen: set[int] = set()
    assert duplicates(path, first, {3}, seen, only={1, 3}) == []
    assert duplicates(path, second, {3}, seen, only={1, 3}) == [
        Problem(path, 4, "id", "1", "duplicate id (also on an earlier line)"),
        Problem(path, 6, "id", "3", "duplicate id (already in the table or on an earlier line)"),
    ]
    assert seen == {1, 3}


def test_load_data_gets_rows_in_its_tab_separated_format_with_backslash_escapes() -> None:
    """What the MariaDB feed writes into the pipe (in its forked child), per LOAD DATA's format:
    fields ended by a tab, lines by a line feed, \\ \\t \\n \\r \\0 escaped, \\N for no id."""
    from postctl.fixtures.write_mysql import _tsv
    from postctl.rules import Row

    when = "2020-01-02 03:04:05"
    specials = [b"\\", b"\t", b"\n", b"\r", b"\x00"]
    escaped = [b"\\\\", b"\\t", b"\\n", b"\\r", b"\\0"]
    rows: list[Row] = [(i, b"a" + c + b"b", "x@b.c", when) for i, c in enumerate(specials, 1)]
    rows += [(i, b"c", f"a{c.decode()}b@c.d", when) for i, c in enumerate(specials, 6)]
    rows += [
        (None, "caf\u00e9 \U0001f680".encode(), "zo\u00eb@ex\u00e4mple.com", when),
        (12, b"plain", "a@b.c", when),
    ]
    assert _tsv(rows) == b"".join(
        [b"%d\ta%sb\tx@b.c\t%s\n" % (i, e, when.encode()) for i, e in enumerate(escaped, 1)]
        + [b"%d\tc\ta%sb@c.d\t%s\n" % (i, e, when.encode()) for i, e in enumerate(escaped, 6)]
        + [
            b"\\N\tcaf\xc3\xa9 \xf0\x9f\x9a\x80\tzo\xc3\xab@ex\xc3\xa4mple.com\t%s\n"
            % when.encode(),
            b"12\tplain\ta@b.c\t%s\n" % when.encode(),
        ]
    )
    assert _tsv([]) == b""


def test_load_data_problems_name_duplicate_lines_else_the_warnings(
    engine: Engine, tmp_path: Path
) -> None:
    """Why LOAD DATA did not take every row, from its warnings: duplicate ids by line (those
    already in the table told apart), else each warning, else the count it took."""
    from postctl.fixtures.report import Problem
    from postctl.fixtures.write_mysql import _load_problems

    with db.transaction(engine) as conn:
        conn.execute(schema.post.insert(), [{"id": 5, "content": "x", "author_email": "a@b.c"}])
    rows = "5,a,a@b.c,\n6,b,a@b.c,\n7,c,a@b.c,\n6,d,a@b.c,\n8,e,a@b.c,\n"
    path = write_csv(tmp_path, HEADER + rows)
    duplicate = ["Duplicate entry '5' for key 'PRIMARY'", "Duplicate entry '6' for key 'PRIMARY'"]
    taken = "duplicate id (already in the table or on an earlier line)"
    with engine.connect() as conn:
        assert _load_problems(conn, "post", path, duplicate, 5, 3, False) == [
            Problem(path, 2, "id", "5", taken),
            Problem(path, 5, "id", "6", "duplicate id (also on an earlier line)"),
        ]
        assert _load_problems(conn, "post", path, duplicate[1:], 5, 4, True) == [
            Problem(path, 5, "id", "6", "duplicate id (also on an earlier line)"),
        ]
        assert _load_problems(
            conn, "post", path, ["Data truncated", "Out of range"], 5, 5, True
        ) == [
            Problem(path, None, None, None, "database warning: Data truncated"),
            Problem(path, None, None, None, "database warning: Out of range"),
        ]
        assert _load_problems(conn, "post", path, [], 5, 4, True) == [
            Problem(path, None, None, None, "database took 4 of 5 rows; nothing loaded"),
        ]


def test_load_data_duplicates_are_named_across_batches(engine: Engine, tmp_path: Path) -> None:
    """After LOAD DATA names duplicate ids, their lines are found in every batch of the file."""
    from postctl.fixtures.report import Problem
    from postctl.fixtures.write_mysql import _load_problems

    ids = list(range(1, 2501))
    ids[2] = 2  # line 4 repeats line 3's id, in the first batch
    ids[2298] = 7  # line 2300 repeats line 8's id, in the second
    path = write_csv(tmp_path, HEADER + "".join(f"{i},a,a@b.c,\n" for i in ids))
    warnings = ["Duplicate entry '2' for key 'PRIMARY'", "Duplicate entry '7' for key 'PRIMARY'"]
    with engine.connect() as conn:
        assert _load_problems(conn, "post", path, warnings, 2500, 2498, True) == [
            Problem(path, 4, "id", "2", "duplicate id (also on an earlier line)"),
            Problem(path, 2300, "id", "7", "duplicate id (also on an earlier line)"),
        ]


def test_each_backend_names_its_write_method(engine: Engine) -> None:
    """The result names how the rows went in: SQLite's executemany, MariaDB's LOAD DATA, ..."""
    expected = {"sqlite": "executemany", "postgresql": "copy"}.get(engine.dialect.name)
    if expected is None:
        pytest.skip("MariaDB's two methods are checked by the tests of each path")
    with db.transaction(engine) as conn:
        results = load_fixtures(conn, find_files([REPO / "fixtures"]))
    assert [(r.rows, r.method) for r in results] == [(5, expected)]
