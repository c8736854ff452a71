"""Measure `postctl serve` against a bare Flask + SQLAlchemy Core app under the same uWSGI.

Loads N rows (default 100,000) into a MariaDB/MySQL or PostgreSQL database,
starts both servers side by side on loopback under the same uWSGI settings
(postctl serve's defaults), runs wrk against each in turn (random ids, 16
connections, 60 s by default: long enough that a worker recycle would show),
prints requests/s, latency percentiles and the ratio to the bare app, then
stops both. Targets: at least 0.9x the bare app's requests/s, p99 under 20 ms.
With --nginx, also `postctl serve --socket` behind deploy/nginx.conf (a real
nginx), against postctl serve direct.

    python bench/serve.py 'mysql+mysqldb://root@127.0.0.1:3306/postctl_bench?charset=utf8mb4'
    python bench/serve.py 'postgresql+psycopg://postgres@127.0.0.1:5432/postctl_bench'
    python bench/serve.py URL --nginx           # and through nginx, against direct
    python bench/serve.py URL --compare-modes   # the table behind serve.py's defaults
    python bench/serve.py --writes URL          # POST /post: see bench/serve_writes.py

Needs wrk (Debian: apt-get install wrk) and postctl installed with its
`mysql` (or `postgres`) and `serve` extras.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text

from postctl import db, queries, schema, serve

DEFAULT_URL = "mysql+mysqldb://root@127.0.0.1:3306/postctl_bench?charset=utf8mb4"
BATCH = 5000

BARE_APP = '''\
"""A bare Flask + SQLAlchemy Core app answering GET /post/<id>: the baseline."""
import os
from flask import Flask, abort, jsonify
from sqlalchemy import create_engine, text

# Made in the master before the fork, but it connects only in the workers.
engine = create_engine(os.environ["BENCH_DATABASE_URL"])
app = Flask(__name__)
QUERY = text("SELECT id, content, author_email, created_time FROM post WHERE id = :id")


@app.get("/post/<int:post_id>")
def post(post_id):
    with engine.connect() as conn:
        row = conn.execute(QUERY, {"id": post_id}).first()
    if row is None:
        abort(404)
    return jsonify(id=row.id, content=row.content, author_email=row.author_email,
                   created_time=row.created_time.isoformat())
'''

RANDOM_IDS_LUA = """\
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/post/" .. math.random(1, {rows}))
end
"""


@dataclasses.dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: str
    starved: int = 0  # keep-alive clients that got at most one answer in FAIRNESS_SECONDS


FAIRNESS_SECONDS = 3


def load_rows(url: str, rows: int) -> None:
    """Create the database if needed and make it hold exactly `rows` posts."""
    create_database(make_url(url))
    engine = db.make_engine(url, must_exist=False)
    try:
        with db.transaction(engine) as conn:
            present = queries.count_rows(conn)
    except db.DatabaseError:
        present = -1
    if present == rows:
        print(f"{db.mask_url(url)} already holds {rows} posts")
        return
    schema.reset_db(engine)
    start = datetime(2018, 1, 1)
    rng = random.Random(42)
    with db.transaction(engine) as conn:
        for first in range(1, rows + 1, BATCH):
            batch = [
                {
                    "id": i,
                    "content": f"Post {i} " + "lorem ipsum " * rng.randint(1, 20),
                    "author_email": f"user{i % 1000}@example.com",
                    "created_time": start + timedelta(minutes=i),
                }
                for i in range(first, min(first + BATCH, rows + 1))
            ]
            conn.execute(schema.post.insert(), batch)
    engine.dispose()
    print(f"loaded {rows} posts into {db.mask_url(url)}")


def create_database(parsed: URL) -> None:
    """Create the URL's database in UTF-8 unless it exists."""
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        server = create_engine(
            parsed.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with server.connect() as conn:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if conn.execute(query, {"name": parsed.database}).first() is None:
                conn.execute(text(f"CREATE DATABASE \"{parsed.database}\" ENCODING 'UTF8'"))
    else:
        server = create_engine(parsed.set(database=""))
        with server.connect() as conn:
            conn.execute(
                text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}` CHARACTER SET utf8mb4")
            )
    server.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """Run a uWSGI command until the block ends; wait until /post/1 answers; give its pid."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_until_up(port, proc)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server gracefully (SIGTERM), its whole process group if it takes over 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/post/1", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"server on port {port} did not answer within 30 s")


def run_wrk(name: str, port: int, args: argparse.Namespace, script: Path) -> Result:
    """Warm up, then run wrk for the measured duration and parse its summary."""
    base = ["wrk", "-t2", f"-c{args.connections}", "--latency", "-s", str(script)]
    url = f"http://127.0.0.1:{port}/"
    subprocess.run([*base, "-d2s", url], check=True, capture_output=True)
    out = subprocess.run(
        [*base, f"-d{args.duration}s", url], check=True, capture_output=True, text=True
    ).stdout
    # Read errors are the server closing connections in modes without keep-alive;
    # a non-2xx answer or a timeout would be a real failure.
    errors = re.search(r"Non-2xx or 3xx responses: \d+|timeout [1-9]\d*", out)
    return Result(
        name,
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        latency_ms(out, "50%"),
        latency_ms(out, "99%"),
        errors.group(0) if errors else "",
    )


def starved_clients(port: int, clients: int) -> int:
    """Count keep-alive clients that got at most one answer in FAIRNESS_SECONDS.

    wrk reports totals; a server that pins each kept-alive connection to one
    worker thread serves a few clients fast and leaves the rest waiting.
    """
    counts = [0] * clients
    end = time.monotonic() + FAIRNESS_SECONDS

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=FAIRNESS_SECONDS + 10)
        while time.monotonic() < end:
            try:
                conn.request("GET", "/post/1")
                conn.getresponse().read()
                counts[i] += 1
            except (OSError, http.client.HTTPException):
                conn.close()  # closed by the server (no keep-alive): the next request reconnects
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(1 for count in counts if count <= 1)


def latency_ms(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def print_table(results: list[Result], baseline: Result, starved: bool = False) -> None:
    extra_head = " starved clients |" if starved else ""
    print(f"\n| server | requests/s | p50 ms | p99 ms | vs {baseline.name} |{extra_head}")
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if starved else ""))
    for r in results:
        ratio = r.requests_per_s / baseline.requests_per_s
        extra = f" {r.starved} |" if starved else ""
        print(
            f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {ratio:.2f}x |{extra}"
        )


def side_by_side(args: argparse.Namespace, workdir: Path, script: Path) -> int:
    """Start the bare app and postctl serve together; load each in turn, `rounds` times."""
    uwsgi = serve.find_uwsgi()
    (workdir / "bare_app.py").write_text(BARE_APP)
    bare_port, postctl_port = free_port(), free_port()
    bare_options = serve.ServeOptions(port=bare_port, module="bare_app:app")
    bare_argv = [*serve.uwsgi_command(uwsgi, bare_options), "--pythonpath", str(workdir)]
    postctl_argv = [
        sys.executable, "-m", "postctl", "serve", "--port", str(postctl_port),
    ]  # fmt: skip
    env = {**os.environ, "BENCH_DATABASE_URL": args.url, "POSTCTL_DATABASE_URL": args.url}
    print("bare:    " + " ".join(bare_argv))
    print("postctl: " + " ".join(postctl_argv))
    names = ["bare Flask + Core", "postctl serve"]
    ports = [bare_port, postctl_port]
    with contextlib.ExitStack() as stack:
        stack.enter_context(server(bare_argv, env, bare_port))
        stack.enter_context(server(postctl_argv, env, postctl_port))
        if args.nginx:
            names.append("postctl serve --socket behind nginx")
            ports.append(stack.enter_context(behind_nginx(env)))
        runs: dict[str, list[Result]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name, port in zip(names, ports, strict=True):
                result = run_wrk(name, port, args, script)
                print(
                    f"  {name}: {result.requests_per_s:,.0f} req/s, "
                    f"p99 {result.p99_ms:.2f} ms {result.errors}",
                    flush=True,
                )
                runs[name].append(result)
    # Other load on the machine comes and goes: compare each round's pair, keep medians.
    ratios = [
        ours.requests_per_s / bare.requests_per_s
        for bare, ours in zip(runs[names[0]], runs[names[1]], strict=True)
    ]
    ratio = statistics.median(ratios)
    medians = [median_result(name, runs[name]) for name in names]
    print(
        f"\nmedian of {args.rounds} rounds (ratios per round: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + "):"
    )
    print_table(medians, medians[0])
    ours = medians[1]
    ok = ratio >= 0.9 and ours.p99_ms < 20
    print(
        f"\npostctl serve: {ratio:.2f}x the bare app (target >= 0.90x), "
        f"p99 {ours.p99_ms:.2f} ms (target < 20 ms): {'met' if ok else 'NOT met'}"
    )
    if args.nginx:
        via = statistics.median(
            n.requests_per_s / d.requests_per_s
            for d, n in zip(runs[names[1]], runs[names[2]], strict=True)
        )
        print(f"through nginx: {via:.2f}x postctl serve direct, p99 {medians[2].p99_ms:.2f} ms")
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0 if ok else 1


@contextmanager
def behind_nginx(env: dict[str, str]) -> Iterator[int]:
    """Run `postctl serve --socket` behind a real nginx on deploy/nginx.conf; yield nginx's port."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests import nginx  # the tests' runner of deploy/nginx.conf

    shared = nginx.shared_dir()
    sock = shared / "app.sock"
    argv = [sys.executable, "-m", "postctl", "serve", "--socket", str(sock)]
    print("nginx:   " + " ".join(argv) + " behind nginx on deploy/nginx.conf")
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        with nginx.running([f"unix:{sock}"], shared) as port:
            wait_until_up(port, proc)
            yield port
    finally:
        stop(proc)
        shutil.rmtree(shared, ignore_errors=True)


def median_result(name: str, results: list[Result]) -> Result:
    """The median of each measure over the rounds."""
    return Result(
        name,
        statistics.median(r.requests_per_s for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        " ".join(r.errors for r in results if r.errors),
    )


MODES = [
    ("--http, 2x8", {"http_mode": "http", "threads": 8}),
    ("--http, 2x4", {"http_mode": "http", "threads": 4}),
    ("--http, 2x2", {"http_mode": "http", "threads": 2}),
    ("--http --http-keepalive, 2x2", {"http_mode": "http-keepalive", "threads": 2}),
    ("--http-socket, 2x2", {"http_mode": "http-socket", "threads": 2}),
    ("--http11-socket, 2x2", {"http_mode": "http11-socket", "threads": 2}),
    ("--http --http-keepalive, 2x1", {"http_mode": "http-keepalive", "threads": 1}),
    ("--http --http-keepalive, 2x4", {"http_mode": "http-keepalive", "threads": 4}),
    ("--http-socket, 2x4", {"http_mode": "http-socket", "threads": 4}),
    ("--http-socket, 4x1", {"http_mode": "http-socket", "processes": 4, "threads": 1}),
]


def compare_modes(args: argparse.Namespace, script: Path) -> int:
    """Run postctl's app under each uWSGI mode, `rounds` times interleaved; keep the median."""
    uwsgi = serve.find_uwsgi()
    env = {**os.environ, "POSTCTL_DATABASE_URL": args.url}
    modes = MODES[: args.modes]
    runs: dict[str, list[Result]] = {label: [] for label, _ in modes}
    for _ in range(args.rounds):
        for label, changes in modes:
            port = free_port()
            options = dataclasses.replace(serve.ServeOptions(port=port), **changes)
            with server(serve.uwsgi_command(uwsgi, options), env, port):
                result = run_wrk(label, port, args, script)
                result.starved = starved_clients(port, args.connections)
            print(
                f"  {label}: {result.requests_per_s:,.0f} req/s, p99 {result.p99_ms:.2f} ms, "
                f"{result.starved} of {args.connections} keep-alive clients starved "
                f"{result.errors}"
            )
            runs[label].append(result)
    medians = [median_result(label, results) for label, results in runs.items()]
    for median, results in zip(medians, runs.values(), strict=True):
        median.starved = max(r.starved for r in results)
    print(f"\nmedian of {args.rounds} rounds:")
    print_table(medians, medians[0], starved=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help="database URL to fill")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs; medians kept")
    parser.add_argument("--nginx", action="store_true", help="also through nginx (--socket)")
    parser.add_argument("--compare-modes", action="store_true", help="compare uWSGI modes")
    parser.add_argument("--modes", type=int, default=len(MODES), help="only the first N modes")
    parser.add_argument(
        "--writes", action="store_true", help="measure POST /post instead (bench/serve_writes.py)"
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, through the blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    if shutil.which("wrk") is None:
        sys.exit("wrk not found; install it (Debian: apt-get install wrk)")
    if args.writes:
        import serve_writes  # beside this file

        return serve_writes.run(args)
    load_rows(args.url, args.rows)
    with tempfile.TemporaryDirectory(prefix="postctl-bench-") as tmp:
        script = Path(tmp) / "random_ids.lua"
        script.write_text(RANDOM_IDS_LUA.format(rows=args.rows))
        if args.compare_modes:
            return compare_modes(args, script)
        return side_by_side(args, Path(tmp), script)


if __name__ == "__main__":
    sys.exit(main())
