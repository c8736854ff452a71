"""The postctl command line: thin Click wrappers over the library functions."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from postctl import __version__, config, db, output
from postctl.errors import NotFoundError, PostctlError

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The exit-code contract for scripts (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # operational: database unreachable or refused, bad fixture data
EXIT_USAGE = 2  # bad command line (Click's own)
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4  # a destructive command was not confirmed

F = TypeVar("F", bound=Callable[..., Any])
SINCE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Failure(click.ClickException):
    """An operational error: a one-line message on stderr, exit 1."""

    exit_code = EXIT_ERROR


class NotFound(Failure):
    """What was asked for does not exist: exit 3."""

    exit_code = EXIT_NOT_FOUND


class Refused(Failure):
    """A destructive command was not confirmed: exit 4, nothing changed."""

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


class PostctlGroup(click.Group):
    """Turn library errors into one-line messages and exit codes, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NotFoundError as err:
            _fail(ctx, str(err), NotFound)
        except PostctlError as err:
            _fail(ctx, str(err), Failure)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if os.environ.get("POSTCTL_DEBUG"):
                raise
            _fail(
                ctx,
                f"unexpected {type(err).__name__}: {err} (set POSTCTL_DEBUG=1 for a traceback)",
                Failure,
            )


def _fail(ctx: click.Context, message: str, kind: type[Failure]) -> NoReturn:
    app = ctx.find_object(App)
    raise kind(app.hide_secrets(message) if app else message)


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


