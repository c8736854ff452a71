from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from postctl import output
from postctl.commands import base
from tests import servers
from tests.conftest import REPO, Run, table_rows, write_csv

POST_1_TABLE = (
    "id            1\n"
    "content       Hello\n"
    "author_email  me@me.com\n"
    "created_time  2018-10-03 12:30:00\n"
)


def test_show_post_prints_one_field_per_row(loaded: Engine, run: Run) -> None:
    result = run("show-post", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == POST_1_TABLE
    assert result.stderr == ""


def test_show_post_2_and_3(loaded: Engine, run: Run) -> None:
    result = run("show-post", "2", "--style", "grid")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "+--------------+---------------------+\n"
        "| id           | 2                   |\n"
        "+--------------+---------------------+\n"
        "| content      | Second              |\n"
        "+--------------+---------------------+\n"
        "| author_email | me@fb.com           |\n"
        "+--------------+---------------------+\n"
        "| created_time | 2018-10-04 15:20:00 |\n"
        "+--------------+---------------------+\n"
    )


def test_show_post_json_round_trips_korean_and_emoji(loaded: Engine, run: Run) -> None:
    result = run("show-post", "4", "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"id": 4, "content": "안녕하세요! 첫 번째 한국어 게시물입니다.", '
        '"author_email": "korean@example.kr", "created_time": "2018-10-06T18:45:00"}\n'
    )
    result = run("show-post", "5", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"id": 5, "content": "Launch day 🚀 — with an emoji", '
        '"author_email": "emoji@example.com", "created_time": "2018-10-07T07:07:07"}\n'
    )


def test_show_post_csv_is_fixture_format(loaded: Engine, run: Run) -> None:
    result = run("show-post", "3", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "id,content,author_email,created_time\n"
        '3,"Commas, ""quotes"" and a\nline break, all in one post",quoting@example.com,'
        "2018-10-05 09:00:00\n"
    )


def test_show_missing_post_exits_3_with_one_line(loaded: Engine, run: Run) -> None:
    result = run("show-post", "99")
    assert result.exit_code == base.EXIT_NOT_FOUND == 3
    assert result.stdout == ""
    assert result.stderr == "Error: post 99 not found\n"


@pytest.mark.parametrize(
    ("bad_id", "why"),
    [
        ("0", "0 is not in the range x>=1."),
        ("-3", "-3 is not in the range x>=1."),
        ("abc", "'abc' is not a valid integer range."),
        ("1.5", "'1.5' is not a valid integer range."),
    ],
)
def test_show_post_bad_id_is_usage_error(loaded: Engine, run: Run, bad_id: str, why: str) -> None:
    result = run("show-post", "--", bad_id)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for 'ID': {why}"


def test_show_post_before_reset_says_what_to_do(tmp_path: Path, run: Run) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = run("show-post", "1", url=url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {url}: database file {tmp_path / 'new.db'} does not exist; "
        "run `postctl reset-db` first to create it\n"
    )
    assert not (tmp_path / "new.db").exists()


def test_reset_db_with_yes_empties_and_reports(loaded: Engine, run: Run, db_url: str) -> None:
    from postctl.db import mask_url

    result = run("reset-db", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Reset {mask_url(db_url)}: dropped and created table post.\n"
    assert table_rows(loaded) == []


def test_reset_db_refuses_without_yes_and_without_terminal(
    loaded: Engine, run: Run, db_url: str
) -> None:
    from postctl.db import mask_url

    before = table_rows(loaded)
    result = run("reset-db")
    assert result.exit_code == base.EXIT_REFUSED == 4
    assert result.stderr == (
        f"Error: refusing to reset {mask_url(db_url)}, nothing changed: "
        "no terminal to confirm on; pass --yes\n"
    )
    assert table_rows(loaded) == before


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 4), ("\n", 4)])
def test_reset_db_asks_on_a_terminal(
    loaded: Engine, run: Run, monkeypatch: pytest.MonkeyPatch, answer: str, code: int, db_url: str
) -> None:
    from postctl.db import mask_url

    monkeypatch.setattr(base, "_stdin_is_tty", lambda: True)
    before = table_rows(loaded)
    result = run("reset-db", input=answer)
    assert result.exit_code == code, result.output
    # The question on stderr, "no" unless answered: stdout stays for what was done.
    question = f"Drop and recreate all tables in {mask_url(db_url)}? Every post will be lost."
    refusal = f"Error: refusing to reset {mask_url(db_url)}, nothing changed: not confirmed\n"
    assert result.stderr == f"{question} [y/N]: {answer}" + ("" if code == 0 else refusal)
    done = f"Reset {mask_url(db_url)}: dropped and created table post.\n"
    assert result.stdout == (done if code == 0 else "")
    assert table_rows(loaded) == ([] if code == 0 else before)


