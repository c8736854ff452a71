"""Build the uWSGI command line that `postctl serve` runs in place of itself."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from postctl.errors import PostctlError

APP_MODULE = "postctl.wsgi:app"
# How uWSGI speaks HTTP: in the workers (http-socket; http11-socket adds keep-alive)
# or through a router process in front of them (http; optionally with keep-alive).
HTTP_MODES = {
    "http11-socket": ["--http11-socket"],
    "http-socket": ["--http-socket"],
    "http": ["--http"],
    "http-keepalive": ["--http-keepalive", "--http"],
}
# Chosen by measurement (bench/serve.py, tests/test_slow_clients.py, docs/deployment.md):
# the --http router reads each request whole before handing it to a worker, so
# clients that trickle their headers hold no worker thread; with HTTP in the
# workers (--http-socket) 40 such clients stopped the server. 2 processes x 8
# threads: threads waiting on the database no longer queue requests behind them.
DEFAULT_PROCESSES = 2
DEFAULT_THREADS = 8
DEFAULT_HTTP_MODE = "http"
HARAKIRI_SECONDS = 30
MERCY_SECONDS = 5
MALLOC_ARENA_MAX = "2"
# uWSGI's request buffer (the most it allows): nginx forwards up to 16 KB of
# headers and more, where uWSGI's default 4 KB makes nginx answer 502.
BUFFER_SIZE = 65535
# A unix socket nginx's user can connect to (uWSGI would create it 0755 as our user).
SOCKET_MODE = "666"
INSTALL_HINT = "install it with: pip install 'postctl[serve]'"
_PORT = re.compile(r"[0-9]{1,5}")


class ServeError(PostctlError):
    """The server cannot be started."""


@dataclass(frozen=True)
class ServeOptions:
    """How to run uWSGI; the defaults are the production settings.

    `socket` set: speak the uwsgi protocol there (for nginx) instead of HTTP.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    processes: int = DEFAULT_PROCESSES
    threads: int = DEFAULT_THREADS
    http_mode: str = DEFAULT_HTTP_MODE
    module: str = APP_MODULE
    socket: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def socket_address(text: str) -> str:
    """Return a --socket value checked: a unix socket path, or HOST:PORT; else raise ValueError.

    A value with a colon is HOST:PORT (as uWSGI reads it); any other is a path.
    """
    if not text or "\0" in text or text != text.strip():
        raise ValueError("give a unix socket path or HOST:PORT")
    if ":" not in text:
        return text
    host, _, port = text.rpartition(":")
    if not host or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST:PORT with a port from 1 to 65535: {text!r}")
    return text


def is_unix_socket(address: str) -> bool:
    """Tell whether a --socket address is a unix socket path (no colon)."""
    return ":" not in address


def listen_arguments(options: ServeOptions) -> list[str]:
    """Return the options that make uWSGI listen: uwsgi protocol on --socket, else HTTP."""
    if options.socket is not None:
        argv = ["--uwsgi-socket", options.socket]
        if is_unix_socket(options.socket):
            argv.append(f"--chmod-socket={SOCKET_MODE}")  # optional value: only with =
        return argv
    if options.http_mode not in HTTP_MODES:
        raise ValueError(f"unknown HTTP mode {options.http_mode!r}")
    return [*HTTP_MODES[options.http_mode], options.address]


def uwsgi_command(uwsgi: str, options: ServeOptions) -> list[str]:
    """Return the uWSGI argv for these options; pure, for tests and --print-command."""
    argv = [uwsgi, "--strict"]  # first, so a mistyped option below is an error, not ignored
    argv += listen_arguments(options)
    argv += [
        "--buffer-size", str(BUFFER_SIZE),
        "--module", options.module,
        # A supervisor that respawns dead workers and relays signals to them.
        "--master",
        # An app that fails to import stops uWSGI instead of serving every request a 500.
        "--need-app",
        # (No --lazy-apps: the master imports the app once, create_app connects to
        # nothing, and each worker makes its own engine on first use, see
        # db.ProcessEngine. With --lazy-apps a SIGTERM reaching a worker still
        # importing the app kills the import: uWSGI then exits 22 or waits 60 s.)
        # SIGTERM (Docker's stop signal) stops gracefully: no new connections,
        # requests already accepted finish, exit 0. (--die-on-term kills workers
        # mid-request; uWSGI 2.0's own SIGTERM reloads instead of stopping.)
        "--hook-master-start", "unix_signal:15 gracefully_kill_them_all",
        # Kill workers that have not stopped within this many seconds of a shutdown,
        # well inside Docker's 10 s between SIGTERM and SIGKILL.
        "--worker-reload-mercy", str(MERCY_SECONDS),
        # Workers x threads: the defaults are measured (see DEFAULT_HTTP_MODE).
        "--processes", str(options.processes),
        "--threads", str(options.threads),
        # Python threads started by the app (none today) get the GIL even with --threads 1.
        "--enable-threads",
        # One interpreter per worker: sub-interpreters break some C extensions.
        "--single-interpreter",
        # Kill and replace a worker stuck on one request for longer than this.
        "--harakiri", str(HARAKIRI_SECONDS),
        # (No --max-requests: recycling a worker every few seconds under load put
        # 300 ms spikes into p99; bench/soak.py measures the workers' memory instead.)
        # Remove the sockets and pid files uWSGI created when it exits.
        "--vacuum",
        # A log line per request costs throughput; keep only the failures.
        "--disable-logging", "--log-4xx", "--log-5xx",
    ]  # fmt: skip
    return argv


def find_uwsgi(executable: str | None = None, path: str | None = None) -> str:
    """Return the uwsgi program beside this Python (its venv) or on PATH, or raise ServeError."""
    beside = Path(executable or sys.executable).parent / "uwsgi"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("uwsgi", path=path)
    if found is None:
        raise ServeError(
            f"uWSGI not found beside {executable or sys.executable} or on PATH; {INSTALL_HINT}"
        )
    return found


def environment(
    base: Mapping[str, str], database_url: str, from_file: bool = False
) -> dict[str, str]:
    """Return the workers' environment: the resolved URL rides in POSTCTL_DATABASE_URL.

    The environment, not the command line, so that the password never shows in `ps`.
    A setting read from a secret file (from_file) stays there: the workers read the
    same file by the same rules, and the secret stays out of every environment.
    """
    # glibc gives each thread that allocates a malloc arena of its own: with 8 threads
    # a worker's RSS kept climbing for a whole soak, capped at 2 it levelled off
    # (docs/deployment.md). A value the user set wins.
    env = {"MALLOC_ARENA_MAX": MALLOC_ARENA_MAX, **base}
    if from_file:
        return env
    # Without the file setting, which would conflict with the variable in the workers.
    env.pop("POSTCTL_DATABASE_URL_FILE", None)
    return {**env, "POSTCTL_DATABASE_URL": database_url}


def check_app(database_url: str) -> None:
    """Import and create the app as a worker will, so a broken install fails here, clearly."""
    try:
        from postctl import web

        web.create_app(database_url)
    except ImportError as err:
        raise ServeError(f"cannot load the web app: {err}") from None
