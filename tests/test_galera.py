"""postctl's promises on a three-node MariaDB Galera cluster (pytest -m galera).

One cluster serves the whole session (tests/galera.py); each test starts from a
database reset through node 1. Data stays small: the 1,000,000-row runs are in
bench/galera.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text

from postctl import tokens
from postctl.cli import cli
from postctl.galera import FRAGMENT_ROWS, SYNC_WAIT_VAR
from tests import servers
from tests.apiserver import request, serving
from tests.conftest import CONFIG_VARS, REPO, write_csv
from tests.galera import Cluster, desynced, isolated, node_engine, node_sql, status

pytestmark = pytest.mark.galera

HEADER = "id,content,author_email,created_time\n"
BIG = 100_000  # rows: ten fragments of streaming replication
SERVE_ARGS = ("--processes", "1", "--threads", "4")  # one per node: keep three light


def run(url: str, *args: str) -> Result:
    environ: dict[str, str | None] = dict.fromkeys(CONFIG_VARS)
    environ["POSTCTL_DATABASE_URL"] = url
    return CliRunner().invoke(cli, list(args), env=environ, prog_name="postctl")


# Reads of a node are causal unless asked otherwise: a write through another node
# returns before this one has applied it.
def rows(url: str, causal: bool = True) -> list[tuple[object, ...]]:
    with node_engine(url, causal) as eng, eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM post ORDER BY id"))]


def count(url: str) -> int:
    with node_engine(url, causal=True) as eng, eng.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM post")).scalar_one())


def streaming_log(url: str) -> int:
    """How many streamed fragments the node keeps (of transactions not yet ended)."""
    with node_engine(url) as eng, eng.connect() as conn:
        found = conn.execute(text("SELECT COUNT(*) FROM mysql.wsrep_streaming_log"))
        return int(found.scalar_one())


def eventually(condition: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll until the condition holds (True) or the seconds are over (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def replicated(url: str) -> int:
    """How many write sets the node has replicated (each streamed fragment is one)."""
    with node_engine(url) as eng, eng.connect() as conn:
        return int(status(conn, "wsrep_replicated"))


def big_csv(directory: Path, bad_line: int | None = None) -> Path:
    """A BIG-row fixture; with bad_line, that line's email is invalid."""
    lines = [HEADER]
    for i in range(1, BIG + 1):
        email = "not an email" if i + 1 == bad_line else f"u{i}@example.com"
        lines.append(f"{i},post number {i},{email},2020-01-01 00:00:00\n")
    return write_csv(directory, "".join(lines))


def test_reset_db_through_node_1_creates_the_tables_on_every_node(galera_nodes: list[str]) -> None:
    first = galera_nodes[0]
    assert run(first, "load-fixtures", "--quiet", str(REPO / "fixtures")).exit_code == 0
    result = run(first, "reset-db", "--yes")
    assert result.exit_code == 0, result.output
    for url in galera_nodes:
        with node_engine(url, causal=True) as eng, eng.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert {"post", "idempotency_key", "api_token", "postctl_metadata"} <= tables, url
            assert conn.execute(text("SELECT * FROM post")).all() == [], url


def test_reset_db_aborts_an_open_transaction_on_another_node(galera_nodes: list[str]) -> None:
    """Galera's DDL runs in total order: it does not wait for the other session's lock (no
    5 s bound, no blocking-session report) but aborts that session's transaction."""
    first, second, _ = galera_nodes
    with node_engine(second) as eng, eng.connect() as conn:
        conn.execute(text("BEGIN"))
        conn.execute(text("INSERT INTO post (content, author_email) VALUES ('open', 'a@b.c')"))
        result = run(first, "reset-db", "--yes")
        assert result.exit_code == 0, result.output
        with pytest.raises(sa_exc.OperationalError) as aborted:
            conn.execute(text("COMMIT"))
        assert aborted.value.orig.args[0] == 1213, aborted.value  # type: ignore[union-attr]
    for url in galera_nodes:
        assert rows(url) == [], url


