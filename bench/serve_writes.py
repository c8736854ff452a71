"""`bench/serve.py --writes`: POST /post on `postctl serve` against a bare Flask + SQLAlchemy app.

Both run under the same uWSGI settings, side by side on loopback, on one
database (MariaDB/MySQL or a SQLite file); wrk sends POSTs to each in turn,
`rounds` times, for `duration` seconds each. postctl checks a bearer token
on every request (the bare app checks nothing), validates the values, and
answers with the whole post; the bare app inserts the body and answers its
id. Prints requests/s, p50 and p99 and the ratio (target: at least 0.9x).

    python bench/serve.py --writes 'mysql+mysqldb://root@127.0.0.1:3306/postctl_bench_writes?charset=utf8mb4'
    python bench/serve.py --writes sqlite:////tmp/postctl-bench-writes.db
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from serve import free_port, latency_ms, server  # bench/serve.py, beside this file
from sqlalchemy import create_engine, make_url, text

from postctl import db, queries, schema, serve, tokens

BARE_APP = '''\
"""A bare Flask + SQLAlchemy Core app taking POST /post: the baseline."""
import os
from datetime import datetime
from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

# Made in the master before the fork, but it connects only in the workers.
engine = create_engine(os.environ["BENCH_DATABASE_URL"])
app = Flask(__name__)
INSERT = text(
    "INSERT INTO post (content, author_email, created_time) VALUES (:content, :email, :time)"
)


@app.post("/post")
def post():
    body = request.get_json()
    with engine.begin() as conn:
        result = conn.execute(
            INSERT,
            {"content": body["content"], "email": body["author_email"], "time": datetime.now()},
        )
    return jsonify(id=result.lastrowid), 201


@app.get("/post/<int:post_id>")
def show(post_id):
    return jsonify(id=post_id)
'''

POSTS_LUA = """\
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  n = n + 1
  local body = '{{"content": "Benchmark post ' .. n .. ', lorem ipsum dolor sit amet", '
    .. '"author_email": "bench' .. (n % 1000) .. '@example.com"}}'
  return wrk.format(nil, "/post", nil, body)
