"""postctl on a three-node MariaDB Galera cluster: the load against LOAD DATA, memory, reads/s.

    python bench/galera.py                  # 1,000,000 rows, starts its own cluster
    python bench/galera.py --rows 2000 --seconds 3   # a quick check that it all still works

Starts a cluster with scripts/galera-cluster (the tests' settings) and times, into
node 1, `postctl load-fixtures` (which streams its write set in fragments of
postctl.galera.FRAGMENT_ROWS rows) against the mariadb client's native
`LOAD DATA LOCAL INFILE` in a session fragmented the same way; --repeat runs each,
interleaved, median shown. Peak RSS: postctl's (GNU time's %M) and each mariadbd's
(VmRSS sampled every 0.2 s during the load). Then one `postctl serve` per node and wrk:
reads/s against node 1's server alone, then against all three at once (the same total
connections, split), with POSTCTL_WSREP_SYNC_WAIT=0 and =1 (the cost of causal reads).
Prints the load average with the figures. Not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import load  # noqa: E402 - bench/load.py, next to this script

from postctl.galera import FRAGMENT_ROWS  # noqa: E402

SCRIPT = REPO / "scripts" / "galera-cluster"
DATABASE = "postctl_bench"
LUA = 'request = function() return wrk.format("GET", "/post/" .. math.random(1, {rows})) end\n'


def main() -> None:
    args = parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    with cluster(args.cluster) as root:
        layout = json.loads((root / "cluster.json").read_text())
        ports = [n["port"] for n in layout["nodes"]]
        urls = [f"mysql+mysqldb://root@127.0.0.1:{p}/{DATABASE}?charset=utf8mb4" for p in ports]
        pids = [int((root / f"node{n}" / "mariadbd.pid").read_text()) for n in (1, 2, 3)]
        subprocess.run(
            ["mariadb", "-uroot", "-h127.0.0.1", f"-P{ports[0]}", "-e",
             f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4"],
            check=True,
        )  # fmt: skip
        csv_file = load.fixture(Path(args.out), args.rows)
        env = {**os.environ, "POSTCTL_DATABASE_URL": urls[0]}
        native_cmd = native_command(urls[0], csv_file)
        runs: dict[str, list[load.Run]] = {"native": [], "postctl": []}
        peaks: dict[str, list[int]] = {"native": [0, 0, 0], "postctl": [0, 0, 0]}
        for _ in range(args.repeat):
            for name, command in (
                ("native", native_cmd),
                ("postctl", load.postctl_command(csv_file)),
            ):
                with rss_peaks(pids) as peak:
                    runs[name].append(load.timed(name, args.rows, command, env, urls[0]))
                peaks[name] = [max(a, b) for a, b in zip(peaks[name], peak, strict=True)]
        native, mine = (load.median(runs[k]) for k in ("native", "postctl"))
        print(f"\n{args.rows:,} rows into node 1, fragments of {FRAGMENT_ROWS:,} rows, "
              f"median of {args.repeat}:")  # fmt: skip
        for name, run in (("native LOAD DATA LOCAL", native), ("postctl load-fixtures", mine)):
            mb = ", ".join(f"node{n} {kb / 1024:.0f} MB" for n, kb in enumerate(peaks[
                "native" if run is native else "postctl"], 1))  # fmt: skip
            print(f"  {name:24} {run.seconds:7.2f} s  {run.rows / run.seconds:9,.0f} rows/s  "
                  f"client max RSS {run.rss_mb:5.0f} MB  mariadbd peak RSS: {mb}")  # fmt: skip
        print(f"  ratio postctl/native: {mine.seconds / native.seconds:.2f}x")
        print(f"load average after load: {Path('/proc/loadavg').read_text().strip()}")
        reads(urls, args)
    print(f"load average at the end: {Path('/proc/loadavg').read_text().strip()}")


def native_command(url: str, csv_file: Path) -> list[str]:
    """bench/load.py's mariadb client LOAD DATA, in a session that streams like postctl's."""
    command = load.native_command(url, csv_file)
    stream = (
        f"SET SESSION wsrep_trx_fragment_unit = 'rows'; "
        f"SET SESSION wsrep_trx_fragment_size = {FRAGMENT_ROWS}; "
    )
    return [*command[:-1], stream + command[-1]]


@contextmanager
def cluster(given: str | None) -> Iterator[Path]:
    if given:
        yield Path(given)
        return
    root = Path(tempfile.mkdtemp(prefix="postctl-galera-bench-"))
    subprocess.run([sys.executable, str(SCRIPT), "start", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "remove", str(root)], check=False)


@contextmanager
def rss_peaks(pids: list[int]) -> Iterator[list[int]]:
    """Sample each pid's VmRSS (kB) every 0.2 s during the block; the list holds the peaks."""
    peaks = [0] * len(pids)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for i, pid in enumerate(pids):
                text = Path(f"/proc/{pid}/status").read_text()
                found = re.search(r"VmRSS:\s+(\d+)", text)
                peaks[i] = max(peaks[i], int(found.group(1)) if found else 0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


def reads(urls: list[str], args: argparse.Namespace) -> None:
    """Reads/s: node 1's server alone, then all three at once, without and with causal reads."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(LUA.format(rows=args.rows))
    for sync_wait in ("0", "1"):
        env = {**os.environ, "POSTCTL_WSREP_SYNC_WAIT": sync_wait}
        with ExitStack() as stack:
            ports = [stack.enter_context(serve(url, env)) for url in urls]
            one = wrk([ports[0]], args.connections, args.seconds, script)
            three = wrk(ports, args.connections, args.seconds, script)
        print(f"reads/s (wsrep_sync_wait={sync_wait}, {args.connections} connections, "
              f"{args.seconds} s): one node {one:,.0f}, three nodes {three:,.0f} "
              f"({three / one:.2f}x)")  # fmt: skip
    script.unlink()


@contextmanager
def serve(url: str, env: dict[str, str]) -> Iterator[int]:
    port = load_free_port()
    argv = [sys.executable, "-m", "postctl", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        argv, env={**env, "POSTCTL_DATABASE_URL": url}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/readyz"],
                             capture_output=True).returncode != 0:  # fmt: skip
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"postctl serve on {port} did not come up")
            time.sleep(0.3)
        yield port
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def load_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(ports: list[int], connections: int, seconds: int, script: Path) -> float:
    """Run one wrk per port at once, the connections split; return the summed requests/s."""
    each = max(1, connections // len(ports))
    procs = []
    for port in ports:
        argv = ["wrk", "-t1", f"-c{each}", f"-d{seconds}s", "-s", str(script)]
        url = f"http://127.0.0.1:{port}"
        procs.append(subprocess.Popen([*argv, url], stdout=subprocess.PIPE, text=True))
    total = 0.0
    for proc in procs:
        out = proc.communicate()[0]
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if found is None or bad is not None:
            raise SystemExit(f"wrk failed or saw errors:\n{out}")
        total += float(found.group(1))
    return total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="posts to load")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each loader (median)")
    parser.add_argument("--cluster", help="a running scripts/galera-cluster DIR (default: own)")
    parser.add_argument("--out", default=str(HERE / "out"), help="where the CSV goes")
    parser.add_argument("--connections", type=int, default=12, help="wrk connections in all")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run's length")
    return parser.parse_args()


if __name__ == "__main__":
    main()
