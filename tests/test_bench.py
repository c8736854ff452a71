"""bench/load.py still runs end to end (a small N: this checks it works, not timings)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import CONFIG_VARS, REPO


def test_load_benchmark_runs_and_prints_the_ratios(db_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    command = [sys.executable, str(REPO / "bench" / "load.py"), "--rows", "200"]
    command += ["--orm-rows", "50", "--out", str(tmp_path), "--url", db_url]
    done = servers.run(command, env=env, cwd=REPO, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == [
        "method",
        "rows",
        "seconds",
        "rows/s",
        "vs",
        "native",
        "max",
        "RSS",
        "tree",
        "PSS",
    ]
    assert [line.split()[0] for line in lines[2:5]] == ["native:", "postctl", "ORM,"]
    assert "(extrapolated from 50 rows)" in lines[4]
    ratios = [line for line in lines if line.startswith("ratio ")]
    assert [r.rsplit(":", 1)[0] for r in ratios] == [
        "ratio postctl/native",
        "ratio orm/native",
        "ratio max RSS 200/20",
        "ratio tree PSS 200/20",
    ]
    assert all(re.fullmatch(r"ratio .+: \d+\.\d\d", r) for r in ratios), ratios


def test_write_benchmark_runs_and_prints_the_ratio(tmp_path: Path) -> None:
    """bench/serve.py --writes, one short round on SQLite: it works (timings mean nothing here)."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    command = [sys.executable, str(REPO / "bench" / "serve.py"), "--writes", url]
    command += ["--duration", "1", "--rounds", "1", "--connections", "4"]
    proc = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # SIGTERM first: the bench then stops the servers it started
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode in (0, 1), err  # 1: the target was not met on this run
    lines = out.splitlines()
    assert lines[0] == f"database: {url}"
    assert "| server | POSTs/s | p50 ms | p99 ms | vs bare | server CPU ms/POST |" in lines
    assert re.fullmatch(
        r"postctl serve: \d+\.\d\dx the bare app's POSTs/s \(target >= 0\.90x\): (met|NOT met)",
        lines[-1],
    ), lines[-1]


def test_soak_benchmark_runs_and_reports_each_minute(server_url: str | None) -> None:
    """bench/soak.py, a few seconds at a low rate: it works (the figures mean nothing here)."""
    if not server_url:
        pytest.skip("needs a server: set POSTCTL_TEST_DATABASE_URL (bench/soak.py loads one)")
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    command = [sys.executable, str(REPO / "bench" / "soak.py"), server_url, "--rows", "200"]
    command += ["--seconds", "3", "--rate", "20", "--clients", "2", "--warm-up", "1"]
    done = servers.run(command, env=env, cwd=REPO, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr  # 1: a target was not met on this run
    lines = done.stdout.splitlines()
    assert "| minute | requests | p50 ms | p99 ms | max ms | errors |" in lines
    minute = lines[lines.index("| ---: | ---: | ---: | ---: | ---: | ---: |") + 1]
    assert re.fullmatch(r"\| 1 \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0 \|", minute), minute
    at = lines.index("| uWSGI process | RSS start KiB | RSS end KiB | growth |") + 2
    processes = [line for line in lines[at:] if line.startswith("| ")]
    assert len(processes) == 3, lines  # two workers and the HTTP router
    assert all(re.fullmatch(r"\| \d+ \| [\d,]+ \| [\d,]+ \| [+-]\d+\.\d% \|", p) for p in processes)
    assert "errors: 0 of " in done.stdout
    assert re.search(r"no errors and RSS growth under 10%: (met|NOT met)\n", done.stdout)
