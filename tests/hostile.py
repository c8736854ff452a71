"""What the hostile-input property tests share: example counts, the CLI walk, what never shows.

Each surface's test takes `examples(n)`: n examples in the default suite, FUZZ_FACTOR
times as many under `--hypothesis-profile=fuzz` or with POSTCTL_FUZZ=1 (docs/testing.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click
from click.testing import CliRunner, Result
from hypothesis import settings

from postctl.cli import cli
from tests.conftest import FUZZ_EXAMPLES, REPO

FUZZ_PROFILE = "fuzz"
FUZZ_FACTOR = 50
EXIT_CODES = {0, 1, 2, 3, 4}  # docs/exit-codes.md
# What would tell a user about the code rather than their input.
# Drivers as module paths (psycopg.errors..., MySQLdb.OperationalError), not by name:
# postgresql+psycopg:// URLs name psycopg; a missing driver is named (No module named 'MySQLdb').
LEAKS = re.compile(
    r"Traceback|During handling|File \"|\.py\b|sqlalchemy|werkzeug|MySQLdb\.|psycopg\.|\bflask\b"
    r"|postctl\.(cli|commands|config|fixtures|web|rules|queries|schema|output|serve|errors)\b"
    r"|\bSELECT\b|\bINSERT\b|\bFROM post\b",
)
# Commands that never touch the database: a bad setting must not stop them.
DATABASE_FREE = {"completion"}
# Arguments that take each command as far as its database: an entry per command,
# so that a new command fails test_every_command_has_arguments until it has one.
COMMAND_ARGS: dict[str, list[str]] = {
    "check": [],
    "completion": ["bash"],
    "dump-fixtures": ["out"],
    "environment set": ["staging"],
    "environment show": [],
    "list-posts": [],
    "load-fixtures": [str(REPO / "fixtures")],
    "reset-db": ["--yes"],
    "serve": ["--print-command"],
    "show-post": ["1"],
    "token create": ["--name", "ci"],
    "token list": [],
    "token revoke": ["ci"],
}


def fuzzing() -> bool:
    """Tell whether this run asked for the long fuzz run."""
    return bool(os.environ.get("POSTCTL_FUZZ")) or settings.default.max_examples >= FUZZ_EXAMPLES


def examples(default: int) -> int:
    """Return the example count for a surface: default, or FUZZ_FACTOR times it when fuzzing."""
    return default * FUZZ_FACTOR if fuzzing() else default


def commands() -> list[str]:
    """Every command the CLI runs, groups walked: "show-post", "token create", ..."""
    found: list[str] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])
            else:
                found.append(" ".join([*prefix, name]))

    assert isinstance(cli, click.Group)
    walk(cli, [])
    return sorted(found)


def refuse_exec(*args: Any) -> None:
    """Stand in for os.execve: a test process must never become uWSGI."""
    raise AssertionError(f"the command tried to exec {args[0]!r}")


def invoke(args: Sequence[str], env: Mapping[str, str | None], input: str | None = None) -> Result:
    """Run postctl in-process as a user would, exceptions caught as the real process would."""
    return CliRunner().invoke(cli, list(args), env=dict(env), input=input, prog_name="postctl")


def assert_no_crash(result: Result) -> None:
    """The documented exit codes only, and nothing of the code's insides on stdout or stderr."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}\n{result.output}") from (
            result.exception
        )
    assert result.exit_code in EXIT_CODES, (result.exit_code, result.output)
    leak = LEAKS.search(result.stderr) or LEAKS.search(result.stdout if result.exit_code else "")
    assert leak is None, result.output


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def assert_hidden(text: str, *secrets: str) -> None:
    """None of the secrets shows in the text."""
    for secret in secrets:
        assert secret not in text, f"{secret!r} shown in:\n{text}"


@contextmanager
def cwd(path: os.PathLike[str] | str) -> Iterator[None]:
    """Run in another directory (hypothesis examples cannot use monkeypatch.chdir)."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
