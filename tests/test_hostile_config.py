"""Hostile configuration: bad URLs and MYSQL_* values give one Error line naming the setting.

Through the real CLI, every command, `serve --print-command` included; the password,
raw or URL-encoded, never shows; and turning an error into a message never fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from postctl import config, db
from postctl.commands.base import App
from postctl.errors import ConfigError, DatabaseError
from tests.conftest import CONFIG_VARS
from tests.hostile import (
    COMMAND_ARGS,
    DATABASE_FREE,
    assert_hidden,
    assert_no_crash,
    commands,
    error_lines,
    examples,
    invoke,
    refuse_exec,
)

ENV_VARS = (*CONFIG_VARS, "POSTCTL_DATABASE_URL")


@pytest.fixture(autouse=True)
def no_exec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never exec uWSGI in the test process; run in an empty directory."""
    monkeypatch.setattr(os, "execve", refuse_exec)
    monkeypatch.chdir(tmp_path)


def env_with(**values: str) -> dict[str, str | None]:
    env: dict[str, str | None] = dict.fromkeys(ENV_VARS)
    env.update(values)
    return env


def secrets(password: str) -> list[str]:
    """The password as written and as a URL carries it."""
    return [password, quote(password, safe=""), quote(password)]


def test_every_command_has_arguments() -> None:
    assert sorted(COMMAND_ARGS) == commands()


# The reproductions, exactly.


@pytest.mark.parametrize("command", [["show-post", "1"], ["serve", "--print-command"]])
def test_bad_port_in_the_url_is_one_line_naming_the_variable(command: list[str]) -> None:
    url = "mysql+mysqldb://u:Very$ecret@host:badport/db"
    result = invoke(command, env_with(POSTCTL_DATABASE_URL=url))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "Error: POSTCTL_DATABASE_URL: invalid database URL: the port is not a number\n"
    )


def test_unclosed_ipv6_bracket_is_one_line_naming_the_option() -> None:
    result = invoke(
        ["--database-url", "mysql+mysqldb://u:p@[::1:3306/db", "show-post", "1"], env_with()
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "Error: --database-url: invalid database URL: an IPv6 host must be closed with ']'\n"
    )


def test_mysql_port_that_is_not_a_number_is_named() -> None:
    env = env_with(MYSQL_HOST="db", MYSQL_USER="u", MYSQL_PASS="Very$ecret", MYSQL_DB="d")
    result = invoke(["show-post", "1"], {**env, "MYSQL_PORT": "abc"})
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == "Error: MYSQL_PORT: not a port number from 1 to 65535: 'abc'\n"


