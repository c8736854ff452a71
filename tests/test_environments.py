"""The environment mark, and the commands that delete posts refusing on protected databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from postctl import config, db, environments, tokens
from postctl.admin_schema import api_token, postctl_metadata
from postctl.commands import base
from postctl.fixtures.dump import dump
from tests.conftest import REPO, Run, write_csv

OVERRIDE = "to override, pass --allow-protected or set POSTCTL_ALLOW_PROTECTED=1"
FIXTURES = str(REPO / "fixtures")
POSTS_CSV = str(REPO / "fixtures" / "posts.csv")


def mark(engine: Engine, name: str) -> None:
    with db.transaction(engine) as conn:
        environments.mark(conn, name, protected=frozenset(), allow=True)


def snapshot(engine: Engine, tmp_path: Path) -> dict[str, object]:
    """Everything a refused command must leave alone, byte for byte."""
    out = tmp_path / "snapshot"
    with db.transaction(engine) as conn:
        dump(conn, out)
        tokens_rows = [tuple(r) for r in conn.execute(select(api_token).order_by(api_token.c.id))]
        marks = [tuple(r) for r in conn.execute(select(postctl_metadata))]
    found: dict[str, object] = {
        "posts.csv": (out / "posts.csv").read_bytes(),
        "api_token": tokens_rows,
        "postctl_metadata": marks,
    }
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database:
        found["sqlite file"] = Path(database).read_bytes()
    return found


@pytest.fixture
def guarded(loaded: Engine) -> Engine:
    """The fixtures loaded, a token made: what a refusal must not touch."""
    with db.transaction(loaded) as conn:
        tokens.create(conn, "ci")
    return loaded


GUARDED_COMMANDS = {
    "reset-db": ["reset-db", "--yes"],
    "reset-db --fixtures": ["reset-db", "--yes", "--fixtures", FIXTURES],
    "load-fixtures --replace": ["load-fixtures", "--replace", "--yes", POSTS_CSV],
    "load-fixtures --upsert": ["load-fixtures", "--upsert", POSTS_CSV],
}
ACTIONS = {
    "reset-db": "reset {url}",
    "reset-db --fixtures": "reset {url}",
    "load-fixtures --replace": "replace post in {url}",
    "load-fixtures --upsert": "upsert into post in {url}",
}
REASONS = {
    # name: (stored mark, environment variables, why)
    "protected": ("production", {}, "the database is marked production, a protected environment"),
    "listed as protected": (
        "staging",
        {"POSTCTL_PROTECTED_ENVIRONMENTS": "staging, production"},
        "the database is marked staging, a protected environment",
    ),
    "not POSTCTL_ENV": (
        "staging",
        {"POSTCTL_ENV": "test"},
        "the database is marked staging but POSTCTL_ENV is test",
    ),
}


@pytest.mark.parametrize("reason", list(REASONS))
@pytest.mark.parametrize("command", list(GUARDED_COMMANDS))
def test_a_guarded_command_refuses_and_changes_nothing(
    guarded: Engine, run: Run, db_url: str, tmp_path: Path, command: str, reason: str
) -> None:
    stored, env, why = REASONS[reason]
    mark(guarded, stored)
    before = snapshot(guarded, tmp_path)
    result = run(*GUARDED_COMMANDS[command], env=env)
    assert result.exit_code == base.EXIT_REFUSED == 4, result.output
    action = ACTIONS[command].format(url=db.mask_url(db_url))
    assert result.stdout == ""
    assert result.stderr == f"Error: refusing to {action}, nothing changed: {why}; {OVERRIDE}\n"
    assert snapshot(guarded, tmp_path) == before


@pytest.mark.parametrize("command", list(GUARDED_COMMANDS))
@pytest.mark.parametrize(
    "override", [["--allow-protected"], {"POSTCTL_ALLOW_PROTECTED": "1"}], ids=["option", "env"]
)
def test_the_override_lets_it_run_keeping_mark_and_tokens(
    guarded: Engine, run: Run, command: str, override: list[str] | dict[str, str]
) -> None:
    mark(guarded, "production")
    args = GUARDED_COMMANDS[command] + (override if isinstance(override, list) else [])
    result = run(*args, env=override if isinstance(override, dict) else None)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "Warning: the database is marked production, a protected environment; "
        "going on as --allow-protected says.\n"
    )
    with db.transaction(guarded) as conn:
        assert environments.stored(conn) == "production"
        assert [t.name for t in tokens.list_tokens(conn)] == ["ci"]


def test_allow_protected_0_is_no_override(guarded: Engine, run: Run) -> None:
    mark(guarded, "production")
    result = run("reset-db", "--yes", env={"POSTCTL_ALLOW_PROTECTED": "0"})
    assert result.exit_code == 4, result.output


def test_inserting_and_dry_runs_are_allowed_on_production(
    guarded: Engine, run: Run, tmp_path: Path
) -> None:
    mark(guarded, "production")
    path = write_csv(tmp_path, "content,author_email\nNew,new@example.com\n")
    result = run("load-fixtures", str(path))
    assert result.exit_code == 0, result.output
    result = run("load-fixtures", "--replace", "--dry-run", POSTS_CSV)
    assert result.exit_code == 0, result.output
    assert "(dry run: nothing written)" in result.stderr


def test_a_matching_or_missing_mark_is_no_reason_to_refuse(guarded: Engine, run: Run) -> None:
    result = run("reset-db", "--yes", env={"POSTCTL_ENV": "test"})  # no mark yet
    assert result.exit_code == 0, result.output
    mark(guarded, "test")
    result = run("load-fixtures", "--upsert", POSTS_CSV, env={"POSTCTL_ENV": "test"})
    assert result.exit_code == 0, result.output
    assert run("reset-db", "--yes").exit_code == 0  # POSTCTL_ENV unset: not compared


def test_reset_db_creates_a_new_sqlite_file_without_a_guard(tmp_path: Path, run: Run) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = run("reset-db", "--yes", url=url, env={"POSTCTL_ENV": "production"})
    assert result.exit_code == 0, result.output


def test_no_terminal_refuses_before_connecting(run: Run) -> None:
    """Without --yes and a terminal, the answer is the same whether the server is up or not."""
    url = "mysql+mysqldb://app:secret@127.0.0.1:9/posts"
    result = run("reset-db", url=url)
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: refusing to reset mysql+mysqldb://app:***@127.0.0.1:9/posts, nothing changed: "
        "no terminal to confirm on; pass --yes\n"
    )


def test_reset_db_help_says_what_it_drops_and_keeps(run: Run) -> None:
    result = run("reset-db", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "What it drops: the post table (ids start again at 1) and the stored Idempotency-Key "
        "answers (table idempotency_key), which name posts. What it keeps: the API tokens "
        "(api_token) and the environment mark (postctl_metadata)"
    ) in text


def test_environment_set_then_show(engine: Engine, run: Run, db_url: str) -> None:
    result = run("environment", "show")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {db.mask_url(db_url)} has no environment mark; "
        "set one with `postctl environment set NAME`\n"
    )
    result = run("environment", "set", "staging")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Marked {db.mask_url(db_url)} as staging.\n"
    result = run("environment", "set", "production")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Marked {db.mask_url(db_url)} as production, a protected environment (was staging).\n"
    )
    result = run("environment", "show")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "production\n", "")


def test_leaving_a_protected_environment_needs_the_override(
    engine: Engine, run: Run, db_url: str
) -> None:
    mark(engine, "production")
    result = run("environment", "set", "test")
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: refusing to change the environment mark, nothing changed: the database is "
        f"marked production, a protected environment; {OVERRIDE}\n"
    )
    assert run("environment", "show").stdout == "production\n"
    assert run("environment", "set", "production").exit_code == 0  # the same: nothing to guard
    result = run("environment", "set", "test", "--allow-protected")
    assert result.exit_code == 0, result.output
    assert run("environment", "show").stdout == "test\n"


@pytest.mark.parametrize("name", ["Production", "", "-x", "a b", "x" * 65, "prod/eu"])
def test_environment_names_are_checked(engine: Engine, run: Run, name: str) -> None:
    result = run("environment", "set", "--", name)
    assert result.exit_code == 2
    assert f"is not an environment name: {environments.NAME_RULE}" in result.stderr
    assert run("environment", "show").exit_code == 3


def test_check_reports_the_mark_and_a_mismatch(engine: Engine, run: Run, db_url: str) -> None:
    mark(engine, "production")
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "environment: production (protected)"
    result = run("check", env={"POSTCTL_ENV": "staging"})
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "problem: the database is marked production but POSTCTL_ENV is staging; check the "
        "database URL, or correct the mark with `postctl environment set`",
        f"Error: 1 problem(s) found in {db.mask_url(db_url)}",
    ]


def test_a_database_made_before_marks_existed_is_unmarked(engine: Engine, run: Run) -> None:
    with engine.begin() as conn:
        postctl_metadata.drop(conn)
    assert run("environment", "show").exit_code == 3
    assert run("reset-db", "--yes", env={"POSTCTL_ENV": "x"}).exit_code == 0
    assert run("environment", "set", "test").exit_code == 0


@pytest.mark.parametrize(
    ("stored", "believed", "protected", "refused"),
    [
        (None, None, {"production"}, False),
        (None, "production", {"production"}, False),
        ("production", None, {"production"}, True),
        ("production", "production", {"production"}, True),
        ("staging", None, {"production"}, False),
        ("staging", "staging", {"production"}, False),
        ("staging", "test", {"production"}, True),
        ("staging", None, {"staging"}, True),
    ],
)
def test_refusal_rules(
    stored: str | None, believed: str | None, protected: set[str], refused: bool
) -> None:
    assert (environments.refusal(stored, believed, frozenset(protected)) is not None) is refused


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"production"}),
        ("", {"production"}),
        ("staging", {"staging"}),
        (" staging , production,,", {"staging", "production"}),
    ],
)
def test_protected_list_is_configurable(value: str | None, expected: set[str]) -> None:
    environ = {} if value is None else {"POSTCTL_PROTECTED_ENVIRONMENTS": value}
    assert config.protected_environments(environ) == expected
