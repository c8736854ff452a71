"""The command that checks the database: check."""

from __future__ import annotations

import click

from postctl import config, db, environments, galera
from postctl.check import CheckReport, check, galera_problem
from postctl.commands.base import App, Failure, pass_app


@click.command("check")
@pass_app
def check_command(app: App) -> None:
    """Check the schema, the connection settings and the row counts.

    Connects, compares the tables with the model (columns, types, lengths)
    and checks the encoding: utf8mb4 and strict SQL mode on MySQL/MariaDB, a
    UTF8 database and connection on PostgreSQL; on a MariaDB Galera node,
    the cluster: wsrep on, its size, Primary and Synced (anything else is a
    problem). Prints what is fine, the environment the database is marked
    with and the row count of each table on stdout, and every problem with
    what to do about it on stderr; exits 1 when there is any problem (a
    mark other than POSTCTL_ENV is one). Useful as a readiness probe and in
    scripts.

    Example: postctl check && postctl load-fixtures
    """
    engine = app.engine()
    # A Galera node out of the primary component answers no query: ask it outside the pool.
    state = galera.probe(engine) if db.is_mysql(app.url) else None
    if state is not None and not state.answers:
        report, mark = CheckReport(problems=[galera_problem(state)], refused=True), None
    else:
        with db.transaction(engine) as conn:
            report = check(conn)
            mark = environments.stored(conn)
    believed = config.believed_environment()
    if mark is not None and believed and believed != mark:
        report.problems.append(
            f"the database is marked {mark} but POSTCTL_ENV is {believed}; "
            "check the database URL, or correct the mark with `postctl environment set`"
        )
    click.echo(f"database: {app.masked_url}")
    unknown = "unknown (the node answers no query)"
    click.echo(f"environment: {unknown if report.refused else _describe(mark)}")
    for fact in report.facts:
        click.echo(f"ok: {fact}")
    for table, count in report.counts.items():
        click.echo(f"rows: {table} {count}")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.problems:
        raise Failure(f"{len(report.problems)} problem(s) found in {app.masked_url}")


def _describe(mark: str | None) -> str:
    if mark is None:
        return "not set (postctl environment set NAME marks it)"
    return f"{mark} (protected)" if mark in config.protected_environments() else mark
