from __future__ import annotations

import pytest
from sqlalchemy import make_url

from postctl import config

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
