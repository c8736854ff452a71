"""Soak `postctl serve`: a bounded run at a fixed request rate below capacity.

Starts `postctl serve` (its production defaults) on a MariaDB/MySQL or
PostgreSQL database of N posts (default 100,000), sends GET /post/<random id>
at a fixed rate (default 200 requests/s, about a tenth of what bench/serve.py
measures) for a bounded time (default 10 minutes), and prints the p99 of each
minute, the errors (target: none) and the RSS of each uWSGI process at the start
and at the end (target: growth under 10%). Latency counts from the moment a
request was due, so a stalled server cannot hide behind a waiting client.

    python bench/soak.py 'mysql+mysqldb://root@127.0.0.1:3306/postctl_bench?charset=utf8mb4'
    python bench/soak.py URL --seconds 120 --rate 100
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import serve as bench_serve  # bench/serve.py, beside this file

RSS_GROWTH_TARGET = 0.10


def children(pid: int) -> list[int]:
    """The uWSGI master's children: its workers and its HTTP router."""
    return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def sample_rss(pids: list[int], samples: list[dict[int, int]], done: threading.Event) -> None:
    """Record each process's RSS once a minute until done: a plateau, or a steady climb."""
    while not done.wait(60):
        samples.append({pid: rss_kib(pid) for pid in pids})


def soak(port: int, args: argparse.Namespace) -> list[tuple[float, float, int | str]]:
    """Send requests at the fixed rate for args.seconds; return (due, seconds, status) of each."""
    answers: list[tuple[float, float, int | str]] = []
    start = time.monotonic() + 0.5
    end = start + args.seconds
    interval = args.clients / args.rate

    def client(i: int) -> None:
        rng = random.Random(i)
        due = start + i / args.rate
        while due < end:
            time.sleep(max(0.0, due - time.monotonic()))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", f"/post/{rng.randint(1, args.rows)}")
                resp = conn.getresponse()
                resp.read()
                status: int | str = resp.status
            except (OSError, http.client.HTTPException) as err:
                status = type(err).__name__
            finally:
                conn.close()
            answers.append((due - start, time.monotonic() - due, status))
            due += interval

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def report(answers: list[tuple[float, float, int | str]], rss: dict[int, tuple[int, int]]) -> bool:
    print("\n| minute | requests | p50 ms | p99 ms | max ms | errors |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    minutes = int(max(due for due, _, _ in answers) // 60) + 1
    for minute in range(minutes):
        batch = [(took, status) for due, took, status in answers if due // 60 == minute]
        took = sorted(t * 1000 for t, _ in batch)
        errors = sum(1 for _, status in batch if status != 200)
        p99 = statistics.quantiles(took, n=100, method="inclusive")[98]
        print(
            f"| {minute + 1} | {len(batch):,} | {statistics.median(took):.2f} | {p99:.2f} "
            f"| {took[-1]:.2f} | {errors} |"
        )
    errors = [status for _, _, status in answers if status != 200]
    print(f"\nerrors: {len(errors)} of {len(answers):,}" + (f" ({set(errors)})" if errors else ""))
    print("\n| uWSGI process | RSS start KiB | RSS end KiB | growth |")
    print("| --- | ---: | ---: | ---: |")
    worst = 0.0
    for pid, (first, last) in rss.items():
        growth = (last - first) / first
        worst = max(worst, growth)
        print(f"| {pid} | {first:,} | {last:,} | {growth:+.1%} |")
    ok = not errors and worst < RSS_GROWTH_TARGET
    print(f"\nno errors and RSS growth under 10%: {'met' if ok else 'NOT met'}")
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=bench_serve.DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=600, help="length of the run")
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--clients", type=int, default=8, help="client threads sharing the rate")
    parser.add_argument("--warm-up", type=int, default=10, help="seconds before the RSS start")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, through the blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    bench_serve.load_rows(args.url, args.rows)
    port = bench_serve.free_port()
    argv = [sys.executable, "-m", "postctl", "serve", "--port", str(port)]
    env = {**os.environ, "POSTCTL_DATABASE_URL": args.url}
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    print(f"{' '.join(argv)}: {args.rate:g} requests/s for {args.seconds} s", flush=True)
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        bench_serve.wait_until_up(port, proc)
        warm = argparse.Namespace(**{**vars(args), "seconds": args.warm_up})
        soak(port, warm)  # every worker thread has its connection and its imports
        pids = children(proc.pid)
        first = {pid: rss_kib(pid) for pid in pids}
        samples: list[dict[int, int]] = []
        done = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(pids, samples, done))
        sampler.start()
        try:
            answers = soak(port, args)
        finally:
            done.set()
            sampler.join()
        assert children(proc.pid) == pids, "uWSGI replaced a process during the run"
        rss = {pid: (first[pid], rss_kib(pid)) for pid in pids}
    finally:
        bench_serve.stop(proc)
    print(
        "\nRSS KiB at the end of each minute: "
        + "; ".join(", ".join(f"{sample[pid]:,}" for pid in pids) for sample in samples)
    )
    return 0 if report(answers, rss) else 1


if __name__ == "__main__":
    sys.exit(main())
