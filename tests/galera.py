"""The three-node Galera cluster the `galera` tests share: started once per session.

scripts/galera-cluster does the work (start, kill, restart, stop); this module
runs it and names each node's URL. The tests use database postctl_test on it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests import servers

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "galera-cluster"
PROVIDERS = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")
DATABASE = "postctl_test"


def provider_missing() -> str | None:
    """Say why no cluster can run here, or None when it can."""
    if not any(os.path.exists(p) for p in PROVIDERS):
        return f"no Galera provider library ({' or '.join(PROVIDERS)}): apt-get install galera-4"
    if not servers.mariadb_available():
        return f"{servers.MARIADBD} and mariadb-install-db are needed: install mariadb-server"
    return None


class Cluster:
    """A running cluster: its directory, its nodes' URLs, and the faults a test may cause."""

    def __init__(self, root: Path) -> None:
        self.root = root
        layout = json.loads((root / "cluster.json").read_text())
        self.ports = [int(node["port"]) for node in layout["nodes"]]

    def url(self, n: int) -> str:
        """Node n's (1-3) URL to the test database."""
        return f"mysql+mysqldb://root@127.0.0.1:{self.ports[n - 1]}/{DATABASE}?charset=utf8mb4"

    def pid(self, n: int) -> int:
        return int((self.root / f"node{n}" / "mariadbd.pid").read_text())

    def script(self, *args: str, timeout: float = 300) -> str:
        done = servers.run([sys.executable, str(SCRIPT), *args], timeout=timeout, text=True)
        assert done.returncode == 0, done.stderr
        return str(done.stdout)

    def kill(self, n: int) -> None:
        """SIGKILL node n's own mariadbd."""
        self.script("kill", str(self.root), str(n))

    def restart(self, n: int) -> None:
        """Start node n again and wait until it has rejoined and is Synced."""
        self.script("restart", str(self.root), str(n))

    def status(self) -> str:
        return self.script("status", str(self.root))


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster in a new directory; stop it and delete the directory after."""
    root = Path(tempfile.mkdtemp(prefix="postctl-galera-"))
    try:
        started = servers.run([sys.executable, str(SCRIPT), "start", str(root)], timeout=400)
        assert started.returncode == 0, started.stderr.decode(errors="replace")
        running = Cluster(root)
        with node_engine(running.url(1).replace(f"/{DATABASE}?", "/?")) as eng, eng.begin() as c:
            c.execute(text(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4"))
        yield running
    finally:
        if (root / "cluster.json").exists():
            servers.run([sys.executable, str(SCRIPT), "stop", str(root)], timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def node_engine(url: str) -> Iterator[Engine]:
    """A plain engine on one node (no pool: each use sees the node as it is now)."""
    eng = create_engine(url, poolclass=NullPool)
    try:
        yield eng
    finally:
        eng.dispose()


def status(conn: Connection, name: str) -> str:
    """One global status value of the node."""
    row = conn.execute(text("SHOW GLOBAL STATUS LIKE :name"), {"name": name}).one()
    return str(row[1])
