"""Commands that read posts: show-post and list-posts."""

from __future__ import annotations

from datetime import datetime

import click

from postctl import db, output, queries
from postctl.commands.base import App, format_options, pass_app, text_only

# What every backend takes in LIMIT and OFFSET: a signed 64-bit integer.
MAX_ROWS = 2**63 - 1
SINCE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


@click.command("show-post")
@click.argument("post_id", metavar="ID", type=click.IntRange(min=1))
@format_options(default_style="plain")
@pass_app
def show_post_command(app: App, post_id: int, fmt: str, style: str) -> None:
    """Show the post with this ID, one field per line.

    Exits with 3 when there is no such post.

    Example: postctl show-post 1 --format json
    """
    with db.transaction(app.engine()) as conn:
        post = queries.get_post(conn, post_id)
    click.echo(output.render_post(post, fmt, style))


@click.command("list-posts")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1, max=MAX_ROWS),
    default=20,
    show_default=True,
    help="Show at most this many posts.",
)
@click.option(
    "--offset",
    type=click.IntRange(min=0, max=MAX_ROWS),
    default=0,
    show_default=True,
    help="Skip this many posts first (for paging).",
)
@click.option(
    "--author", metavar="EMAIL", callback=text_only, help="Only posts by this author_email."
)
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
        posts = queries.list_posts(conn, limit=limit, offset=offset, author=author, since=since)
    click.echo(output.render_posts(posts, fmt, style))