def test_load_fixtures_default_directory_summary(
    engine: Engine, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    result = run("load-fixtures")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert re.fullmatch(
        r"Loaded 5 rows into post from fixtures/posts\.csv in \d+\.\d\d s \([\d,]+ rows/s\)\.\n",
        result.stderr,
    ), result.stderr
    assert len(table_rows(engine)) == 5


def test_load_fixtures_bad_file_exits_1_and_loads_nothing(
    loaded: Engine, run: Run, tmp_path: Path
) -> None:
    before = table_rows(loaded)
    path = write_csv(tmp_path, "id,content,author_email\n10,ok,a@b.c\n11,bad," + "a" * 101 + "\n")
    result = run("load-fixtures", str(path))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot load fixtures, nothing was loaded:\n"
        f"  {path}:3: column author_email: longer than 100 characters (101) "
        f"(value '{'a' * 39}…')\n"
    )
    assert table_rows(loaded) == before


def test_load_fixtures_duplicate_of_loaded_row(loaded: Engine, run: Run) -> None:
    result = run("load-fixtures", str(REPO / "fixtures" / "posts.csv"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[:2] == [
        "Error: cannot load fixtures, nothing was loaded:",
        f"  {REPO / 'fixtures' / 'posts.csv'}:2: column id: duplicate id "
        "(already in the table or on an earlier line) (value '1')",
    ]
    assert len(table_rows(loaded)) == 5


def test_password_never_printed(run: Run) -> None:
    pytest.importorskip("MySQLdb")
    url = "mysql+mysqldb://app:Very$ecret@127.0.0.1:9/posts"
    for args in (["show-post", "1"], ["reset-db"], ["reset-db", "--yes"], ["load-fixtures"]):
        result = run(*args, url=url)
        assert result.exit_code == (4 if args == ["reset-db"] else 1), result.output
        assert result.stdout == ""
        assert "Very$ecret" not in result.output and "Very%24ecret" not in result.output
        assert "app:***@127.0.0.1:9/posts" in result.stderr, result.stderr


def test_help_states_the_url_order(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "The database URL comes from, in order: --database-url; POSTCTL_DATABASE_URL (or the "
        "file POSTCTL_DATABASE_URL_FILE names); DATABASE_URL; a MySQL URL built from "
        "MYSQL_HOST, MYSQL_USER, MYSQL_PASS (or the file MYSQL_PASS_FILE names), MYSQL_DB"
    ) in text


def test_python_dash_m_runs_the_cli() -> None:
    done = servers.run([sys.executable, "-m", "postctl", "--version"], text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("postctl, version ")


def test_cli_does_not_import_the_web_layer() -> None:
    code = (
        "import sys; from postctl import cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug') "
        "or m in ('postctl.web', 'sqlalchemy.orm')))"
    )
    done = servers.run([sys.executable, "-c", code], text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_startup_bench_runs_and_prints_the_ratio() -> None:
    done = servers.run(
        [sys.executable, str(REPO / "bench" / "startup.py"), "--runs", "1"],
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("minimal Core script    median ")
    assert lines[1].startswith("postctl show-post 1    median ")
    assert lines[2].startswith("ratio ") and "1.3x target" in lines[2]


def test_an_unexpected_error_is_one_line_unless_debugging(
    loaded: Engine, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> str:
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr(output, "render_post", broken)
    result = run("show-post", "1")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: unexpected RuntimeError: the renderer broke (set POSTCTL_DEBUG=1 for a traceback)\n"
    )
    monkeypatch.setenv("POSTCTL_DEBUG", "1")
    result = run("show-post", "1")
    assert isinstance(result.exception, RuntimeError)


def test_an_error_whose_message_fails_is_still_one_line(
    loaded: Engine, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no message")

    def broken(*_args: object) -> str:
        raise Unprintable

    monkeypatch.setattr(output, "render_post", broken)
    result = run("show-post", "1")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unexpected Unprintable: (its message cannot be shown) "
        "(set POSTCTL_DEBUG=1 for a traceback)\n"
    )


def test_an_option_that_is_not_utf8_is_a_usage_error(loaded: Engine, run: Run) -> None:
    author = b"caf\xe9@b.c".decode("utf-8", "surrogateescape")  # as Python reads such argv
    result = run("list-posts", "--author", author)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--author': not valid UTF-8 text"
    )
