"""MariaDB Galera: the node's wsrep state, when to refuse, and the session settings postctl uses.

A node of a Galera cluster is a MariaDB server with `wsrep_on`. postctl asks it
three things: whether it is in the primary component and Synced (destructive
commands refuse otherwise, and /readyz says 503), that a long load stream its
write set in fragments (streaming replication), and, where a read must see a
write made through another node, that the read wait for the cluster
(`wsrep_sync_wait`). Pure SQL through a Connection; nothing here imports a driver.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from postctl import db
from postctl.errors import ConfigError, DatabaseError

# Streaming replication: the loading session replicates its write set in fragments
# of this many rows, so that no node holds a whole 1,000,000-row write set in memory.
FRAGMENT_ROWS = 10_000
SYNC_WAIT_VAR = "POSTCTL_WSREP_SYNC_WAIT"
# wsrep_sync_wait is a bit mask; 1 makes reads (SELECT, SHOW) wait for causality.
SYNC_WAIT_MAX = 15
# Certification failures (1213) are retried in db.write (WRITE_ATTEMPTS), as deadlocks are;
# error 1047 (a node out of the primary component) gets its hint in hints.py.

_STATUS = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', "
    "'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_ready')"
)


@dataclass(frozen=True)
class NodeState:
    """A Galera node's view of its cluster."""

    cluster_size: int
    cluster_status: str  # Primary, non-Primary or Disconnected
    local_state: str  # Synced, Donor/Desynced, Joining, Joined, ...
    ready: bool

    @property
    def answers(self) -> bool:
        """Tell whether the node answers queries (in the primary component, ready)."""
        return self.cluster_status == "Primary" and self.ready

    @property
    def usable(self) -> bool:
        """Tell whether the node is in the primary component, Synced and ready for queries."""
        return self.cluster_status == "Primary" and self.local_state == "Synced" and self.ready

    def describe(self) -> str:
        return (
            f"Galera node: cluster size {self.cluster_size}, {self.cluster_status}, "
            f"{self.local_state}"
        )


def probe(engine: Engine) -> NodeState | None:
    """Read a MySQL/MariaDB server's wsrep state on a connection of its own, outside the pool.

    On a node out of the primary component every statement but SHOW and SET fails
    with 1047, ROLLBACK included, and the pool rolls back each connection it
    makes or takes back: its connections cannot even ask.
    """
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    cparams.setdefault("connect_timeout", db.CONNECT_TIMEOUT)
    dbapi = engine.dialect.loaded_dbapi
    try:
        raw = engine.dialect.connect(*cargs, **cparams)
        try:
            cursor = raw.cursor()
            cursor.execute("SHOW SESSION VARIABLES LIKE 'wsrep_on'")
            row = cursor.fetchone()
            if row is None or str(row[1]).upper() != "ON":
                return None
            cursor.execute(_STATUS)
            return _state(cursor.fetchall())
        finally:
            raw.close()
    except dbapi.Error as err:
        wrapped = sa_exc.DBAPIError(_STATUS, None, err)
        raise DatabaseError(db.describe_error(engine, wrapped)) from None


def _state(rows: Any) -> NodeState:
    status = {str(k): str(v) for k, v in rows}
    return NodeState(
        cluster_size=int(status.get("wsrep_cluster_size") or 0),
        cluster_status=status.get("wsrep_cluster_status", "Disconnected"),
        local_state=status.get("wsrep_local_state_comment", "unknown"),
        ready=status.get("wsrep_ready", "OFF").upper() == "ON",
    )


def wsrep_on(conn: Connection) -> bool:
    """Tell whether this MySQL/MariaDB session replicates through Galera."""
    row = conn.execute(text("SHOW SESSION VARIABLES LIKE 'wsrep_on'")).first()
    return row is not None and str(row[1]).upper() == "ON"


def node_state(conn: Connection) -> NodeState | None:
    """Return the node's wsrep state, or None when the server is not a Galera node."""
    if not wsrep_on(conn):
        return None
    return _state(conn.execute(text(_STATUS)).all())


def refusal(state: NodeState | None, action: str) -> str | None:
    """Say why a destructive command must not run on this node; None when it may."""
    if state is None or state.usable:
        return None
    where = (
        "is not in the cluster's primary component"
        if state.cluster_status != "Primary"
        else (f"is {state.local_state}, not Synced")
    )
    return (
        f"{action}: this Galera node {where} ({state.describe()}); "
        "run it through a Synced node of the primary component, or wait until "
        "`postctl check` reports this one Synced"
    )


def stream_writes(conn: Connection) -> bool:
    """Replicate this session's transactions in fragments of FRAGMENT_ROWS rows, on Galera.

    Return whether the session is on Galera (and now streaming)."""
    if not wsrep_on(conn):
        return False
    conn.execute(text("SET SESSION wsrep_trx_fragment_unit = 'rows'"))
    conn.execute(text(f"SET SESSION wsrep_trx_fragment_size = {FRAGMENT_ROWS}"))
    return True


def sync_wait_setting(environ: dict[str, str] | None = None) -> int:
    """Read POSTCTL_WSREP_SYNC_WAIT: the wsrep_sync_wait mask for web reads (default 0)."""
    value = (os.environ if environ is None else environ).get(SYNC_WAIT_VAR, "").strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()) or int(value) > SYNC_WAIT_MAX:
        raise ConfigError(
            f"must be a wsrep_sync_wait mask from 0 to {SYNC_WAIT_MAX} "
            f"(1: reads wait for every write the cluster has committed), not {value!r}",
            SYNC_WAIT_VAR,
        )
    return int(value)


def set_sync_wait(conn: Connection, mask: int) -> None:
    """Make this session's reads wait until the node has applied the cluster's writes."""
    conn.execute(text(f"SET SESSION wsrep_sync_wait = {int(mask)}"))
