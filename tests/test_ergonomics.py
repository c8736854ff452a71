from __future__ import annotations

import json
import re
from datetime import datetime

import click
import pytest
from sqlalchemy import Engine, text

from postctl import __version__, db, queries
from postctl.cli import cli
from tests.conftest import Run


def test_list_posts_newest_first_as_table(loaded: Engine, run: Run) -> None:
    result = run("list-posts", "--limit", "2", "--style", "simple")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "id    content                                   author_email       created_time\n"
        "----  ----------------------------------------  -----------------  -------------------\n"
        "5     Launch day 🚀 — with an emoji             emoji@example.com  2018-10-07 07:07:07\n"
        "4     안녕하세요! 첫 번째 한국어 게시물입니다.  korean@example.kr  2018-10-06 18:45:00\n"
    )


def test_list_posts_json_is_array_of_show_post_objects(loaded: Engine, run: Run) -> None:
    listed = run("list-posts", "--author", "me@me.com", "-f", "json")
    shown = run("show-post", "1", "-f", "json")
    assert listed.exit_code == 0, listed.output
    assert shown.exit_code == 0, shown.output
    assert listed.stdout == f"[{shown.stdout.strip()}]\n"


def test_list_posts_since_offset_and_csv(loaded: Engine, run: Run) -> None:
    result = run("list-posts", "--since", "2018-10-04", "--offset", "2", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "id,content,author_email,created_time\n"
        '3,"Commas, ""quotes"" and a\nline break, all in one post",quoting@example.com,'
        "2018-10-05 09:00:00\n"
        "2,Second,me@fb.com,2018-10-04 15:20:00\n"
    )


def test_list_posts_pure_function_filters(loaded: Engine) -> None:
    with db.transaction(loaded) as conn:
        posts = queries.list_posts(conn, limit=10, since=datetime(2018, 10, 6))
    assert [p.id for p in posts] == [5, 4]


def test_list_posts_rejects_bad_since(loaded: Engine, run: Run) -> None:
    result = run("list-posts", "--since", "yesterday")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--since': 'yesterday' does not match the formats "
        "'%Y-%m-%d', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M'."
    )


def test_check_reports_ok_and_counts(loaded: Engine, run: Run, db_url: str) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    expected = [
        f"database: {db.mask_url(db_url)}",
        "environment: not set (postctl environment set NAME marks it)",
        "ok: table post matches the model",
    ]
    if db.is_mysql(db_url):
        expected += ["ok: strict SQL mode is on", "ok: the connection uses utf8mb4"]
    elif db_url.startswith("postgresql"):
        expected += ["ok: the database encoding is UTF8", "ok: the connection uses UTF8"]
    assert result.stdout.splitlines() == [*expected, "rows: post 5"]
    assert result.stderr == ""


def test_check_finds_a_missing_table(engine: Engine, run: Run) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE post"))
    result = run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "problem: table post is missing; run `postctl reset-db` to create it",
        f"Error: 1 problem(s) found in {db.mask_url(engine.url)}",
    ]


def test_check_finds_a_column_that_drifted(engine: Engine, run: Run) -> None:
    datetime_type = "TIMESTAMP" if engine.dialect.name == "postgresql" else "DATETIME"
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE post"))
        conn.execute(
            text(
                "CREATE TABLE post (id INTEGER PRIMARY KEY, content TEXT NOT NULL, "
                f"author_email VARCHAR(50) NOT NULL, created_time {datetime_type}, extra TEXT)"
            )
        )
    result = run("check")
    assert result.exit_code == 1
    fix = "run `postctl reset-db` to recreate the table (this deletes its rows)"
    assert result.stderr.splitlines()[:3] == [
        f"problem: post.author_email is VARCHAR(50), expected VARCHAR(100); {fix}",
        f"problem: post.created_time should be NOT NULL; {fix}",
        f"problem: post.extra is not in the model; {fix}",
    ]


def test_check_finds_a_non_utf8mb4_table(mysql_url: str, engine: Engine, run: Run) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE post CONVERT TO CHARACTER SET latin1"))
    result = run("check")
    assert result.exit_code == 1
    assert "problem: post.content uses latin1, not utf8mb4" in result.stderr


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"postctl, version {__version__}\n"


def all_commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand, by the words that call it (the group itself: "")."""
    assert isinstance(cli, click.Group)
    found: list[tuple[str, click.Command]] = [("", cli)]
    for name, command in sorted(cli.commands.items()):
        found.append((name, command))
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in sorted(command.commands.items())]
    return found


@pytest.mark.parametrize(("name", "command"), all_commands())
def test_every_command_has_short_help_option_and_an_example(
    run: Run, name: str, command: click.Command
) -> None:
    result = run(*name.split(), "-h")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: postctl")
    assert re.search(r"^  Example: .*\bpostctl ", result.stdout, re.M), result.stdout
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help text"


def test_completion_offers_show_post(run: Run) -> None:
    result = CliRunnerCompletion.complete("postctl sh")
    assert "show-post" in result


class CliRunnerCompletion:
    @staticmethod
    def complete(line: str) -> list[str]:
        from click.testing import CliRunner

        words = line.split(" ")
        result = CliRunner().invoke(
            cli,
            [],
            prog_name="postctl",
            env={
                "_POSTCTL_COMPLETE": "bash_complete",
                "COMP_WORDS": line,
                "COMP_CWORD": str(len(words) - 1),
            },
        )
        assert result.exit_code == 0, result.output
        return [item.split(",", 1)[1] for item in result.stdout.split()]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_for_each_shell(run: Run, shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0, result.output
    assert "_POSTCTL_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout


def test_json_output_is_valid_json(loaded: Engine, run: Run) -> None:
    result = run("list-posts", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [p["id"] for p in json.loads(result.stdout)] == [5, 4, 3, 2, 1]
    assert result.stderr == ""
