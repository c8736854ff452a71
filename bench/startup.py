"""Compare the start-up cost of `postctl show-post 1` with a minimal SQLAlchemy Core script.

Both run side by side in this one run, alternating, against the same SQLite
database; the script prints the median wall time of each and their ratio
(target: postctl at most 1.3x the minimal script).

    python bench/startup.py [--runs 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.3

# What a user would write by hand: connect with Core, select one row, print it with tabulate.
MINIMAL = """
import sys
from sqlalchemy import create_engine, text
from tabulate import tabulate
engine = create_engine(sys.argv[1])
with engine.connect() as conn:
    row = conn.execute(text("SELECT * FROM post WHERE id = 1")).one()
print(tabulate(list(row._mapping.items()), tablefmt="plain"))
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Run a command once and return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", help="default: a new SQLite file with the fixtures")
    args = parser.parse_args()
    postctl = shutil.which("postctl") or sys.exit("postctl is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        env = {**os.environ, "POSTCTL_DATABASE_URL": url}
        subprocess.run(
            [postctl, "reset-db", "--yes"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            [postctl, "load-fixtures", str(REPO / "fixtures")],
            env=env,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        commands = {
            "minimal Core script": [sys.executable, "-c", MINIMAL, url],
            "postctl show-post 1": [postctl, "show-post", "1"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm the page cache first
            timed(argv, env)
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:22} median {value * 1000:7.1f} ms over {args.runs} runs")
    ratio = medians["postctl show-post 1"] / medians["minimal Core script"]
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET}x target)")


if __name__ == "__main__":
    main()