end
"""


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu_ms: float  # CPU time of the server's processes per request: what other load cannot skew


def prepare(url: str) -> str:
    """Create the database if needed, reset the post table, make a token; return the token."""
    parsed = make_url(url)
    if db.is_mysql(url):
        server = create_engine(parsed.set(database=""))
        with server.connect() as conn:
            conn.execute(
                text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}` CHARACTER SET utf8mb4")
            )
        server.dispose()
    engine = db.make_engine(url, must_exist=False)
    schema.reset_db(engine)
    with db.transaction(engine) as conn:
        conn.execute(schema.post.insert(), {"content": "first", "author_email": "a@b.c"})
        name = f"bench-{os.getpid()}-{int(time.time())}"
        secret, _ = tokens.create(conn, name, None)
    engine.dispose()
    return secret


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a uWSGI master, its workers, and the workers it has reaped (recycled)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def fields(p: int) -> list[str]:
        text = Path(f"/proc/{p}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "

    master = fields(pid)
    total = sum(int(v) for v in master[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = fields(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
            if child[1] == str(pid):  # ppid
                total += int(child[11]) + int(child[12])
    return total / ticks


def run_wrk(port: int, pid: int, args: argparse.Namespace, script: Path, seconds: int) -> Result:
    # A slow answer is latency, not an error: SQLite's writers queue for its lock.
    base = ["wrk", "-t2", f"-c{args.connections}", "--timeout", "10s", "--latency"]
    base += ["-s", str(script)]
    url = f"http://127.0.0.1:{port}/"
    cpu_before = tree_cpu_seconds(pid)
    out = subprocess.run(
        [*base, f"-d{seconds}s", url], check=True, capture_output=True, text=True
    ).stdout
    cpu = tree_cpu_seconds(pid) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    # Read errors are the server closing each connection (--http-socket has no
    # keep-alive); a non-2xx answer or a timeout would be a real failure.
    errors = re.search(r"Non-2xx or 3xx responses: \d+|timeout [1-9]\d*", out)
    return Result(
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        latency_ms(out, "50%"),
        latency_ms(out, "99%"),
        errors.group(0) if errors else "",
        1000 * cpu / max(requests, 1),
    )


def run(args: argparse.Namespace) -> int:
    """Measure both apps `rounds` times, alternating; print each round and the medians."""
    # SIGTERM unwinds like Ctrl-C, through the blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    token = prepare(args.url)
    names = ("bare Flask + Core insert", "postctl serve, token checked")
    bare_port, postctl_port = free_port(), free_port()
    uwsgi = serve.find_uwsgi()
    with tempfile.TemporaryDirectory(prefix="postctl-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bare_writes.py").write_text(BARE_APP)
        script = workdir / "posts.lua"
        script.write_text(POSTS_LUA.format(token=token))
        bare_options = serve.ServeOptions(port=bare_port, module="bare_writes:app")
        bare_argv = [*serve.uwsgi_command(uwsgi, bare_options), "--pythonpath", str(workdir)]
        ours_argv = [sys.executable, "-m", "postctl", "serve", "--port", str(postctl_port)]
        env = {**os.environ, "BENCH_DATABASE_URL": args.url, "POSTCTL_DATABASE_URL": args.url}
        print(f"database: {db.mask_url(args.url)}")
        print("bare:    " + " ".join(bare_argv))
        print("postctl: " + " ".join(ours_argv))
        runs: dict[str, list[Result]] = {name: [] for name in names}
        with (
            server(bare_argv, env, bare_port) as bare_pid,
            server(ours_argv, env, postctl_port) as ours_pid,
        ):
            targets = ((bare_port, bare_pid), (postctl_port, ours_pid))
            for port, pid in targets:
                run_wrk(port, pid, args, script, min(2, args.duration))  # warm-up: pools, imports
            for _ in range(args.rounds):
                for name, (port, pid) in zip(names, targets, strict=True):
                    result = run_wrk(port, pid, args, script, args.duration)
                    print(
                        f"  {name}: {result.requests_per_s:,.0f} req/s, "
                        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                        f"{result.cpu_ms:.3f} CPU ms/POST {result.errors}"
                    )
                    runs[name].append(result)
    engine = db.make_engine(args.url)
    with db.transaction(engine) as conn:
        rows = queries.count_rows(conn)
    engine.dispose()
    ratios = [
        ours.requests_per_s / bare.requests_per_s
        for bare, ours in zip(runs[names[0]], runs[names[1]], strict=True)
    ]
    print(f"\nmedian of {args.rounds} rounds of {args.duration} s (ratios per round: "
          + ", ".join(f"{r:.2f}" for r in ratios) + f"); {rows:,} posts in the table:")  # fmt: skip
    print(
        "\n| server | POSTs/s | p50 ms | p99 ms | vs bare | server CPU ms/POST |"
        "\n| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    bare_rate = statistics.median(r.requests_per_s for r in runs[names[0]])
    for name in names:
        rate = statistics.median(r.requests_per_s for r in runs[name])
        p50 = statistics.median(r.p50_ms for r in runs[name])
        p99 = statistics.median(r.p99_ms for r in runs[name])
        cpu = statistics.median(r.cpu_ms for r in runs[name])
        print(
            f"| {name} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {rate / bare_rate:.2f}x "
            f"| {cpu:.3f} |"
        )
    failed = [f"{n}: {r.errors}" for n in names for r in runs[n] if r.errors]
    ratio = statistics.median(ratios)
    ok = ratio >= 0.9 and not failed
    print(
        f"\npostctl serve: {ratio:.2f}x the bare app's POSTs/s (target >= 0.90x)"
        + (f"; errors: {'; '.join(failed)}" if failed else "")
        + f": {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1