def test_load_streams_fragments_and_every_node_has_the_rows(
    galera_nodes: list[str], tmp_path: Path
) -> None:
    first = galera_nodes[0]
    path = big_csv(tmp_path)
    before = replicated(first)
    result = run(first, "load-fixtures", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    # One write set per FRAGMENT_ROWS rows (and the commit), not one for the whole load.
    assert replicated(first) - before >= BIG // FRAGMENT_ROWS
    for url in galera_nodes:  # read at once, no wait: Galera commits on every node together
        assert count(url) == BIG, url


def test_a_bad_row_near_the_end_leaves_every_node_as_it_was(
    galera_nodes: list[str], tmp_path: Path
) -> None:
    first = galera_nodes[0]
    assert run(first, "load-fixtures", "--quiet", str(REPO / "fixtures")).exit_code == 0
    before_rows = rows(first)
    path = big_csv(tmp_path, bad_line=BIG - 5)
    before = replicated(first)
    result = run(first, "load-fixtures", "--replace", "--yes", "--quiet", str(path))
    assert result.exit_code == 1, result.output
    assert result.output == (
        "Error: cannot load fixtures, nothing was loaded:\n"
        f"  {path}:{BIG - 5}: column author_email: not an email address of the form "
        "local@domain (value 'not an email')\n"
    )
    # The rows before the bad one went out to the other nodes, fragment by fragment,
    # and were rolled back there too.
    assert replicated(first) - before >= (BIG - 10) // FRAGMENT_ROWS
    for url in galera_nodes:
        assert rows(url) == before_rows, url
        assert eventually(lambda u=url: streaming_log(u) == 0), url  # no fragment left behind


def test_dump_from_node_3_is_byte_identical_to_node_1(
    galera_nodes: list[str], tmp_path: Path
) -> None:
    first, _, third = galera_nodes
    assert run(first, "load-fixtures", "--quiet", str(REPO / "fixtures")).exit_code == 0
    for n, url in ((1, first), (3, third)):
        result = run(url, "dump-fixtures", "--quiet", str(tmp_path / f"node{n}"))
        assert result.exit_code == 0, result.output
    dumped = (tmp_path / "node1" / "posts.csv").read_bytes()
    assert (tmp_path / "node3" / "posts.csv").read_bytes() == dumped
    assert dumped.count(b"\n") >= 6


def test_check_reports_the_cluster(galera_nodes: list[str]) -> None:
    second = galera_nodes[1]
    result = run(second, "check")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"database: {second}\n"
        "environment: not set (postctl environment set NAME marks it)\n"
        "ok: Galera: wsrep on, cluster size 3, Primary, Synced\n"
        "ok: table post matches the model\n"
        "ok: strict SQL mode is on\n"
        "ok: the connection uses utf8mb4\n"
        "rows: post 0\n"
    )


def test_a_node_out_of_the_primary_component_refuses(
    galera_cluster: Cluster, galera_nodes: list[str]
) -> None:
    third = galera_nodes[2]
    with isolated(galera_cluster, 3):
        result = run(third, "check")
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"database: {third}\n"
            "environment: unknown (the node answers no query)\n"
            "problem: Galera: wsrep on, cluster size 1, non-Primary, Initialized: this node is "
            "not a Synced member of the primary component; reset-db and load-fixtures "
            "--replace/--upsert refuse here. Use another node, or wait until it has rejoined "
            "(its error log says why it left)\n"
            f"Error: 1 problem(s) found in {third}\n"
        )
        result = run(third, "reset-db", "--yes")
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"Error: refusing to reset {third}: this Galera node is not in the cluster's "
            "primary component (Galera node: cluster size 1, non-Primary, Initialized); run it "
            "through a Synced node of the primary component, or wait until `postctl check` "
            "reports this one Synced\n"
        )
        # Not destructive, so not refused first: the server's 1047, with what to do.
        result = run(third, "show-post", "1")
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"Error: {third}: WSREP has not yet prepared node for application use; this Galera "
            "node is not in the cluster's primary component or not ready; use another node, or "
            "wait until `postctl check` reports it Synced\n"
        )
    assert run(third, "check").exit_code == 0  # back, and Synced


