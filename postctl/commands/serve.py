"""The command that serves the HTTP API: serve."""

from __future__ import annotations

import os
import sys

import click

from postctl.commands.base import App, pass_app, text_only


# The defaults repeat serve.ServeOptions' (a test holds them equal) so that
# importing the CLI does not load the server module.
@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=text_only,
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
    /post/ID, /posts, /healthz, /readyz, /openapi.json; POST /post and DELETE
    /post/ID need a token (postctl token create).

    On a MariaDB Galera node, POSTCTL_WSREP_SYNC_WAIT=1 makes every read wait
    until the node has applied the writes the cluster committed before it (a
    read sees a write made through another node); /readyz is 503 while the
    node is not Synced.

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
