"""Settings from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

DEFAULT_SQLITE_FILE = "postctl.db"
DEFAULT_PROTECTED = ("production",)
MYSQL_VARS = ("MYSQL_HOST", "MYSQL_USER", "MYSQL_PASS", "MYSQL_DB")

URL_ORDER_HELP = (
    "The database URL comes from, in order: --database-url; POSTCTL_DATABASE_URL; "
    "DATABASE_URL; a MySQL URL built from MYSQL_HOST, MYSQL_USER, MYSQL_PASS, MYSQL_DB "
    f"(and optional MYSQL_PORT) when all four are set; else the SQLite file {DEFAULT_SQLITE_FILE} "
    "in the current directory."
)


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the database URL configured by the environment, by the documented order."""
    env = os.environ if environ is None else environ
    for name in ("POSTCTL_DATABASE_URL", "DATABASE_URL"):
        if env.get(name):
            return env[name]
    if all(env.get(name) is not None for name in MYSQL_VARS) and env["MYSQL_HOST"]:
        return mysql_url(
            host=env["MYSQL_HOST"],
            user=env["MYSQL_USER"],
            password=env["MYSQL_PASS"],
            database=env["MYSQL_DB"],
            port=env.get("MYSQL_PORT") or None,
        )
    return f"sqlite:///{DEFAULT_SQLITE_FILE}"


def mysql_url(host: str, user: str, password: str, database: str, port: str | None = None) -> str:
    """Build a mysqlclient URL, escaping every part so that any password works."""
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    netloc = f"{auth}@{host}" + (f":{int(port)}" if port else "")
    return f"mysql+mysqldb://{netloc}/{quote(database, safe='')}?charset=utf8mb4"


def believed_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the environment the caller says it is in (POSTCTL_ENV), if any."""
    env = os.environ if environ is None else environ
    return env.get("POSTCTL_ENV") or None


def protected_environments(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Return the protected environments: POSTCTL_PROTECTED_ENVIRONMENTS, comma-separated."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in env.get("POSTCTL_PROTECTED_ENVIRONMENTS", "").split(",")}
    return frozenset(names - {""}) or frozenset(DEFAULT_PROTECTED)