def test_a_node_not_synced_refuses_destructive_commands(
    galera_cluster: Cluster, galera_nodes: list[str], tmp_path: Path
) -> None:
    second = galera_nodes[1]
    with serving(second, tmp_path / "serve.log", *SERVE_ARGS) as port, desynced(galera_cluster, 2):
        assert request(port, "GET", "/readyz")[0] == 503  # out of rotation while not Synced
        fixtures = str(REPO / "fixtures")
        for args, action in (
            (("reset-db", "--yes"), f"refusing to reset {second}"),
            (
                ("load-fixtures", "--replace", "--yes", fixtures),
                f"refusing to replace post in {second}",
            ),
            (("load-fixtures", "--upsert", fixtures), f"refusing to upsert into post in {second}"),
        ):
            result = run(second, *args)
            assert result.exit_code == 1, result.output
            assert result.output == (
                f"Error: {action}: this Galera node is Donor/Desynced, not Synced (Galera node: "
                "cluster size 3, Primary, Donor/Desynced); run it through a Synced node of the "
                "primary component, or wait until `postctl check` reports this one Synced\n"
            )
        assert rows(second, causal=False) == []  # a Desynced node: no waiting on it
    with serving(second, tmp_path / "serve2.log", *SERVE_ARGS) as port:
        assert request(port, "GET", "/readyz")[0] == 200


# --- serve: one `postctl serve` per node, polled directly ---------------------------------


@contextmanager
def three_servers(nodes: list[str], logs: Path) -> Iterator[list[int]]:
    """One `postctl serve` per node, causal reads on; yield their ports."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(serving(url, logs / f"serve{n}.log", *SERVE_ARGS))
            for n, url in enumerate(nodes, 1)
        ]


def new_token(url: str) -> str:
    with node_engine(url) as eng, eng.begin() as conn:
        return tokens.create(conn, "galera", tokens.DEFAULT_EXPIRY)[0]


def post(port: int, token: str, content: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    body = json.dumps({"content": content, "author_email": "g@example.com"}).encode()
    status_code, _, answer = request(port, "POST", "/post", body, headers)
    return status_code, answer


def test_a_read_on_any_node_sees_a_write_made_on_another(
    galera_nodes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_WAIT_VAR, "1")
    token = new_token(galera_nodes[0])
    before = sum(causal_reads(url) for url in galera_nodes)
    with three_servers(galera_nodes, tmp_path) as ports:
        for i in range(30):
            writer = ports[i % 3]
            status_code, body = post(writer, token, f"causal {i}")
            assert status_code == 201, body
            created = json.loads(body)
            for reader in ports:
                if reader != writer:
                    got = request(reader, "GET", f"/post/{created['id']}")
                    assert (got[0], json.loads(got[2])) == (200, created), (i, reader)
    # Each of the 60 reads waited for its node to catch up with the cluster (and the
    # writes' own reads too): the setting reached the web sessions.
    assert sum(causal_reads(url) for url in galera_nodes) - before >= 60


def causal_reads(url: str) -> int:
    with node_engine(url) as eng, eng.connect() as conn:
        return int(status(conn, "wsrep_causal_reads"))


def test_concurrent_posts_through_two_nodes_are_retried_not_lost(
    galera_nodes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New rows through both nodes, and the same rows (one Idempotency-Key sent to both):
    certification failures (1213) are retried, so no 5xx, no lost post, no duplicate."""
    monkeypatch.setenv(SYNC_WAIT_VAR, "1")
    token = new_token(galera_nodes[0])
    rounds = 40
    before = sum(conflicts(url) for url in galera_nodes)
    with three_servers(galera_nodes[:2], tmp_path) as ports:

        def client(n: int) -> list[tuple[str, int, bytes]]:
            out = []
            for i in range(rounds):
                new = f"new {n}-{i}"
                out.append((new, *post(ports[n], token, new)))
                same = f"same {i}"
                out.append((same, *post(ports[n], token, same, key=f"key-{i}")))
            return out

        with ThreadPoolExecutor(2) as pool:
            answers = [a for part in pool.map(client, (0, 1)) for a in part]
    assert [a for a in answers if a[1] not in (201, 409)] == []
    stored = [str(r[1]) for r in rows(galera_nodes[0])]
    created = {json.loads(body)["content"] for _, code, body in answers if code == 201}
    # Every new post once; each same post once, whether answered 201 twice (a replay) or
    # once and 409 (the other node's request still running).
    expected = [f"new {n}-{i}" for n in (0, 1) for i in range(rounds)]
    expected += [f"same {i}" for i in range(rounds)]
    assert sorted(stored) == sorted(expected)
    assert created <= set(expected)
    for url in galera_nodes[1:]:
        assert [str(r[1]) for r in rows(url)] == [str(r[1]) for r in rows(galera_nodes[0])]
    print("certification failures and aborts:", sum(conflicts(u) for u in galera_nodes) - before)


