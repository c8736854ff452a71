"""Measure `postctl serve` against a bare Flask + SQLAlchemy Core app under the same uWSGI.

Loads N rows (default 100,000) into a MariaDB/MySQL database, starts both
servers side by side on loopback, runs wrk against each in turn (random ids,
16 connections, a bounded duration), prints requests/s, latency percentiles
and the ratio to the bare app, then stops both. Targets: at least 0.9x the
bare app's requests/s, p99 under 20 ms.

    python bench/serve.py 'mysql+mysqldb://root@127.0.0.1:3306/postctl_bench?charset=utf8mb4'
    python bench/serve.py URL --compare-modes   # the table behind serve.py's defaults

Needs wrk (Debian: apt-get install wrk) and postctl installed with its
`mysql` and `serve` extras.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from postctl import db, serve

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


def load_rows(url: str, rows: int) -> None:
    """Create the database if needed and make it hold exactly `rows` posts."""
    parsed = make_url(url)
    server = create_engine(parsed.set(database=""))
    with server.connect() as conn:
        conn.execute(
            text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}` CHARACTER SET utf8mb4")
        )
    server.dispose()
    engine = db.make_engine(url, must_exist=False)
    try:
        with db.transaction(engine) as conn:
            present = db.count_rows(conn)
    except db.DatabaseError:
        present = -1
    if present == rows:
        print(f"{db.mask_url(url)} already holds {rows} posts")
        return
    db.reset_db(engine)
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
            conn.execute(db.post.insert(), batch)
    engine.dispose()
    print(f"loaded {rows} posts into {db.mask_url(url)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    """Run a uWSGI command until the block ends; wait until /post/1 answers."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_until_up(port, proc)
        yield
    finally:
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
    errors = re.search(r"Socket errors:.*|Non-2xx or 3xx responses: \d+", out)
    return Result(
        name,
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        latency_ms(out, "50%"),
        latency_ms(out, "99%"),
        errors.group(0) if errors else "",
    )


def latency_ms(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def print_table(results: list[Result], baseline: Result) -> None:
    print(f"\n| server | requests/s | p50 ms | p99 ms | vs {baseline.name} |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        ratio = r.requests_per_s / baseline.requests_per_s
        extra = f" ({r.errors})" if r.errors else ""
        print(
            f"| {r.name}{extra} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {ratio:.2f}x |"
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
    best: dict[str, Result] = {}
    with server(bare_argv, env, bare_port), server(postctl_argv, env, postctl_port):
        for _ in range(args.rounds):
            for name, port in (("bare Flask + Core", bare_port), ("postctl serve", postctl_port)):
                result = run_wrk(name, port, args, script)
                print(f"  {name}: {result.requests_per_s:,.0f} req/s, p99 {result.p99_ms:.2f} ms")
                if name not in best or result.requests_per_s > best[name].requests_per_s:
                    best[name] = result
    bare, ours = best["bare Flask + Core"], best["postctl serve"]
    print_table([bare, ours], bare)
    ratio = ours.requests_per_s / bare.requests_per_s
    ok = ratio >= 0.9 and ours.p99_ms < 20
    print(
        f"\npostctl serve: {ratio:.2f}x the bare app (target >= 0.90x), "
        f"p99 {ours.p99_ms:.2f} ms (target < 20 ms): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


MODES = [
    ("--http, 2x2", {"http_mode": "http"}),
    ("--http --http-keepalive, 2x2", {"http_mode": "http-keepalive"}),
    ("--http-socket, 2x2", {"http_mode": "http-socket"}),
    ("--http11-socket, 2x2", {"http_mode": "http11-socket"}),
    ("--http11-socket, 2x1", {"http_mode": "http11-socket", "threads": 1}),
    ("--http11-socket, 2x4", {"http_mode": "http11-socket", "threads": 4}),
    ("--http11-socket, 4x1", {"http_mode": "http11-socket", "processes": 4, "threads": 1}),
    ("--http11-socket, 4x2", {"http_mode": "http11-socket", "processes": 4, "threads": 2}),
]


def compare_modes(args: argparse.Namespace, script: Path) -> int:
    """Run postctl's app under each uWSGI mode in turn (processes x threads)."""
    uwsgi = serve.find_uwsgi()
    env = {**os.environ, "POSTCTL_DATABASE_URL": args.url}
    results = []
    for label, changes in MODES:
        port = free_port()
        argv = serve.uwsgi_command(
            uwsgi, dataclasses.replace(serve.ServeOptions(port=port), **changes)
        )
        with server(argv, env, port):
            result = run_wrk(label, port, args, script)
        print(f"  {label}: {result.requests_per_s:,.0f} req/s, p99 {result.p99_ms:.2f} ms")
        results.append(result)
    print_table(results, results[0])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help="MariaDB/MySQL URL to fill")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs; best kept")
    parser.add_argument("--compare-modes", action="store_true", help="compare uWSGI modes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found; install it (Debian: apt-get install wrk)")
    load_rows(args.url, args.rows)
    with tempfile.TemporaryDirectory(prefix="postctl-bench-") as tmp:
        script = Path(tmp) / "random_ids.lua"
        script.write_text(RANDOM_IDS_LUA.format(rows=args.rows))
        if args.compare_modes:
            return compare_modes(args, script)
        return side_by_side(args, Path(tmp), script)


if __name__ == "__main__":
    sys.exit(main())
