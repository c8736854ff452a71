"""Hostile command lines: generated IDs, limits, offsets, times, formats and paths, every command.

Whatever the arguments, postctl exits with a documented code (0-4), prints no
traceback and never falls into its "unexpected error" path. On SQLite, and on
MariaDB when POSTCTL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from postctl.output import FORMATS, TABLE_STYLES
from tests.conftest import CONFIG_VARS
from tests.hostile import assert_no_crash, commands, cwd, examples, invoke, refuse_exec

# What a real argv can carry: no NUL, and bytes that are not UTF-8 as Python decodes them.
TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=24),
    st.binary(max_size=12)
    .filter(lambda b: b"\0" not in b)
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
)
NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(-3, 30).map(str),
    st.sampled_from(["2147483647", "2147483648", "9223372036854775808", "1e3", "0x10", " 1"]),
    st.sampled_from(["\u0661", "1_0", "+1", "", "--"]),
    TEXT,
)
SINCE = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2018-02-30", "0001-01-01", "9999-12-31T23:59:59", "2018-10-04 12:00"]),
    TEXT,
)
# Relative paths only, at most two levels up from a directory three deep in tmp_path:
# a generated path must never write outside the test's own directory.
NAME_CHARS = st.characters(codec="utf-8", exclude_characters="/\0")
SEGMENT = st.one_of(
    st.sampled_from(["..", ".", "posts.csv", "post.csv", "fixtures", "out", "a.txt", "-"]),
    st.text(NAME_CHARS, min_size=1, max_size=12),
    st.binary(min_size=1, max_size=8)
    .filter(lambda b: not set(b) & set(b"/\0"))
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(NAME_CHARS, min_size=256, max_size=300),  # too long for a file name
)
PATH = st.lists(SEGMENT, min_size=1, max_size=3).filter(lambda p: p.count("..") <= 2).map("/".join)


def options(*pairs: tuple[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Some of these options, each with a generated value."""
    return st.lists(
        st.sampled_from(pairs).flatmap(lambda p: p[1].map(lambda v: [p[0], v])), max_size=4
    ).map(lambda groups: [token for group in groups for token in group])


def flags(*names: str) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(names), max_size=len(names))


FORMAT_OPTIONS = (
    ("-f", st.one_of(st.sampled_from(FORMATS), TEXT)),
    ("--style", st.one_of(st.sampled_from(TABLE_STYLES), TEXT)),
)
ARGUMENTS: dict[str, st.SearchStrategy[list[str]]] = {
    "check": st.just([]),
    "completion": st.one_of(st.sampled_from(["bash", "zsh", "fish"]), TEXT).map(lambda s: [s]),
    "environment set": st.tuples(flags("--allow-protected"), TEXT).map(
        lambda t: [*t[0], "--", t[1]]
    ),
    "environment show": st.just([]),
    "dump-fixtures": st.tuples(flags("-q"), st.lists(PATH, max_size=2)).map(lambda t: t[0] + t[1]),
    "list-posts": options(
        ("-n", NUMBER),
        ("--limit", NUMBER),
        ("--offset", NUMBER),
        ("--author", TEXT),
        ("--since", SINCE),
        *FORMAT_OPTIONS,
    ),
    "load-fixtures": st.tuples(
        flags("--replace", "--upsert", "--dry-run", "--yes", "--quiet"), st.lists(PATH, max_size=3)
    ).map(lambda t: t[0] + t[1]),
    "reset-db": st.tuples(flags("--yes", "--quiet"), options(("--fixtures", PATH))).map(
        lambda t: t[0] + t[1]
    ),
    # Always --print-command: the real thing would become uWSGI.
    "serve": options(
        ("--host", TEXT),
        ("--port", NUMBER),
        ("--processes", NUMBER),
        ("--threads", NUMBER),
        ("--socket", TEXT),
    ).map(lambda o: ["--print-command", *o]),
    "show-post": st.tuples(NUMBER, options(*FORMAT_OPTIONS)).map(lambda t: ["--", t[0], *t[1]]),
    "token create": options(
        ("--name", TEXT),
        ("--expires", st.one_of(st.sampled_from(["30m", "12h", "2w", "1y", "never", "0d"]), TEXT)),
    ),
    "token list": options(("-f", st.one_of(st.sampled_from(["table", "json"]), TEXT))),
    "token revoke": TEXT.map(lambda t: ["--", t]),
}
JUNK = st.one_of(TEXT, st.sampled_from(["--", "-", "--help", "-x", "--yes", "--format=json"]))


def test_every_command_has_a_generator() -> None:
    assert sorted(ARGUMENTS) == commands()


@pytest.fixture
def workdir(tmp_path: Path, loaded: Engine) -> Path:
    """Three levels deep, with fixture files, a stray file and a directory to find."""
    here = tmp_path / "a" / "b" / "c"
    (here / "fixtures").mkdir(parents=True)
    (here / "fixtures" / "posts.csv").write_text(
        "id,content,author_email,created_time\n7,seven,a@b.c,2018-10-03 12:30:00\n"
    )
    (here / "posts.csv").write_text("content,author_email\nhi,a@b.c\n")
    (here / "a.txt").write_text("not a fixture\n")
    return here


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_generated_arguments_exit_with_a_documented_code(
    command: str, data: st.DataObject, workdir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "execve", refuse_exec)
    args = list(data.draw(ARGUMENTS[command], label="args"))
    if data.draw(st.booleans(), label="junk?"):
        at = data.draw(st.integers(0, len(args)), label="at")
        args.insert(at, data.draw(JUNK, label="junk"))
    env: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    env["POSTCTL_DATABASE_URL"] = db_url
    with cwd(workdir):
        result = invoke([*command.split(), *args], env)
    assert_no_crash(result)
    # Never the unexpected-error path (hypothesis also draws the code's own strings as input).
    unexpected = "(set POSTCTL_DEBUG=1 for a traceback)"
    assert unexpected not in result.stderr or any(unexpected in a for a in args), result.stderr
