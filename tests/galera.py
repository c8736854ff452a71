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
import time
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
def node_engine(url: str, causal: bool = False) -> Iterator[Engine]:
    """A plain engine on one node (no pool: each use sees the node as it is now).

    causal: each statement first waits until the node has applied what the
    cluster committed before it (wsrep_sync_wait): another node's DDL returns
    before this node has applied it.
    """
    args = {"init_command": "SET SESSION wsrep_sync_wait = 15"} if causal else {}
    eng = create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        yield eng
    finally:
        eng.dispose()


def status(conn: Connection, name: str) -> str:
    """One global status value of the node."""
    row = conn.execute(text("SHOW GLOBAL STATUS LIKE :name"), {"name": name}).one()
    return str(row[1])


def node_sql(port: int, sql: str) -> list[tuple[object, ...]]:
    """Run one statement on a node with the driver alone: on a node out of the primary
    component SQLAlchemy's connections fail (their ROLLBACK is refused)."""
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=5)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        conn.close()


def node_status(port: int) -> tuple[str, str]:
    """The node's (wsrep_cluster_status, wsrep_local_state_comment)."""
    found = dict(
        node_sql(
            port,
            "SHOW GLOBAL STATUS WHERE Variable_name IN "
            "('wsrep_cluster_status', 'wsrep_local_state_comment')",
        )
    )
    return str(found["wsrep_cluster_status"]), str(found["wsrep_local_state_comment"])


def wait_for(port: int, wanted: tuple[str, str], seconds: float = 60) -> None:
    """Poll the node until its state is wanted; fail after the seconds."""
    deadline = time.monotonic() + seconds
    while (state := node_status(port)) != wanted:
        assert time.monotonic() < deadline, f"node on {port} is {state}, not {wanted}"
        time.sleep(0.2)


@contextmanager
def isolated(cluster: Cluster, n: int) -> Iterator[None]:
    """Cut node n off the others (it leaves the primary component) for the block."""
    port = cluster.ports[n - 1]
    node_sql(port, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
    try:
        wait_for(port, ("non-Primary", "Initialized"))
        yield
    finally:
        node_sql(port, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
        wait_for(port, ("Primary", "Synced"))


@contextmanager
def desynced(cluster: Cluster, n: int) -> Iterator[None]:
    """Take node n out of Synced (Donor/Desynced, as while it serves a state transfer)."""
    port = cluster.ports[n - 1]
    node_sql(port, "SET GLOBAL wsrep_desync = ON")
    try:
        wait_for(port, ("Primary", "Donor/Desynced"))
        yield
    finally:
        node_sql(port, "SET GLOBAL wsrep_desync = OFF")
        wait_for(port, ("Primary", "Synced"))
