"""Processes the tests start: each in a process group of its own, killed whole when done.

`run` and `started` replace subprocess.run and Popen in the tests: a process that
outlives its timeout, or a failing test, takes every process it started with it
(uWSGI's workers, a load's forked children), so nothing is left running.
`private_mariadb` starts a MariaDB server of the test's own, with the settings it
needs (local_infile off), on a free port in a temporary data directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"


def kill_group(pgid: int) -> None:
    """Kill every process of the group, if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run(argv: Sequence[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """Run a program in its own process group; on timeout (or any error) kill the whole group.

    Like subprocess.run(capture_output=True): raises subprocess.TimeoutExpired after
    killing. The group is killed after a normal exit too, taking any orphan with it.
    """
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    with subprocess.Popen(argv, start_new_session=True, **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            kill_group(proc.pid)
            if proc.poll() is None:
                proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@contextlib.contextmanager
def started(argv: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """Start a program in its own process group; kill the group when the block ends."""
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        kill_group(proc.pid)
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mariadb_available() -> bool:
    return os.access(MARIADBD, os.X_OK) and shutil.which(INSTALL_DB) is not None


@contextlib.contextmanager
def private_mariadb(*options: str, database: str = "postctl_test") -> Iterator[str]:
    """Start a MariaDB server of our own with these server options; yield a URL to it.

    A temporary data directory, a free loopback port, small InnoDB files; the
    server is stopped (its process group killed) and its directory removed after.
    """
    with restartable_mariadb(*options, database=database) as server:
        yield server.url


class MariaDB:
    """A private MariaDB server that a test may stop and start again: same port, same data."""

    def __init__(self, argv: list[str], port: int, log: Path, url: str) -> None:
        self.argv, self.port, self.log, self.url = argv, port, log, url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it listens."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
            )
        _wait_for_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        """Shut the server down (SIGTERM, as a restart does) and wait until it has exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            finally:
                kill_group(self.proc.pid)
                self.proc.wait()


@contextlib.contextmanager
def restartable_mariadb(*options: str, database: str = "postctl_test") -> Iterator[MariaDB]:
    """Start a private MariaDB server (see private_mariadb); yield it, to stop and start."""
    with tempfile.TemporaryDirectory(prefix="postctl-mariadb-") as tmp:
        datadir = Path(tmp) / "data"
        common = ["--no-defaults", f"--datadir={datadir}", "--user=root"]
        small = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"]
        installed = run(
            [INSTALL_DB, *common, *small, "--auth-root-authentication-method=normal"],
            timeout=120,
        )
        assert installed.returncode == 0, installed.stderr
        port = free_port()
        argv = [
            MARIADBD, *common, *small, f"--port={port}", "--bind-address=127.0.0.1",
            f"--socket={tmp}/mysqld.sock", f"--pid-file={tmp}/mysqld.pid",
            "--skip-log-bin", "--skip-name-resolve", "--character-set-server=utf8mb4",
            *options,
        ]  # fmt: skip
        url = f"mysql+mysqldb://root@127.0.0.1:{port}/{database}?charset=utf8mb4"
        server = MariaDB(argv, port, Path(tmp) / "server.log", url)
        try:
            server.start()
            _create_database(port, database)
            yield server
        finally:
            if server.proc is not None:
                kill_group(server.proc.pid)
                server.proc.wait()


def _wait_for_port(port: int, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-5000:]
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.connect(("127.0.0.1", port))
            return
        time.sleep(0.1)
    raise AssertionError(f"MariaDB did not listen on {port} within 60 s")


def _create_database(port: int, database: str) -> None:
    import MySQLdb

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=5)
            break
        except MySQLdb.OperationalError:  # listening, not yet accepting logins
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        conn.cursor().execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
