"""The environment mark: environment set/show, and the guard of the commands that delete posts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from postctl import config, db, environments, galera, sqlite
from postctl.commands.base import App, Failure, pass_app
from postctl.errors import NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

F = TypeVar("F", bound=Callable[..., object])


def allow_protected_option(func: F) -> F:
    """Add --allow-protected (or POSTCTL_ALLOW_PROTECTED=1): run even on a protected database."""
    return click.option(
        "--allow-protected",
        is_flag=True,
        envvar="POSTCTL_ALLOW_PROTECTED",
        show_envvar=True,
        help="Run even on a database marked with a protected environment, or with another "
        "one than POSTCTL_ENV (--yes does not do this).",
    )(func)


def guard_destructive(app: App, engine: Engine, action: str, allow: bool) -> None:
    """Refuse (exit 4) to delete posts in a protected or unexpected environment, unless allowed;
    refuse (exit 1) on a Galera node that is not a Synced member of the primary component.

    `action` starts the message, e.g. "refusing to reset URL".
    """
    if sqlite.file_missing(app.url):
        return  # no file, nothing in it to protect (and reading would create it)
    if db.is_mysql(app.url):  # first: a node out of the primary component answers no read
        galera_refusal = galera.refusal(galera.probe(engine), action)
        if galera_refusal is not None:
            raise Failure(galera_refusal)
    reason = db.read(
        engine,
        lambda conn: environments.guard(
            conn,
            action,
            believed=config.believed_environment(),
            protected=config.protected_environments(),
            allow=allow,
        ),
    )
    if reason is not None:
        click.echo(f"Warning: {reason}; going on as --allow-protected says.", err=True)


@click.group("environment")
def environment_group() -> None:
    """Mark the database with the environment it serves, or show the mark.

    \b
    reset-db, load-fixtures --replace and load-fixtures --upsert refuse
    (exit 4, nothing changed) on a database marked with
    - a protected environment: POSTCTL_PROTECTED_ENVIRONMENTS,
      comma-separated (default: production), or
    - another environment than POSTCTL_ENV, when that is set.
    --yes does not override this; --allow-protected does, and so does
    POSTCTL_ALLOW_PROTECTED=1. The mark survives reset-db.

    Example: postctl environment set production
    """


@environment_group.command("set")
@click.argument("name", metavar="NAME", callback=lambda _c, _p, v: _checked_name(v))
@allow_protected_option
@pass_app
def set_command(app: App, name: str, allow_protected: bool) -> None:
    """Mark the database as environment NAME (e.g. production, staging, test).

    NAME is lowercase letters, digits, '_' and '-'.

    \b
    Changing the mark of a database marked with a protected environment
    needs --allow-protected.

    Example: postctl environment set production
    """
    protected = config.protected_environments()
    with db.transaction(app.engine()) as conn:
        previous = environments.mark(conn, name, protected=protected, allow=allow_protected)
    was = "" if previous in (None, name) else f" (was {previous})"
    state = ", a protected environment" if name in protected else ""
    click.echo(f"Marked {app.masked_url} as {name}{state}{was}.")


@environment_group.command("show")
@pass_app
def show_command(app: App) -> None:
    """Print the environment the database is marked with; exit 3 when it has no mark.

    Example: test "$(postctl environment show)" = production
    """
    name = db.read(app.engine(), environments.stored)
    if name is None:
        raise NotFoundError(
            f"{app.masked_url} has no environment mark; set one with `postctl environment set NAME`"
        )
    click.echo(name)


def _checked_name(value: str) -> str:
    try:
        return environments.check_name(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
