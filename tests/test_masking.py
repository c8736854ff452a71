"""The password never shows, by one test over every command and every path that prints a URL.

It walks the CLI's command list, so a new command is covered without editing it
(with no arguments until it has an entry in VARIANTS). The password holds what
URL-encoding changes, and stdout, stderr, the uWSGI command line and the web
app's log are searched for it raw and encoded. With a server given, the same
runs against a real MariaDB (a private one, where the password is right), so that
the lines of success (Reset ..., check's report, serve's start-up line) run too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from postctl.web import create_app, engine_of
from tests.conftest import CONFIG_VARS, REPO
from tests.hostile import assert_hidden, assert_no_crash, commands, invoke

PASSWORD = "Pa$s@w/rd%é"  # every character URL-encoding changes, and a non-ASCII one
FORMS = [PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)]
USER = "postctl_mask"
# Each command's refusal and error paths as well as its normal one.
VARIANTS: dict[str, list[list[str]]] = {
    "check": [[]],
    "completion": [["bash"]],
    "dump-fixtures": [["out"], ["posts.csv/out"]],
    "environment set": [["staging"], ["production"], ["production", "--allow-protected"]],
    "environment show": [[]],
    "list-posts": [[], ["--format", "json"]],
    "load-fixtures": [
        [str(REPO / "fixtures")],
        ["--replace", str(REPO / "fixtures")],  # refused: no terminal
        ["--replace", "--yes", str(REPO / "fixtures")],
        ["--dry-run", "missing.csv"],
    ],
    "reset-db": [[], ["--yes"], ["--yes", "--fixtures", str(REPO / "fixtures")]],
    "serve": [["--print-command"], []],  # the second reaches exec: recorded, not run
    "show-post": [["1"], ["999"], ["1", "--format", "csv"]],
    "token create": [["--name", "ci"], ["--name", "ci", "--expires", "never"], ["--name", "bad!"]],
    "token list": [[], ["--format", "json"]],
    "token revoke": [["ci"], ["nobody"]],
}


class Exec(Exception):
    """What os.execve was asked to run, instead of running it."""


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[list[str]]]:
    """Record every exec (serve's uWSGI command line) and stop there; run in tmp_path."""
    seen: list[list[str]] = []

    def record(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.append(list(argv))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", record)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "posts.csv").write_text("content,author_email\nhi,a@b.c\n")
    yield seen


def url_at(host_port: str, database: str = "postctl_test_mask") -> str:
    return f"mysql+mysqldb://{USER}:{quote(PASSWORD, safe='')}@{host_port}/{database}"


def run_everything(url: str, execs: list[list[str]]) -> dict[str, str]:
    """Run every command and variant with this URL; check all they print; return it by run."""
    env: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    printed: dict[str, str] = {}
    for command in commands():
        for args in VARIANTS.get(command, [[]]):
            for how in ("option", "env"):
                before = len(execs)
                words = [*command.split(), *args]
                if how == "option":
                    result = invoke(["--database-url", url, *words], env)
                else:
                    result = invoke(words, {**env, "POSTCTL_DATABASE_URL": url})
                assert_no_crash(result)
                shown = result.stdout + result.stderr + "".join(map(" ".join, execs[before:]))
                assert_hidden(shown, *FORMS)
                printed[" ".join([how, command, *args])] = shown
    return printed


def test_every_command_has_variants() -> None:
    assert sorted(VARIANTS) == commands()


def test_no_command_shows_the_password_when_the_server_is_unreachable(
    execs: list[list[str]],
) -> None:
    # Without the driver every command stops before connecting: nothing to test here.
    pytest.importorskip("MySQLdb", reason="needs mysqlclient (the mysql extra) to reach a server")
    printed = run_everything(url_at("127.0.0.1:1"), execs)
    assert len(printed) == 2 * sum(len(v) for v in VARIANTS.values())
    masked = f"mysql+mysqldb://{USER}:***@127.0.0.1:1/postctl_test_mask"
    assert f"refusing to reset {masked}, nothing changed" in printed["env reset-db"]
    assert f"{masked}: Can't connect" in printed["option show-post 1"]
    assert f"postctl: serving {masked} on " in printed["env serve"]  # serve checks no server
    assert execs, "serve never reached its exec"


def test_the_password_is_masked_in_messages_that_quote_it(execs: list[list[str]]) -> None:
    """An error that repeats the password itself (raw or encoded) is masked too."""
    env: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    for url in (url_at("127.0.0.1:1"), url_at("127.0.0.1:1") + "?charset=utf8mb4&" + PASSWORD):
        result = invoke(["--database-url", url, "show-post", "1"], env)
        assert result.exit_code == 1, result.output
        assert_hidden(result.output, *FORMS)
        assert f"{USER}:***@127.0.0.1:1" in result.stderr, result.stderr


def test_the_web_log_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(url_at("127.0.0.1:1"))
    with caplog.at_level(logging.ERROR):
        for path in ("/readyz", "/post/1", "/posts"):
            assert app.test_client().get(path).status_code == 503
    engine_of(app).dispose()
    assert f"{USER}:***@127.0.0.1:1" in caplog.text
    assert_hidden(caplog.text, *FORMS)


def test_no_command_shows_the_password_on_a_real_server(
    mysql_url: str, no_local_infile_url: str, execs: list[list[str]]
) -> None:
    import MySQLdb
    from sqlalchemy import make_url

    server = make_url(no_local_infile_url)
    conn = MySQLdb.connect(host=server.host, port=server.port, user="root")
    try:
        cursor = conn.cursor()
        cursor.execute("CREATE DATABASE IF NOT EXISTS postctl_test_mask CHARACTER SET utf8mb4")
        cursor.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        cursor.execute(f"GRANT ALL ON postctl_test_mask.* TO '{USER}'@'%'")
    finally:
        conn.close()
    url = url_at(f"{server.host}:{server.port}")
    reset = invoke(["--database-url", url, "reset-db", "--yes"], dict.fromkeys(CONFIG_VARS))
    assert reset.exit_code == 0, reset.output  # the password is right: success lines run
    masked = f"mysql+mysqldb://{USER}:***@{server.host}:{server.port}/postctl_test_mask"
    assert reset.stdout == f"Reset {masked}: dropped and created table post.\n"
    printed = run_everything(url, execs)
    assert f"database: {masked}\n" in printed["option check"]
    assert (
        f"refusing to replace post in {masked}"
        in printed["env load-fixtures --replace " + str(REPO / "fixtures")]
    )
    assert f"postctl: serving {masked} on " in printed["option serve"]
    assert any("--http" in argv for argv in execs)
