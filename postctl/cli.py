"""The postctl command line: one group of thin Click commands over the library functions.

The commands live in postctl.commands, a module per subject. Here they are
gathered, and library errors become one-line messages and exit codes.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from postctl import __version__, config
from postctl.commands import check, completion, data, environment, posts, serve, tokens
from postctl.commands.base import App, Failure, NotFound, Refused
from postctl.errors import NotFoundError, PostctlError, RefusedError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class PostctlGroup(click.Group):
    """Turn library errors into one-line messages and exit codes, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NotFoundError as err:
            _fail(ctx, err, NotFound)
        except RefusedError as err:
            _fail(ctx, err, Refused)
        except PostctlError as err:
            _fail(ctx, err, Failure)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if os.environ.get("POSTCTL_DEBUG"):
                raise
            _fail(ctx, Unexpected(err), Failure)


class Unexpected(Exception):
    """An error no code expected, told as such."""

    def __init__(self, err: Exception) -> None:
        super().__init__(err)
        self.err = err

    def __str__(self) -> str:
        try:
            told = str(self.err)
        except Exception:  # a message that cannot be made is not a second error
            told = "(its message cannot be shown)"
        return f"unexpected {type(self.err).__name__}: {told} (set POSTCTL_DEBUG=1 for a traceback)"


def _fail(ctx: click.Context, err: Exception, kind: type[Failure]) -> NoReturn:
    """Raise the Click exception that prints err as one line with no secret in it."""
    app = ctx.find_object(App) or App()
    raise kind(app.describe(err)) from None


@click.group(cls=PostctlGroup, context_settings=CONTEXT_SETTINGS, epilog=config.URL_ORDER_HELP)
@click.option(
    "--database-url",
    metavar="URL",
    envvar="POSTCTL_DATABASE_URL",
    show_envvar=True,
    help=(
        "SQLAlchemy database URL, e.g. sqlite:///posts.db, mysql+mysqldb://user:pass@host/db "
        "or postgresql+psycopg://user:pass@host/db (postgresql:// means psycopg 3 too)."
    ),
)
@click.version_option(__version__, "-V", "--version", prog_name="postctl")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Administer the post database: reset it, load CSV fixtures, show posts.

    Example: postctl reset-db --yes && postctl load-fixtures && postctl show-post 1
    """
    given = ctx.get_parameter_source("database_url") == ParameterSource.COMMANDLINE
    ctx.obj = App(database_url or None, "--database-url" if given else "POSTCTL_DATABASE_URL")
    ctx.call_on_close(ctx.obj.close)


for command in (
    data.reset_db_command,
    data.load_fixtures_command,
    data.dump_fixtures_command,
    posts.show_post_command,
    posts.list_posts_command,
    check.check_command,
    completion.completion_command,
    serve.serve_command,
    tokens.token_group,
    environment.environment_group,
):
    cli.add_command(command)

main = cli
