"""What every command shares: the exit codes, the errors, the app object and common options."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from postctl import config, db, output
from postctl.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The exit-code contract for scripts (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # operational: database unreachable or refused, bad fixture data
EXIT_USAGE = 2  # bad command line (Click's own)
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4  # a destructive command was not confirmed, or the database is protected

F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """An operational error: a one-line message on stderr, exit 1."""

    exit_code = EXIT_ERROR


class NotFound(Failure):
    """What was asked for does not exist: exit 3."""

    exit_code = EXIT_NOT_FOUND


class Refused(Failure):
    """A destructive command was not confirmed or is not allowed here: exit 4, nothing changed."""

    exit_code = EXIT_REFUSED


class App:
    """What every command shares: the configured URL, the setting it came from, one engine."""

    def __init__(self, url: str | None = None, setting: str = "--database-url") -> None:
        self._given = url
        self._setting = config.DatabaseSetting(url, setting) if url is not None else None
        self._engine: Engine | None = None

    @property
    def setting(self) -> config.DatabaseSetting:
        """The database setting, read from the environment on first use (ConfigError if bad)."""
        if self._setting is None:
            self._setting = config.database_setting()
        return self._setting

    @property
    def url(self) -> str:
        return self.setting.url

    @property
    def masked_url(self) -> str:
        return db.mask_url(self.url)

    def check(self) -> None:
        """Raise ConfigError naming the setting unless its URL parses and names a known kind."""
        problem = db.url_problem(self.url)
        if problem is not None:
            raise ConfigError(f"invalid database URL: {problem}", self.setting.name)

    def engine(self, must_exist: bool = True, local_infile: bool = False) -> Engine:
        if self._engine is None:
            self.check()
            self._engine = db.make_engine(
                self.url, must_exist=must_exist, local_infile=local_infile
            )
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def describe(self, err: Exception) -> str:
        """Say what went wrong in one message with no secret in it; never raise."""
        try:
            message = str(err)
            if isinstance(err, ConfigError) and err.setting is None and self._setting is not None:
                message = f"{self._setting.name}: {message}"
            return self.hide_secrets(message)
        except Exception:  # an error message must never become a second error
            return f"{type(err).__name__} (its message cannot be shown)"

    def hide_secrets(self, message: str) -> str:
        """Mask every password the configuration holds, in every form, wherever it shows."""
        urls = [self._given, *(os.environ.get(name) for name in config.URL_VARS)]
        if self._setting is not None:
            urls.append(self._setting.url)
        for url in urls:
            if url:
                message = db.hide_password(message, url)
        passwords = [os.environ.get("MYSQL_PASS")]
        if self._setting is not None:
            passwords.append(self._setting.password)  # also MYSQL_PASS_FILE's
        for password in passwords:
            if password:
                message = db.hide_password(message, config.password_url(password))
        return message


def format_options(default_style: str) -> Callable[[F], F]:
    """Add the shared --format and --style options, choices from output.py."""

    def decorate(func: F) -> F:
        func = click.option(
            "--style",
            type=click.Choice(output.TABLE_STYLES),
            default=default_style,
            show_default=True,
            help="Table style, for --format table.",
        )(func)
        return click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(output.FORMATS),
            default="table",
            show_default=True,
            help="Output format: a table for people, JSON or fixture CSV for programs.",
        )(func)

    return decorate


def pass_app(func: F) -> F:
    """Pass the App to the command, once its database URL is known to be usable."""

    @functools.wraps(func)
    def with_app(*args: Any, **kwargs: Any) -> Any:
        app = click.get_current_context().find_object(App)
        if app is None:
            app = click.get_current_context().find_root().ensure_object(App)
        app.check()
        return func(app, *args, **kwargs)

    return with_app  # type: ignore[return-value]


def text_only(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse an option value that is not text: bytes that are not UTF-8 reach no database."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter("not valid UTF-8 text") from None
    return value


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def can_confirm(refusal: str) -> None:
    """Refuse at once when there is no terminal to confirm on: scripts must say --yes."""
    if not _stdin_is_tty():
        raise Refused(f"{refusal}: no terminal to confirm on; pass --yes")


def confirm_destructive(question: str, refusal: str) -> None:
    """Ask on a terminal; without one, refuse: scripts must say --yes."""
    can_confirm(refusal)
    if not click.confirm(question, default=False, err=True):
        raise Refused(f"{refusal}: not confirmed")