def test_help_and_completion_work_whatever_the_setting() -> None:
    env = env_with(POSTCTL_DATABASE_URL="mysql+mysqldb://u:p@host:badport/db", MYSQL_PORT="x")
    for args in (["show-post", "--help"], ["completion", "bash"], ["--help"]):
        result = invoke(args, env)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nonsense", "not of the form dialect+driver://user:password@host:port/database"),
        ("mysql+mysqldb://u:p@h:99999/d", "the port is not from 1 to 65535"),
        ("mysql+mysqldb://u:p@h: 12/d", "the port is not a number"),
        ("mysql+mysqldb://u:p@h:\u0661\u0662/d", "the port is not a number"),
        ("mysql+mysqldb://u:p@[::1]x/d", "only a port may follow an IPv6 host"),
        (
            "mysql+mysqldb://u:p@ss@h/d",
            "an '@' in the user name or password must be written as %40",
        ),
        # An unencoded "@" and "/" in the password: the rest would become the database name.
        (
            "mysql+mysqldb://u:S3c@/r3T@127.0.0.1:3306/d",
            "an '@' in the user name or password must be written as %40",
        ),
        (
            "mysql+mysqldb://u:S3c@x/r3T@127.0.0.1/d",
            "an '@' in the user name or password must be written as %40",
        ),
        ("nosuchdb://u:p@h/d", "unknown kind of database 'nosuchdb'"),
        ("sqlite:///a\0b.db", "it contains a NUL character"),
        ("sqlite:///caf\udce9.db", "it is not valid UTF-8 text"),
        # The port's range, at each end and one past it.
        ("mysql+mysqldb://u:p@h:0/d", "the port is not from 1 to 65535"),
        ("mysql+mysqldb://u:p@h:65536/d", "the port is not from 1 to 65535"),
        ("mysql+mysqldb://u:p@[::1:3306/d", "an IPv6 host must be closed with ']'"),
        ("mysql+mysqldb://u:p@[::1]]:3306/d", "only a port may follow an IPv6 host"),
        # Digits Python's int() takes but a URL may not hold, after an IPv6 host too.
        ("mysql+mysqldb://u:p@[::1]:\u066112/d", "the port is not a number"),
    ],
)
def test_url_problems_are_named_without_the_url(url: str, reason: str) -> None:
    assert db.url_problem(url) == reason
    with pytest.raises(ConfigError) as err:
        db.check_url(url)
    assert str(err.value) == f"invalid database URL: {reason}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db",
        "sqlite://",
        "mysql+mysqldb://u:p%40ss@[::1]:3306/d?charset=utf8mb4",
        "mysql+mysqldb://u:p@[::1]/d",
        "mysql+mysqldb://u:p@h:1/d",
        "mysql+mysqldb://u:p@h:65535/d",
        "postgres://u:p@h/d",  # PostgreSQL's own short form
        "sqlite:///x.db?next=a://h:x",  # a "://" in the query is not the authority
        "sqlite:///dir@x/posts.db",  # an "@" in a path, with no user name before it
        "mysql+mysqldb://u:p@h/d?init=a@b",  # or in the query
    ],
)
def test_good_urls_have_no_problem(url: str) -> None:
    assert db.url_problem(url) is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MYSQL_HOST", "db/x", "not a host name or IP address: 'db/x'"),
        ("MYSQL_HOST", "a b", "not a host name or IP address: 'a b'"),
        ("MYSQL_PORT", "0", "not a port number from 1 to 65535: '0'"),
        ("MYSQL_PORT", "65536", "not a port number from 1 to 65535: '65536'"),
        ("MYSQL_USER", "", "is empty; set it to the database user name"),
        ("MYSQL_DB", "", "is empty; set it to the database name"),
        ("MYSQL_DB", "a\0b", "contains a NUL character ('a\\x00b')"),
        ("MYSQL_PASS", "x\udce9", "is not valid UTF-8 text"),
    ],
)
def test_mysql_variables_are_checked_one_by_one(name: str, value: str, message: str) -> None:
    env = {"MYSQL_HOST": "db", "MYSQL_USER": "u", "MYSQL_PASS": "pw", "MYSQL_DB": "d", name: value}
    with pytest.raises(ConfigError) as err:
        config.database_setting(env)
    assert str(err.value) == f"{name}: {message}"


@pytest.mark.parametrize(
    ("url", "forms"),
    [
        # As written, decoded, and the written text encoded again (a message may quote either).
        (
            "mysql://u:Pa%24s%40w@h/db?password=Q1w2",
            ["Pa%2524s%2540w", "Pa%24s%40w", "Pa$s@w", "Q1w2"],
        ),
        # An "@" left unencoded: every "@" after the user name ends a candidate.
        ("mysql://u:Pa$s@w@h/db", ["Pa%24s%40w", "Pa$s@w", "Pa%24s", "Pa$s"]),
        # Escaped and unescaped characters in one candidate, a "/" among them.
        (
            "mysql://u:P/a%24s@w@h/db",
            [
                "P%2Fa%2524s%40w",
                "P%2Fa%24s%40w",
                "P%2Fa%2524s",
                "P%2Fa%24s",
                "P/a%24s@w",
                "P/a$s@w",
                "P/a%24s",
                "P/a$s",
            ],
        ),
        # A user name with an "@" (user@server, as Azure's MySQL has them): as SQLAlchemy reads it.
        ("mysql+mysqldb://app@srv:Secr%24t1@h/db", ["Secr%24t1", "Secr$t1"]),
        ("sqlite:///x.db", []),
        ("not a url", []),
    ],
)
def test_the_forms_a_password_is_looked_for_in(url: str, forms: list[str]) -> None:
    from postctl.urls import password_forms

    assert password_forms(url) == forms


def test_passwords_shorter_than_four_characters_are_not_looked_for_in_text() -> None:
    """Masking every "ab" of a message would garble it and show the password by its gaps."""
    from postctl.urls import hide_password

    told = "no Q1w2 for abc here"
    assert hide_password(told, "mysql://u:Q1w2@h/db") == "no *** for abc here"
    assert hide_password(told, "mysql://u:abc@h/db") == told


