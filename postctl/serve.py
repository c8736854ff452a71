"""Build the uWSGI command line that `postctl serve` runs in place of itself."""

from __future__ import annotations

import os
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
# Chosen by measurement (bench/serve.py --compare-modes, docs/deployment.md):
# on 2 cores, HTTP in the workers (--http-socket), 2 processes x 2 threads,
# served the most requests/s at the steadiest p99. --http11-socket pins each
# kept-alive client to a worker thread and starves the others; the --http
# router is one more process competing for the same cores.
DEFAULT_PROCESSES = 2
DEFAULT_THREADS = 2
DEFAULT_HTTP_MODE = "http-socket"
HARAKIRI_SECONDS = 30
MAX_REQUESTS = 10_000
MERCY_SECONDS = 5
INSTALL_HINT = "install it with: pip install 'postctl[serve]'"


class ServeError(PostctlError):
    """The server cannot be started."""


@dataclass(frozen=True)
class ServeOptions:
    """How to run uWSGI; the defaults are the production settings."""

    host: str = "127.0.0.1"
    port: int = 8080
    processes: int = DEFAULT_PROCESSES
    threads: int = DEFAULT_THREADS
    http_mode: str = DEFAULT_HTTP_MODE
    module: str = APP_MODULE

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def uwsgi_command(uwsgi: str, options: ServeOptions) -> list[str]:
    """Return the uWSGI argv for these options; pure, for tests and --print-command."""
    if options.http_mode not in HTTP_MODES:
        raise ValueError(f"unknown HTTP mode {options.http_mode!r}")
    argv = [uwsgi, "--strict"]  # first, so a mistyped option below is an error, not ignored
    argv += [*HTTP_MODES[options.http_mode], options.address]
    argv += [
        "--module", options.module,
        # A supervisor that respawns dead workers and relays signals to them.
        "--master",
        # An app that fails to import stops uWSGI instead of serving every request a 500.
        "--need-app",
        # (No --lazy-apps: the master imports the app once, create_app connects to
        # nothing, and each worker makes its own engine on first use, see
        # db.ProcessEngine. With --lazy-apps a SIGTERM reaching a worker still
        # importing the app kills the import: uWSGI then exits 22 or waits 60 s.)
        # SIGTERM (Docker's stop signal) shuts down; uWSGI 2.0 would otherwise reload.
        "--die-on-term",
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
        # Recycle a worker after this many requests, bounding slow memory growth.
        "--max-requests", str(MAX_REQUESTS),
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


def environment(base: Mapping[str, str], database_url: str) -> dict[str, str]:
    """Return the workers' environment: the resolved URL rides in POSTCTL_DATABASE_URL.

    The environment, not the command line, so that the password never shows in `ps`.
    """
    return {**base, "POSTCTL_DATABASE_URL": database_url}


def check_app(database_url: str) -> None:
    """Import and create the app as a worker will, so a broken install fails here, clearly."""
    try:
        from postctl import web

        web.create_app(database_url)
    except ImportError as err:
        raise ServeError(f"cannot load the web app: {err}") from None
