"""Commands that manage the API tokens: token create, token list, token revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from postctl import db, output, tokens
from postctl.admin_schema import utc_now
from postctl.commands.base import App, pass_app, text_only


def _expiry(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta | None:
    try:
        return tokens.parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return tokens.check_name(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.group("token")
def token_group() -> None:
    """Create, list and revoke the API tokens that writes over HTTP need.

    POST /post and DELETE /post/ID need `Authorization: Bearer TOKEN`; reads
    need nothing. With no active token, every write is refused. Only a
    SHA-256 digest of each token is stored, in the api_token table, which
    reset-db keeps. Tokens are managed here only, never over HTTP.

    Example: postctl token create --name ci --expires 30d
    """


@token_group.command("create")
@click.option(
    "--name",
    required=True,
    callback=_name,
    help=f"Name to know the token by, unique: {tokens.NAME_RULE}.",
)
@click.option(
    "--expires",
    "expires_in",
    callback=_expiry,
    default="90d",
    show_default=True,
    metavar="DURATION",
    help="How long the token stays valid: 30m, 12h, 90d, 2w, 1y, or never.",
)
@pass_app
def create_command(app: App, name: str, expires_in: timedelta | None) -> None:
    """Create a token and print it, and nothing else, on stdout: it is shown only once.

    The token is pctl_ and 54 URL-safe characters (320 random bits). Only its
    SHA-256 digest is stored, so a lost token cannot be shown again: create
    another and revoke the lost one. Everything else goes to stderr, so
    TOKEN=$(postctl token create --name ci) keeps just the token.

    Example: TOKEN=$(postctl token create --name ci --expires 30d)
    """
    with db.transaction(app.engine()) as conn:
        secret, token = tokens.create(conn, name, expires_in)
    click.echo(secret)
    until = "never expires" if token.expires is None else f"expires {_utc(token.expires)}"
    click.echo(f"Created token {name} ({token.prefix}…), {until}; it is not shown again.", err=True)


@token_group.command("list")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people or JSON for programs.",
)
@pass_app
def list_command(app: App, fmt: str) -> None:
    """List the tokens, oldest first: name, prefix, times (UTC) and status; never a secret.

    The status is active, expired or revoked.

    Example: postctl token list --format json
    """
    found = db.read(app.engine(), tokens.list_tokens)
    now = utc_now()
    records = [
        {
            "name": t.name,
            "prefix": t.prefix,
            "created": t.created,
            "expires": t.expires,
            "last_used": t.last_used,
            "status": t.status(now),
        }
        for t in found
    ]
    if fmt == "json":
        click.echo(output.render_records(records, fmt))
    elif records:
        for record in records:
            record.update({k: "never" for k in ("expires", "last_used") if record[k] is None})
        click.echo(output.render_records(records, fmt))
    else:
        click.echo("No tokens: every write is refused; create one with `token create`.", err=True)


@token_group.command("revoke")
@click.argument("name", metavar="NAME", callback=text_only)
@pass_app
def revoke_command(app: App, name: str) -> None:
    """Revoke the token called NAME: it is refused (401) within a second. Exit 3 if none.

    Each server worker keeps the token rows it read for a second. The row
    stays, for `token list`; its name cannot be used again.

    Example: postctl token revoke ci
    """
    with db.transaction(app.engine()) as conn:
        token, now_revoked = tokens.revoke(conn, name)
    assert token.revoked is not None
    if now_revoked:
        click.echo(f"Revoked token {name} ({token.prefix}…).")
    else:
        click.echo(f"Token {name} ({token.prefix}…) was revoked already, at {_utc(token.revoked)}.")


def _utc(when: Any) -> str:
    return f"{output.format_datetime(when)} UTC"