def test_a_password_in_the_query_string_is_masked_too() -> None:
    assert db.mask_url("postgresql://u@h/db?password=S3cret&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )


def test_a_driver_error_names_the_option_the_url_came_from() -> None:
    result = invoke(["--database-url", "sqlite:///x.db?foo=bar", "reset-db", "--yes"], env_with())
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "Error: --database-url: cannot use sqlite:///x.db?foo=bar: Query string argument(s) "
        "'foo' are not accepted by the pysqlite driver and are being ignored; SQLite URI "
        "arguments require that 'uri=true' also be present in the URL.\n"
    )


def test_mysql_ipv6_host_is_put_in_brackets() -> None:
    env = {"MYSQL_HOST": "::1", "MYSQL_USER": "u", "MYSQL_PASS": "p", "MYSQL_DB": "d"}
    assert config.database_url({**env, "MYSQL_PORT": "3307"}) == (
        "mysql+mysqldb://u:p@[::1]:3307/d?charset=utf8mb4"
    )


# The error handler never fails, whatever the URL and whatever the error.


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


PASSWORDS = st.builds(
    lambda middle: f"S3c{middle}r3T",
    st.one_of(st.text(max_size=12), st.sampled_from(["$", "@", "/", "%", "%24", "é", " ", ":"])),
)


@settings(max_examples=examples(200), deadline=None)
@given(url=st.text(max_size=60), password=PASSWORDS, message=st.text(max_size=30))
@example(url="mysql+mysqldb://u:{pw}@host:badport/db", password="Very$ecret", message="")
@example(url="mysql+mysqldb://u:{pw}@[::1:3306/db", password="Very$ecret", message="")
def test_describing_an_error_never_fails_and_never_shows_the_password(
    url: str, password: str, message: str
) -> None:
    for written in (password, quote(password, safe="")):
        full = url.replace("{pw}", written) if "{pw}" in url else f"mysql://u:{written}@h/{url}"
        app = App(full, "--database-url")
        for err in (
            DatabaseError(f"{message} {full} {password} {quote(password, safe='')}"),
            ValueError(full),
            Unprintable(),
        ):
            described = app.describe(err)
            assert isinstance(described, str) and described
            assert_hidden(described, *secrets(password))


# Generated settings through the real CLI.

HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]"])
SAFE_PART = st.text("abcdefghij_0123456789", min_size=1, max_size=8)


@st.composite
def bad_urls(draw: st.DrawFn, password: str) -> str:
    """A URL that is wrong by construction, with the password in it (encoded or not)."""
    pw = draw(st.sampled_from([quote(password, safe=""), password]))
    user, name = draw(SAFE_PART), draw(SAFE_PART)
    scheme = draw(st.sampled_from(["mysql+mysqldb", "mysql", "sqlite", "postgresql"]))
    port = draw(
        st.text(min_size=1, max_size=6).filter(
            lambda p: not (p.isascii() and p.isdigit()) and not set(p) & set("/?#@[]")
        )
    )
    kind = draw(st.integers(0, 6))
    if kind == 0:  # a broken port
        return f"{scheme}://{user}:{pw}@{draw(HOSTS)}:{port}/{name}"
    if kind == 1:  # an unclosed IPv6 bracket
        return f"{scheme}://{user}:{pw}@[::1{draw(st.sampled_from(['', ':3306']))}/{name}"
    if kind == 2:  # an unknown kind of database
        return f"{draw(SAFE_PART)}x://{user}:{pw}@127.0.0.1/{name}"
    if kind == 3:  # an unencoded "@"
        return f"{scheme}://{user}:{password}@x@127.0.0.1/{name}"
    if kind == 4:  # a port out of range
        big = draw(st.integers(65536, 10**30))
        return f"{scheme}://{user}:{pw}@127.0.0.1:{big}/{name}"
    if kind == 5:  # not a URL at all
        return draw(st.text(max_size=40).filter(lambda t: "://" not in t)) + pw
    return f"{scheme}://{user}:{pw}@127.0.0.1/{name}\0"  # a NUL


