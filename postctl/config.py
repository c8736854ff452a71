"""Settings from the environment."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from postctl.errors import ConfigError

DEFAULT_SQLITE_FILE = "postctl.db"
URL_VARS = ("POSTCTL_DATABASE_URL", "DATABASE_URL")
DEFAULT_PROTECTED = ("production",)
MYSQL_VARS = ("MYSQL_HOST", "MYSQL_USER", "MYSQL_PASS", "MYSQL_DB")
# Settings that may instead come from a file named by NAME_FILE (a container secret),
# so that the secret is in no environment a `docker inspect` or /proc shows.
FILE_VARS = ("POSTCTL_DATABASE_URL", "MYSQL_PASS")
DEFAULT_SETTING = "the default SQLite file"
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")

URL_ORDER_HELP = (
    "The database URL comes from, in order: --database-url; POSTCTL_DATABASE_URL (or the "
    "file POSTCTL_DATABASE_URL_FILE names); DATABASE_URL; a MySQL URL built from MYSQL_HOST, "
    "MYSQL_USER, MYSQL_PASS (or the file MYSQL_PASS_FILE names), MYSQL_DB (and optional "
    f"MYSQL_PORT) when all four are set; else the SQLite file {DEFAULT_SQLITE_FILE} in the "
    "current directory. A file's one trailing newline is not part of the value."
)


@dataclass(frozen=True)
class DatabaseSetting:
    """The database URL and the setting it came from, to name in an error."""

    url: str
    name: str
    password: str | None = None  # MYSQL_PASS's value, to mask wherever it shows

    @property
    def from_file(self) -> bool:
        """Whether a secret file (POSTCTL_DATABASE_URL_FILE, MYSQL_PASS_FILE) gave the URL."""
        return any(f"{name}_FILE" in self.name.split(", ") for name in FILE_VARS)


def database_setting(environ: Mapping[str, str] | None = None) -> DatabaseSetting:
    """Return the database URL the environment configures, by the documented order.

    Raise ConfigError naming the variable when a MYSQL_* value cannot make a URL.
    """
    env = os.environ if environ is None else environ
    for name in URL_VARS:
        value = _value(env, name)
        if value:
            return DatabaseSetting(value, _source(env, name))
    mysql = {name: _value(env, name) for name in MYSQL_VARS}
    if all(value is not None for value in mysql.values()) and mysql["MYSQL_HOST"]:
        url = mysql_url(
            host=env["MYSQL_HOST"],
            user=env["MYSQL_USER"],
            password=mysql["MYSQL_PASS"] or "",
            database=env["MYSQL_DB"],
            port=env.get("MYSQL_PORT") or None,
        )
        names = ", ".join(_source(env, name) for name in MYSQL_VARS)
        return DatabaseSetting(url, names, mysql["MYSQL_PASS"])
    return DatabaseSetting(f"sqlite:///{DEFAULT_SQLITE_FILE}", DEFAULT_SETTING)


def _source(env: Mapping[str, str], name: str) -> str:
    """Name the variable a setting came from: NAME, or NAME_FILE when the file gave it."""
    file_var = f"{name}_FILE"
    return file_var if name in FILE_VARS and env.get(file_var) else name


def _value(env: Mapping[str, str], name: str) -> str | None:
    """Return a setting's value from NAME, or from the file NAME_FILE names.

    Raise ConfigError when both are set, or when the file cannot be read as UTF-8 text.
    """
    file_var = f"{name}_FILE"
    path = env.get(file_var) if name in FILE_VARS else None
    if not path:
        return env.get(name)
    if env.get(name):
        raise ConfigError(f"{name} is set too; set only one of them", file_var)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path, or not UTF-8
        reason = str(err.strerror) if isinstance(err, OSError) else "not valid UTF-8 text"
        raise ConfigError(f"cannot read {path!r}: {reason}", file_var) from None
    return text.removesuffix("\n").removesuffix("\r")


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the database URL configured by the environment, by the documented order."""
    return database_setting(environ).url


def mysql_url(host: str, user: str, password: str, database: str, port: str | None = None) -> str:
    """Build a mysqlclient URL, escaping every part so that any password works.

    Raise ConfigError naming the MYSQL_* variable whose value cannot be used.
    """
    for name, value in (("MYSQL_USER", user), ("MYSQL_PASS", password), ("MYSQL_DB", database)):
        _check_text(name, value, shown=name != "MYSQL_PASS")
    if not user:
        raise ConfigError("is empty; set it to the database user name", "MYSQL_USER")
    if not database:
        raise ConfigError("is empty; set it to the database name", "MYSQL_DB")
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    netloc = f"{auth}@{_host(host)}" + (f":{_port(port)}" if port is not None else "")
    return f"mysql+mysqldb://{netloc}/{quote(database, safe='')}?charset=utf8mb4"


def password_url(password: str) -> str:
    """Return a URL that holds only this password, written as mysql_url writes it (to mask it)."""
    return f"mysql://user:{quote(password.encode('utf-8', 'surrogatepass'), safe='')}@host/"


def _check_text(name: str, value: str, shown: bool) -> None:
    """Refuse a value no database can take: NUL, or bytes that are not UTF-8."""
    what = f" ({value!r})" if shown else ""
    if "\0" in value:
        raise ConfigError(f"contains a NUL character{what}", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"is not valid UTF-8 text{what}", name) from None


def _host(host: str) -> str:
    """Return MYSQL_HOST as the URL's host part (an IPv6 address in brackets)."""
    _check_text("MYSQL_HOST", host, shown=True)
    if _HOST_NAME.fullmatch(host):
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(f"not a host name or IP address: {host!r}", "MYSQL_HOST") from None
    return f"[{address}]" if address.version == 6 else str(address)


def _port(port: str) -> int:
    """Return MYSQL_PORT as a number from 1 to 65535."""
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        raise ConfigError(f"not a port number from 1 to 65535: {port!r}", "MYSQL_PORT")
    return int(port)


def believed_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the environment the caller says it is in (POSTCTL_ENV), if any."""
    env = os.environ if environ is None else environ
    return env.get("POSTCTL_ENV") or None


def protected_environments(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Return the protected environments: POSTCTL_PROTECTED_ENVIRONMENTS, comma-separated."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in env.get("POSTCTL_PROTECTED_ENVIRONMENTS", "").split(",")}
    return frozenset(names - {""}) or frozenset(DEFAULT_PROTECTED)
