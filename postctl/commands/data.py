"""Commands that replace or copy the data: reset-db, load-fixtures, dump-fixtures.

The fixture engine (postctl.fixtures) is imported inside the commands, so
that the other commands start without it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from postctl import db, galera, schema
from postctl.commands.base import App, can_confirm, confirm_destructive, pass_app
from postctl.commands.environment import allow_protected_option, guard_destructive

if TYPE_CHECKING:
    from sqlalchemy import Engine


@click.command("reset-db")
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
@allow_protected_option
@pass_app
def reset_db_command(
    app: App, yes: bool, fixture_paths: tuple[Path, ...], quiet: bool, allow_protected: bool
) -> None:
    """Drop and recreate the post table: every post is deleted.

    What it drops: the post table (ids start again at 1) and the stored
    Idempotency-Key answers (table idempotency_key), which name posts. What it
    keeps: the API tokens (api_token) and the environment mark
    (postctl_metadata); these tables are created when missing.

    \b
    Refuses (exit 4, nothing changed) on a database marked with a
    protected environment, or with another one than POSTCTL_ENV:
    --yes does not override that; --allow-protected does.

    Asks for confirmation on a terminal; without one, refuses (exit 4)
    unless --yes is given. With --fixtures, then loads them (as
    load-fixtures does) in one command.

    Example: postctl reset-db --yes --fixtures fixtures/
    """
    files = _fixture_files(fixture_paths) if fixture_paths else []
    refusal = f"refusing to reset {app.masked_url}"
    if not yes:
        can_confirm(f"{refusal}, nothing changed")
    engine = app.engine(must_exist=False, local_infile=bool(files))
    guard_destructive(app, engine, refusal, allow_protected)
    if not yes:
        confirm_destructive(
            f"Drop and recreate all tables in {app.masked_url}? Every post will be lost.",
            f"{refusal}, nothing changed",
        )
    tables = schema.reset_db(engine)
    click.echo(f"Reset {app.masked_url}: dropped and created table {', '.join(tables)}.")
    if files:
        _load(engine, files, "insert", dry_run=False, quiet=quiet)


@click.command("load-fixtures")
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True, help="Empty each target table first (same transaction).")
@click.option("--upsert", is_flag=True, help="Update rows whose id exists, insert the rest.")
@click.option("-n", "--dry-run", is_flag=True, help="Validate everything, write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm --replace (for scripts).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr.")
@allow_protected_option
@pass_app
def load_fixtures_command(
    app: App,
    paths: tuple[Path, ...],
    replace: bool,
    upsert: bool,
    dry_run: bool,
    yes: bool,
    quiet: bool,
    allow_protected: bool,
) -> None:
    """Load CSV fixtures, all or nothing, in one transaction.

    PATH is a CSV file or a directory of them (default: fixtures/). A file loads
    the table it is named after: posts.csv loads post. The header names the
    columns: id,content,author_email,created_time (id and created_time may be
    left out). Every value is validated first; any problem loads nothing.
    By default an id already in the table is an error; --replace empties the
    table first, --upsert overwrites rows with the same id.

    \b
    --replace and --upsert refuse (exit 4, nothing changed) on a database
    marked with a protected environment, or with another one than
    POSTCTL_ENV, unless --allow-protected; inserting is allowed there,
    and so is any --dry-run.

    Example: postctl load-fixtures --replace --yes fixtures/posts.csv
    """
    if replace and upsert:
        raise click.UsageError("--replace and --upsert exclude each other")
    files = _fixture_files(paths or (Path("fixtures"),))
    tables = ", ".join(sorted({table for _, table in files}))
    refusal = f"refusing to replace {tables} in {app.masked_url}"
    ask = replace and not yes and not dry_run
    if ask:
        can_confirm(f"{refusal}, nothing changed")
    engine = app.engine(local_infile=not dry_run)
    if (replace or upsert) and not dry_run:
        action = refusal if replace else f"refusing to upsert into {tables} in {app.masked_url}"
        guard_destructive(app, engine, action, allow_protected)
    if ask:
        confirm_destructive(
            f"Delete every row of {tables} in {app.masked_url} before loading?",
            f"{refusal}, nothing changed",
        )
    mode = "replace" if replace else "upsert" if upsert else "insert"
    _load(engine, files, mode, dry_run=dry_run, quiet=quiet)


def _fixture_files(paths: tuple[Path, ...]) -> list[tuple[Path, str]]:
    from postctl.fixtures.files import find_files  # the CSV machinery only where it is used

    return find_files(paths)


def _load(
    engine: Engine, files: list[tuple[Path, str]], mode: str, *, dry_run: bool, quiet: bool
) -> None:
    from postctl.fixtures.load import load

    bars = _ProgressBars() if not quiet and _stderr_is_tty() else None
    try:
        with db.transaction(engine) as conn:
            if db.is_mysql(engine.url):
                galera.stream_writes(conn)  # on a Galera node: the write set in fragments
            results = load(conn, files, mode=mode, dry_run=dry_run, progress=bars)
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


@click.command("dump-fixtures")
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
    from postctl.fixtures.dump import dump

    with db.transaction(app.engine()) as conn:
        results = dump(conn, directory)
    if not quiet:
        for r in results:
            click.echo(f"Dumped {r.rows} rows of {r.table} to {r.path}.", err=True)