@click.group(cls=PostctlGroup, context_settings=CONTEXT_SETTINGS, epilog=config.URL_ORDER_HELP)
@click.option(
    "--database-url",
    metavar="URL",
    envvar="POSTCTL_DATABASE_URL",
    show_envvar=True,
    help="SQLAlchemy database URL, e.g. mysql+mysqldb://user:pass@host/db or sqlite:///posts.db.",
)
@click.version_option(__version__, "-V", "--version", prog_name="postctl")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Administer the post database: reset it, load CSV fixtures, show posts.

    Example: postctl reset-db --yes && postctl load-fixtures && postctl show-post 1
    """
    ctx.obj = App(database_url or config.database_url())
    ctx.call_on_close(ctx.obj.close)


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def confirm_destructive(question: str, refusal: str) -> None:
    """Ask on a terminal; without one, refuse: scripts must say --yes."""
    if not _stdin_is_tty():
        raise Refused(f"{refusal}: no terminal to confirm on; pass --yes")
    if not click.confirm(question, default=False, err=True):
        raise Refused(f"{refusal}: not confirmed")


@cli.command("reset-db")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option(
    "--fixtures",
    "fixture_paths",
    multiple=True,
    metavar="PATH",
    type=click.Path(path_type=Path),
    help="Then load these CSV fixtures (a file or directory; repeatable).",
)
@click.option("-q", "--quiet", is_flag=True, help="No load summary on stderr.")
@pass_app
def reset_db_command(app: App, yes: bool, fixture_paths: tuple[Path, ...], quiet: bool) -> None:
    """Drop and recreate the schema (deletes every post).

    Ids start again at 1. Asks for confirmation on a terminal; without one,
    refuses (exit 4) unless --yes is given. With --fixtures, then loads them
    (as load-fixtures does) in one command.

    Example: postctl reset-db --yes --fixtures fixtures/
    """
    files = _fixture_files(fixture_paths) if fixture_paths else []
    if not yes:
        confirm_destructive(
            f"Drop and recreate all tables in {app.masked_url}? Every post will be lost.",
            f"refusing to reset {app.masked_url}, nothing changed",
        )
    engine = app.engine(must_exist=False, local_infile=bool(files))
    tables = db.reset_db(engine)
    click.echo(f"Reset {app.masked_url}: dropped and created table {', '.join(tables)}.")
    if files:
        _load(engine, files, "insert", dry_run=False, quiet=quiet)


@cli.command("load-fixtures")
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True, help="Empty each target table first (same transaction).")
@click.option("--upsert", is_flag=True, help="Update rows whose id exists, insert the rest.")
@click.option("-n", "--dry-run", is_flag=True, help="Validate everything, write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm --replace (for scripts).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr.")
@pass_app
def load_fixtures_command(
    app: App,
    paths: tuple[Path, ...],
    replace: bool,
    upsert: bool,
    dry_run: bool,
    yes: bool,
    quiet: bool,
) -> None:
    """Load CSV fixtures, all or nothing, in one transaction.

    PATH is a CSV file or a directory of them (default: fixtures/). A file loads
    the table it is named after: posts.csv loads post. The header names the
    columns: id,content,author_email,created_time (id and created_time may be
    left out). Every value is validated first; any problem loads nothing.
    By default an id already in the table is an error; --replace empties the
    table first, --upsert overwrites rows with the same id.

    Example: postctl load-fixtures --replace --yes fixtures/posts.csv
    """
    if replace and upsert:
        raise click.UsageError("--replace and --upsert exclude each other")
    files = _fixture_files(paths or (Path("fixtures"),))
    if replace and not yes and not dry_run:
        tables = ", ".join(sorted({table for _, table in files}))
        confirm_destructive(
            f"Delete every row of {tables} in {app.masked_url} before loading?",
            f"refusing to replace {tables} in {app.masked_url}, nothing changed",
        )
    mode = "replace" if replace else "upsert" if upsert else "insert"
    _load(app.engine(local_infile=not dry_run), files, mode, dry_run=dry_run, quiet=quiet)


def _fixture_files(paths: tuple[Path, ...]) -> list[tuple[Path, str]]:
    from postctl import fixtures  # the CSV machinery only where it is used

    return fixtures.find_files(paths)


def _load(
    engine: Engine, files: list[tuple[Path, str]], mode: str, *, dry_run: bool, quiet: bool
) -> None:
    from postctl import fixtures

    bars = _ProgressBars() if not quiet and _stderr_is_tty() else None
    try:
        with db.transaction(engine) as conn:
            results = fixtures.load(conn, files, mode=mode, dry_run=dry_run, progress=bars)
            if dry_run:
                conn.rollback()  # nothing was written; say so to the database too
    finally:
        if bars is not None:
            bars.close()
    if quiet:
        return
    for r in results:
        rate = f"{r.rows / r.seconds:,.0f}" if r.seconds > 0 else "-"
        verb = "Would load" if dry_run else "Loaded"
        tail = " (dry run: nothing written)" if dry_run else ""
        click.echo(
            f"{verb} {r.rows} rows into {r.table} from {r.path} "
            f"in {r.seconds:.2f} s ({rate} rows/s){tail}.",
            err=True,
        )


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


class _ProgressBars:
    """One click progress bar per large fixture file, on stderr, by bytes read."""

    MIN_SIZE = 1 << 20  # a smaller file loads before a bar would be worth drawing

    def __init__(self) -> None:
        self.path: Path | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, path: Path, position: int) -> None:
        if path != self.path:
            self.close()
            self.path, self.done = path, 0
            size = path.stat().st_size
            if size >= self.MIN_SIZE:
                self.bar = click.progressbar(length=size, label=str(path), file=sys.stderr)
        if self.bar is not None:
            self.bar.update(position - self.done)
            self.done = position

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


@cli.command("dump-fixtures")
@click.argument(
    "directory", metavar="[DIR]", default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@pass_app
def dump_fixtures_command(app: App, directory: Path, quiet: bool) -> None:
    """Write each table to DIR/<table>s.csv (default DIR: .), ordered by id.

    The files are in the format load-fixtures reads, so dump, reset-db and
    load-fixtures give back the same database.

    Example: postctl dump-fixtures backup/ && postctl reset-db --yes --fixtures backup/
    """
    from postctl import fixtures

    with db.transaction(app.engine()) as conn:
        results = fixtures.dump(conn, directory)
    if not quiet:
        for r in results:
            click.echo(f"Dumped {r.rows} rows of {r.table} to {r.path}.", err=True)


@cli.command("show-post")
@click.argument("post_id", metavar="ID", type=click.IntRange(min=1))
@format_options(default_style="plain")
@pass_app
def show_post_command(app: App, post_id: int, fmt: str, style: str) -> None:
    """Show the post with this ID, one field per line.

    Exits with 3 when there is no such post.

    Example: postctl show-post 1 --format json
    """
    with db.transaction(app.engine()) as conn:
        post = db.get_post(conn, post_id)
    click.echo(output.render_post(post, fmt, style))


@cli.command("list-posts")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many posts.",
)
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Skip this many posts first (for paging).",
)
@click.option("--author", metavar="EMAIL", help="Only posts by this author_email.")
@click.option(
    "--since",
    metavar="DATETIME",
    type=click.DateTime(SINCE_FORMATS),
    help="Only posts created at or after this time, e.g. 2018-10-04 or 2018-10-04T12:00:00.",
)
@format_options(default_style="simple")
@pass_app
def list_posts_command(
    app: App,
    limit: int,
    offset: int,
    author: str | None,
    since: datetime | None,
    fmt: str,
    style: str,
) -> None:
    """List posts, newest first.

    The same --format choices as show-post: a table of rows, a JSON array of
    the same objects as show-post, or CSV in the fixture format.

    Example: postctl list-posts --author me@me.com --since 2018-10-01 -f json
    """
    with db.transaction(app.engine()) as conn:
        posts = db.list_posts(conn, limit=limit, offset=offset, author=author, since=since)
    click.echo(output.render_posts(posts, fmt, style))


@cli.command("check")
@pass_app
def check_command(app: App) -> None:
    """Check the schema, the connection settings and the row counts.

    Connects, compares the tables with the model (columns, types, lengths)
    and, on MySQL/MariaDB, checks utf8mb4 and strict SQL mode. Prints what
    is fine and the row count of each table on stdout, and every problem
    with what to do about it on stderr; exits 1 when there is any problem.
    Useful as a readiness probe and in scripts.

    Example: postctl check && postctl load-fixtures
    """
    with db.transaction(app.engine()) as conn:
        report = db.check(conn)
    click.echo(f"database: {app.masked_url}")
    for fact in report.facts:
        click.echo(f"ok: {fact}")
    for table, count in report.counts.items():
        click.echo(f"rows: {table} {count}")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.problems:
        raise Failure(f"{len(report.problems)} problem(s) found in {app.masked_url}")


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print the shell completion script for SHELL.

    Load it in the current shell, or add the line to your shell's start-up file.

    Example: eval "$(postctl completion bash)"
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # every Choice above has one
    script = completion_class(cli, {}, "postctl", "_POSTCTL_COMPLETE").source()
    click.echo(script, nl=not script.endswith("\n"))


# The defaults repeat serve.ServeOptions' (a test holds them equal) so that
# importing the CLI does not load the server module.
@cli.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; a container passes 0.0.0.0.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="uWSGI worker processes.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Threads per worker.",
)
@click.option("--print-command", is_flag=True, help="Print the uWSGI command line and exit.")
@pass_app
def serve_command(
    app: App, host: str, port: int, processes: int, threads: int, print_command: bool
) -> None:
    """Serve posts as JSON over HTTP: uWSGI in the foreground, in place of postctl.

    uWSGI replaces this process, so signals (SIGTERM to stop) reach it directly.
    The database URL reaches its workers as POSTCTL_DATABASE_URL. Endpoints:
    /post/ID, /posts, /healthz, /readyz, /openapi.json.

    Example: postctl serve --host 0.0.0.0 --port 8080
    """
    import shlex

    from postctl import serve  # nothing of the server for the other commands

    options = serve.ServeOptions(host=host, port=port, processes=processes, threads=threads)
    argv = serve.uwsgi_command(serve.find_uwsgi(), options)
    if print_command:
        click.echo(shlex.join(argv))
        return
    serve.check_app(app.url)
    click.echo(f"postctl: serving {app.masked_url} on http://{options.address}/", err=True)
    sys.stderr.flush()
    os.execve(argv[0], argv, serve.environment(os.environ, app.url))


main = cli