def conflicts(url: str) -> int:
    with node_engine(url) as eng, eng.connect() as conn:
        return int(status(conn, "wsrep_local_cert_failures")) + int(
            status(conn, "wsrep_local_bf_aborts")
        )


def test_a_killed_node_leaves_the_others_serving_and_rejoins(
    galera_cluster: Cluster, galera_nodes: list[str], tmp_path: Path
) -> None:
    first = galera_nodes[0]
    assert run(first, "load-fixtures", "--quiet", str(REPO / "fixtures")).exit_code == 0
    with three_servers(galera_nodes, tmp_path) as ports:
        dead, alive = ports[2], ports[:2]
        code, _, request_ok_body = request(alive[0], "GET", "/post/1")
        assert code == 200
        stop = threading.Event()
        answers: list[tuple[int, bytes]] = []

        def load(port: int) -> None:
            for _ in range(5000):  # bounded: 5,000 reads each at most, or until told
                if stop.is_set():
                    return
                code, _, body = request(port, "GET", "/post/1")
                answers.append((code, body))

        uwsgi_pid = _listener_pid(dead)
        with ThreadPoolExecutor(2) as pool:
            loads = [pool.submit(load, port) for port in alive]
            time.sleep(0.5)
            galera_cluster.kill(3)
            assert request(dead, "GET", "/readyz")[0] == 503
            # Read on through the cluster's reconfiguration: until the others have
            # declared node 3 gone (a few seconds: Galera's suspect timeout).
            assert eventually(lambda: cluster_size(first) == 2)
            time.sleep(0.5)
            stop.set()
            for f in loads:
                f.result()
        assert len(answers) > 10
        assert set(answers) == {(200, request_ok_body)}
        assert request(dead, "GET", "/post/1")[0] == 503
        galera_cluster.restart(3)  # rejoins by IST, waited for until Synced
        assert "node3 Primary Synced size=3" in galera_cluster.status()
        assert request(dead, "GET", "/readyz")[0] == 200
        assert request(dead, "GET", "/post/1")[2] == request_ok_body
        assert _listener_pid(dead) == uwsgi_pid  # the same uWSGI, never restarted
    assert "IST received" in (galera_cluster.root / "node3" / "error.log").read_text()


def cluster_size(url: str) -> int:
    with node_engine(url) as eng, eng.connect() as conn:
        return int(status(conn, "wsrep_cluster_size"))


def _listener_pid(port: int) -> int:
    """The pid of the process listening on the port (uWSGI's master)."""
    found = servers.run(["ss", "-Hltnp", f"sport = :{port}"], timeout=10, text=True)
    match = re.search(r"pid=(\d+)", str(found.stdout))
    assert match, found.stdout
    return int(match.group(1))


def test_the_insert_path_streams_too(
    galera_cluster: Cluster, galera_nodes: list[str], tmp_path: Path
) -> None:
    """Where the server forbids LOAD DATA LOCAL, postctl's INSERTs (each batch in a
    savepoint) stream in fragments as well, and a bad row still loads nothing anywhere."""
    first = galera_nodes[0]
    port = galera_cluster.ports[0]
    node_sql(port, "SET GLOBAL local_infile = 0")
    try:
        before = replicated(first)
        result = run(first, "load-fixtures", str(big_csv(tmp_path)))
        assert result.exit_code == 0, result.output
        assert f"Loaded {BIG} rows into post" in result.stderr
        assert replicated(first) - before >= BIG // FRAGMENT_ROWS
        for url in galera_nodes:
            assert count(url) == BIG, url
        (tmp_path / "bad").mkdir()
        bad = big_csv(tmp_path / "bad", bad_line=BIG - 5)
        result = run(first, "load-fixtures", "--replace", "--yes", "--quiet", str(bad))
        assert result.exit_code == 1, result.output
        for url in galera_nodes:
            assert count(url) == BIG, url
    finally:
        node_sql(port, "SET GLOBAL local_infile = 1")
