"""A real `postctl serve` for tests: a free loopback port, its own process group, killed after."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import CONFIG_VARS, REPO

START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a new connection; return status, headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@contextmanager
def serving(db_url: str, log: Path, *args: str) -> Iterator[int]:
    """Run `postctl serve` on the database until the block ends; yield its port."""
    with serving_process(db_url, log, *args) as (_, port):
        yield port


@contextmanager
def serving_process(
    db_url: str, log: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run `postctl serve` until the block ends; yield the process (uWSGI's master) and port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["POSTCTL_DATABASE_URL"] = db_url
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postctl", "serve", "--port", str(port), *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_until_up(proc, port, log)
            yield proc, port
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"server did not come up:\n{log.read_text()}"
        time.sleep(0.2)


@contextmanager
def serving_socket(db_url: str, log: Path, address: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `postctl serve --socket ADDRESS` until the block ends; yield the process.

    Up once the socket accepts a connection (uWSGI queues it until a worker is ready).
    """
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["POSTCTL_DATABASE_URL"] = db_url
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postctl", "serve", "--socket", address],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _accepts(address):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"server did not come up:\n{log.read_text()}"
                time.sleep(0.1)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _accepts(address: str) -> bool:
    if ":" in address:
        host, _, port = address.rpartition(":")
        sock = socket.socket()
        target: str | tuple[str, int] = (host, int(port))
    else:
        sock = socket.socket(socket.AF_UNIX)
        target = address
    with sock:
        return sock.connect_ex(target) == 0


def worker_pids(pid: int) -> list[int]:
    """Return the pids of a uWSGI master's children (its workers, and the HTTP router)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)
