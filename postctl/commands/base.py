"""What every command shares: the exit codes, the errors, the app object and common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from postctl import db, output

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
    """What every command shares: the configured URL and one lazily made engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def masked_url(self) -> str:
        return db.mask_url(self.url)

    def engine(self, must_exist: bool = True, local_infile: bool = False) -> Engine:
        if self._engine is None:
            self._engine = db.make_engine(
                self.url, must_exist=must_exist, local_infile=local_infile
            )
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def hide_secrets(self, message: str) -> str:
        """Mask the password wherever a message may still carry it."""
        password = db.url_password(self.url)
        return message.replace(password, "***") if password else message


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


pass_app = click.make_pass_decorator(App)


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
