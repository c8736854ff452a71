"""The command that checks the database: check."""

from __future__ import annotations

import click

from postctl import db
from postctl.check import check
from postctl.commands.base import App, Failure, pass_app


@click.command("check")
@pass_app
def check_command(app: App) -> None:
    """Check the schema, the connection settings and the row counts.

    Connects, compares the tables with the model (columns, types, lengths)
    and checks the encoding: utf8mb4 and strict SQL mode on MySQL/MariaDB, a
    UTF8 database and connection on PostgreSQL. Prints what
    is fine and the row count of each table on stdout, and every problem
    with what to do about it on stderr; exits 1 when there is any problem.
    Useful as a readiness probe and in scripts.

    Example: postctl check && postctl load-fixtures
    """
    with db.transaction(app.engine()) as conn:
        report = check(conn)
    click.echo(f"database: {app.masked_url}")
    for fact in report.facts:
        click.echo(f"ok: {fact}")
    for table, count in report.counts.items():
        click.echo(f"rows: {table} {count}")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.problems:
        raise Failure(f"{len(report.problems)} problem(s) found in {app.masked_url}")
