"""The command that serves the HTTP API: serve."""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource

from postctl.commands.base import App, pass_app, text_only


def _socket_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check --socket's value."""
    if value is None:
        return None
    from postctl import serve

    text_only(ctx, param, value)
    try:
        address = serve.socket_address(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None
    return address


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
    default=8,
    show_default=True,
    help="Threads per worker.",
)
@click.option(
    "--socket",
    "socket_address",
    metavar="ADDR",
    callback=_socket_address,
    help="Speak the uwsgi protocol for nginx (uwsgi_pass) on ADDR, a unix socket path "
    "(made writable for nginx's user) or HOST:PORT, instead of HTTP; not with --host/--port.",
)
@click.option("--print-command", is_flag=True, help="Print the uWSGI command line and exit.")
@pass_app
def serve_command(
    app: App,
    host: str,
    port: int,
    processes: int,
    threads: int,
    socket_address: str | None,
    print_command: bool,
) -> None:
    """Serve posts as JSON over HTTP: uWSGI in the foreground, in place of postctl.

    uWSGI replaces this process, so signals reach it directly: SIGTERM stops
    it gracefully (requests under way finish). By default uWSGI's HTTP router
    faces clients directly; behind nginx use --socket /run/postctl/uwsgi.sock
    (see deploy/nginx.conf).
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

    ctx = click.get_current_context()
    for name in ("host", "port"):
        if socket_address is not None and ctx.get_parameter_source(name) != ParameterSource.DEFAULT:
            raise click.UsageError(f"--socket and --{name} cannot be used together", ctx)

    options = serve.ServeOptions(
        host=host, port=port, processes=processes, threads=threads, socket=socket_address
    )
    argv = serve.uwsgi_command(serve.find_uwsgi(), options)
    if print_command:
        click.echo(shlex.join(argv))
        return
    serve.check_app(app.url)
    where = f"uwsgi://{socket_address}" if socket_address else f"http://{options.address}/"
    click.echo(f"postctl: serving {app.masked_url} on {where}", err=True)
    sys.stderr.flush()
    os.execve(argv[0], argv, serve.environment(os.environ, app.url, app.setting.from_file))
