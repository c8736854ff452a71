from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url

from postctl import config
from postctl.cli import cli
from postctl.errors import ConfigError
from tests.conftest import CONFIG_VARS

MYSQL_ENV = {"MYSQL_HOST": "db", "MYSQL_USER": "app", "MYSQL_PASS": "pw", "MYSQL_DB": "posts"}


def test_default_is_sqlite_file_in_current_directory() -> None:
    assert config.database_url({}) == "sqlite:///postctl.db"


def test_postctl_database_url_comes_before_database_url() -> None:
    env = {"POSTCTL_DATABASE_URL": "sqlite:///a.db", "DATABASE_URL": "sqlite:///b.db", **MYSQL_ENV}
    assert config.database_url(env) == "sqlite:///a.db"


def test_database_url_comes_before_mysql_variables() -> None:
    assert config.database_url({"DATABASE_URL": "sqlite:///b.db", **MYSQL_ENV}) == "sqlite:///b.db"


def test_mysql_variables_build_a_mysqlclient_url() -> None:
    url = make_url(config.database_url({**MYSQL_ENV, "MYSQL_PORT": "3307"}))
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "mysql+mysqldb",
        "app",
        "pw",
        "db",
        3307,
        "posts",
    )
    assert url.query == {"charset": "utf8mb4"}


def test_incomplete_mysql_variables_fall_back_to_sqlite() -> None:
    env = {k: v for k, v in MYSQL_ENV.items() if k != "MYSQL_DB"}
    assert config.database_url(env) == "sqlite:///postctl.db"


@pytest.mark.parametrize("password", ["p@ss:w/rd", "a%20b", "#?&= +", "비밀🔑"])
def test_any_password_survives_the_url(password: str) -> None:
    url = make_url(config.database_url({**MYSQL_ENV, "MYSQL_PASS": password}))
    assert (url.password, url.host, url.database) == (password, "db", "posts")


def test_empty_password_gives_no_password() -> None:
    url = make_url(config.database_url({**MYSQL_ENV, "MYSQL_PASS": ""}))
    assert url.password is None and url.username == "app"


# Secrets from files (POSTCTL_DATABASE_URL_FILE, MYSQL_PASS_FILE): a container's secrets.


def secret_file(tmp_path: Path, text: str, name: str = "secret") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return str(path)


def test_database_url_file_is_read_in_postctl_database_urls_place(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "sqlite:///from-file.db\n")
    env = {"POSTCTL_DATABASE_URL_FILE": path, "DATABASE_URL": "sqlite:///b.db", **MYSQL_ENV}
    assert config.database_setting(env) == config.DatabaseSetting(
        "sqlite:///from-file.db", "POSTCTL_DATABASE_URL_FILE"
    )


def test_option_and_variable_order_is_kept_around_the_file(tmp_path: Path) -> None:
    """--database-url still wins (the CLI); an empty file falls through to DATABASE_URL."""
    empty = secret_file(tmp_path, "")
    env = {"POSTCTL_DATABASE_URL_FILE": empty, "DATABASE_URL": "sqlite:///b.db"}
    assert config.database_setting(env) == config.DatabaseSetting("sqlite:///b.db", "DATABASE_URL")


def test_mysql_pass_file_gives_the_password(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "p@ss:w/rd 비밀\r\n")
    env = {k: v for k, v in MYSQL_ENV.items() if k != "MYSQL_PASS"}
    setting = config.database_setting({**env, "MYSQL_PASS_FILE": path})
    assert make_url(setting.url).password == "p@ss:w/rd 비밀"
    assert setting.name == "MYSQL_HOST, MYSQL_USER, MYSQL_PASS_FILE, MYSQL_DB"
    assert setting.password == "p@ss:w/rd 비밀"


def test_only_one_trailing_newline_is_stripped(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "pw\n\n")
    env = {k: v for k, v in MYSQL_ENV.items() if k != "MYSQL_PASS"}
    url = make_url(config.database_url({**env, "MYSQL_PASS_FILE": path}))
    assert url.password == "pw\n"


@pytest.mark.parametrize("name", ["POSTCTL_DATABASE_URL", "MYSQL_PASS"])
def test_a_variable_and_its_file_together_are_an_error(tmp_path: Path, name: str) -> None:
    env = {**MYSQL_ENV, name: "sqlite:///a.db", f"{name}_FILE": secret_file(tmp_path, "x")}
    with pytest.raises(ConfigError) as err:
        config.database_setting(env)
    assert str(err.value) == f"{name}_FILE: {name} is set too; set only one of them"


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file or directory"), (b"\xff\xfe", "not valid UTF-8 text")],
)
def test_an_unreadable_secret_file_is_named(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        config.database_setting({"POSTCTL_DATABASE_URL_FILE": str(path)})
    assert str(err.value) == f"POSTCTL_DATABASE_URL_FILE: cannot read {str(path)!r}: {reason}"


MASKED = "mysql+mysqldb://app:***@127.0.0.1:1/posts"


def masked_error(where: str, masked: str) -> str:
    """How the error starts: the server unreachable, or (no mysqlclient) the driver missing."""
    if importlib.util.find_spec("MySQLdb") is not None:
        return f"Error: {masked}"
    return f"Error: {where}: cannot use {masked}"


def test_cli_uses_the_file_and_never_shows_its_password(tmp_path: Path) -> None:
    """The CLI end to end: the URL from the file, masked in the one-line error."""
    path = secret_file(tmp_path, "mysql+mysqldb://app:S3cr%40t-pw@127.0.0.1:1/posts\n")
    env: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    env["POSTCTL_DATABASE_URL"] = None
    env["POSTCTL_DATABASE_URL_FILE"] = path
    result = CliRunner().invoke(cli, ["show-post", "1"], env=env, prog_name="postctl")
    assert result.exit_code == 1, result.output
    assert "S3cr" not in result.output
    assert result.stderr.startswith(masked_error("POSTCTL_DATABASE_URL_FILE", MASKED + ": "))


def test_cli_masks_a_password_from_mysql_pass_file(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "Very$ecret-pw\n")
    env: dict[str, str | None] = dict.fromkeys((*CONFIG_VARS, "POSTCTL_DATABASE_URL"))
    env.update(MYSQL_HOST="127.0.0.1", MYSQL_PORT="1", MYSQL_USER="app", MYSQL_DB="posts")
    env["MYSQL_PASS_FILE"] = path
    result = CliRunner().invoke(cli, ["show-post", "1"], env=env, prog_name="postctl")
    assert result.exit_code == 1, result.output
    assert "ecret" not in result.output
    where = "MYSQL_HOST, MYSQL_USER, MYSQL_PASS_FILE, MYSQL_DB"
    assert result.stderr.startswith(masked_error(where, MASKED))