@st.composite
def odd_urls(draw: st.DrawFn, password: str) -> str:
    """A URL that may or may not work: escapes, query strings, non-ASCII, long, empty parts."""
    pw = quote(password, safe="")
    part = st.text(max_size=draw(st.sampled_from([8, 300]))).map(lambda t: quote(t, safe=""))
    query = st.lists(st.tuples(part, part), max_size=3).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
    )
    kind = draw(st.integers(0, 2))
    if kind == 0:  # MariaDB on a port nobody listens on: refused at once
        return f"mysql+mysqldb://{draw(part)}:{pw}@127.0.0.1:1/{draw(part)}?{draw(query)}"
    if kind == 1:  # a SQLite file in the current directory
        return f"sqlite:///{draw(SAFE_PART)}.db?{draw(query)}"
    return f"sqlite:///{draw(SAFE_PART)}%{draw(st.text('0123456789abcdefXYZ%', max_size=4))}.db"


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    password=PASSWORDS,
    source=st.sampled_from(["option", "env", "DATABASE_URL", "file"]),
)
@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_generated_urls_never_crash_or_show_the_password(
    command: str, data: st.DataObject, password: str, source: str
) -> None:
    bad = data.draw(st.booleans(), label="bad")
    url = data.draw((bad_urls if bad else odd_urls)(password), label="url")
    if source == "option":
        args, env, setting = ["--database-url", url], env_with(), "--database-url"
    elif source == "env":
        args, env, setting = [], env_with(POSTCTL_DATABASE_URL=url), "POSTCTL_DATABASE_URL"
    elif source == "DATABASE_URL":
        args, env, setting = [], env_with(DATABASE_URL=url), "DATABASE_URL"
    else:  # a secret file, as compose.yaml mounts one
        if not url or url.endswith(("\n", "\r")) or not is_utf8(url):
            return  # an empty file is no setting; one newline is dropped; not UTF-8: named
        secret = Path("url-secret").absolute()
        secret.write_text(url, encoding="utf-8")
        setting = "POSTCTL_DATABASE_URL_FILE"
        args, env = [], env_with(POSTCTL_DATABASE_URL_FILE=str(secret))
    if source in ("env", "DATABASE_URL") and "\0" in url:
        return  # an environment cannot hold a NUL; the option and file cases cover it
    result = invoke([*args, *command.split(), *COMMAND_ARGS[command]], env)
    assert_no_crash(result)
    assert_hidden(result.output, *secrets(password))
    if command in DATABASE_FREE:
        assert result.exit_code == 0, result.output
    elif bad:
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert error_lines(result) == [result.stderr.rstrip("\n")], result.stderr
        assert result.stderr.startswith(f"Error: {setting}: invalid database URL: ")
    elif result.exit_code != 0:
        assert len(error_lines(result)) == 1, result.stderr


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MYSQL_VALUES = {
    "MYSQL_HOST": st.one_of(
        HOSTS.map(lambda h: h.strip("[]")),
        st.text(max_size=20).filter(lambda h: h and "\0" not in h),
    ),
    "MYSQL_USER": st.text(max_size=20),
    "MYSQL_DB": st.text(max_size=20),
    "MYSQL_PORT": st.one_of(st.just("1"), st.text(max_size=8)),
}


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    password=st.one_of(PASSWORDS.filter(lambda p: "\0" not in p), st.just("")),  # an env var
    name=st.sampled_from(sorted(MYSQL_VALUES)),
)
@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_generated_mysql_variables_name_the_one_at_fault(
    command: str, data: st.DataObject, password: str, name: str
) -> None:
    value = data.draw(MYSQL_VALUES[name].filter(lambda v: "\0" not in v), label=name)
    values = {"MYSQL_HOST": "127.0.0.1", "MYSQL_USER": "u", "MYSQL_DB": "d", "MYSQL_PORT": "1"}
    values[name] = value
    env = env_with(MYSQL_PASS=password, **values)
    try:
        config.database_setting({**values, "MYSQL_PASS": password})
        fault = None
    except ConfigError as err:
        fault = err.setting
    result = invoke([*command.split(), *COMMAND_ARGS[command]], env)
    assert_no_crash(result)
    if password:
        assert_hidden(result.output, *secrets(password))
    if command in DATABASE_FREE:
        assert result.exit_code == 0, result.output
    elif fault is not None:
        assert fault == name
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr.startswith(f"Error: {name}: ")
        assert error_lines(result) == [result.stderr.rstrip("\n")], result.stderr
    elif result.exit_code != 0:
        assert len(error_lines(result)) == 1, result.stderr
