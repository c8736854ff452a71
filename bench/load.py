"""Time `postctl load-fixtures` against the database's own bulk loader and the ORM way.

    python bench/load.py                       # SQLite, 1,000,000 rows
    python bench/load.py --url 'mysql+mysqldb://root@127.0.0.1/postctl_bench?charset=utf8mb4'
    python bench/load.py --url 'postgresql+psycopg://postgres@127.0.0.1/postctl_bench'
    python bench/load.py --rows 200            # a quick check that it all still works

The CSV is generated once per N (deterministic) under --out and reused. Each
contender runs as its own process, into a freshly reset table: postctl's real
command; the native loader (the sqlite3 shell's `.import`, the mariadb
client's `LOAD DATA LOCAL INFILE`, or psql's `\\copy ... CSV HEADER`), which
validates nothing; and the original application's approach, one ORM object per
row with string values, one commit, capped at --orm-rows and extrapolated
linearly when N is larger. The native
loader and postctl run --repeat times, interleaved, and the median counts: this
machine's speed drifts with its neighbours' load. Memory is
reported twice: max RSS, the largest single process (GNU time's %M, as the
kernel counts it), and tree PSS, the peak of the summed proportional set size
of the process and its children (postctl validates in a forked worker),
sampled every 10 ms. Sampling reads /proc/PID/smaps_rollup, which costs the
sampled processes time, so PSS is taken in runs of their own, not the timed
ones. Then the memory check: postctl at N/10 rows against N rows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, make_url, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # the generator lives next to this script

HERE = Path(__file__).resolve().parent
ORM_SCRIPT = HERE / "orm_load.py"
COLUMNS = "id, content, author_email, created_time"
NATIVE_NAMES = {"sqlite": "sqlite3 .import", "postgresql": "psql \\copy"}


@dataclass
class Run:
    name: str
    rows: int
    seconds: float
    rss_mb: float
    pss_mb: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    url = args.url or f"sqlite:///{out / 'bench.db'}"
    csv_file = fixture(out, args.rows)
    env = {**os.environ, "POSTCTL_DATABASE_URL": url}
    print(f"database: {mask(url)}; {args.rows:,} rows from {csv_file}")

    natives, postctls = [], []
    for _ in range(args.repeat):  # interleaved, so that a busy moment hits both
        natives.append(timed("native", args.rows, native_command(url, csv_file), env, url))
        postctls.append(timed("postctl", args.rows, postctl_command(csv_file), env, url))
    native, postctl = median(natives), median(postctls)
    postctl.pss_mb = timed(
        "postctl", args.rows, postctl_command(csv_file), env, url, pss=True
    ).pss_mb
    orm_rows = min(args.rows, args.orm_rows)
    orm = timed("orm", orm_rows, orm_command(url, fixture(out, orm_rows)), env, url)
    if orm_rows < args.rows:
        scale = args.rows / orm_rows
        note = f"extrapolated from {orm_rows:,} rows"
        orm = Run("orm", args.rows, orm.seconds * scale, orm.rss_mb, orm.pss_mb, note)
    backend = make_url(url).get_backend_name()
    native.name = "native: " + NATIVE_NAMES.get(backend, "LOAD DATA LOCAL")
    postctl.name = "postctl load-fixtures"
    orm.name = "ORM, one object per row"
    table([native, postctl, orm], native)
    print(f"ratio postctl/native: {postctl.seconds / native.seconds:.2f}")
    print(f"ratio orm/native: {orm.seconds / native.seconds:.2f}")

    small_rows = max(args.rows // 10, 1)
    small_csv = fixture(out, small_rows)
    small = timed("postctl", small_rows, postctl_command(small_csv), env, url, pss=True)
    print(
        f"memory: postctl max RSS {small.rss_mb:.0f} MB, tree PSS {small.pss_mb:.0f} MB "
        f"at {small_rows:,} rows; {postctl.rss_mb:.0f} MB, {postctl.pss_mb:.0f} MB "
        f"at {args.rows:,} rows"
    )
    print(f"ratio max RSS {args.rows:,}/{small_rows:,}: {postctl.rss_mb / small.rss_mb:.2f}")
    print(f"ratio tree PSS {args.rows:,}/{small_rows:,}: {postctl.pss_mb / small.pss_mb:.2f}")


def median(runs: list[Run]) -> Run:
    """Return the run of median time; note the spread when there were several."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    if len(runs) > 1:
        times = ", ".join(f"{r.seconds:.2f}" for r in runs)
        middle.note = f"median of {len(runs)}: {times} s"
    return middle


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="posts to load (N)")
    parser.add_argument("--url", help="database URL (default: a SQLite file under --out)")
    parser.add_argument(
        "--orm-rows", type=int, default=100_000, help="cap for the ORM run (extrapolated)"
    )
    parser.add_argument("--out", default=str(HERE / "out"), help="where CSVs and SQLite go")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of native and postctl (median shown)"
    )
    return parser.parse_args()


def fixture(out: Path, rows: int) -> Path:
    """Return the CSV of this many rows, generating it the first time."""
    path = out / str(rows) / "posts.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        gen.write(partial, rows)
        partial.replace(path)
    return path


def postctl_command(csv_file: Path) -> list[str]:
    return [sys.executable, "-m", "postctl", "load-fixtures", "--quiet", str(csv_file)]


def orm_command(url: str, csv_file: Path) -> list[str]:
    return [sys.executable, str(ORM_SCRIPT), url, str(csv_file)]


def native_command(url: str, csv_file: Path) -> list[str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return [
            "sqlite3",
            str(parsed.database),
            "-cmd",
            ".mode csv",
            f".import --skip 1 {csv_file} post",
        ]
    if parsed.get_backend_name() == "postgresql":
        # psql's \copy: the server's COPY fed by the client, as postctl's is.
        copy = f"\\copy post ({COLUMNS}) FROM '{csv_file}' CSV HEADER"
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.host or "127.0.0.1"]
        command += ["-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]
        return [*command, "-d", str(parsed.database), "-c", copy]
    sql = (
        f"LOAD DATA LOCAL INFILE '{csv_file}' INTO TABLE post CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
        f"LINES TERMINATED BY '\\n' IGNORE 1 LINES ({COLUMNS})"
    )
    command = ["mariadb", "--local-infile=1", "--protocol=tcp", "-h", parsed.host or "127.0.0.1"]
    command += ["-P", str(parsed.port or 3306), "-u", parsed.username or "root"]
    return [*command, str(parsed.database), "-e", sql]


def timed(
    name: str, rows: int, command: list[str], env: dict[str, str], url: str, pss: bool = False
) -> Run:
    """Reset the table, run the command, check it loaded every row; return time and memory.

    With pss, also sample the tree's PSS (and do not trust the time).
    """
    reset = [sys.executable, "-m", "postctl", "reset-db", "--yes"]
    subprocess.run(reset, env=env, check=True, stdout=subprocess.DEVNULL)
    password = make_url(url).password
    child_env = (
        {**env, "MYSQL_PWD": str(password), "PGPASSWORD": str(password)} if password else env
    )
    with tempfile.NamedTemporaryFile("r") as report:
        # GNU time forks the command itself: a child forked from this Python would
        # inherit its high-water RSS mark, which survives exec.
        timer = ["/usr/bin/time", "-f", "%M", "-o", report.name]
        started = time.perf_counter()
        process = subprocess.Popen(timer + command, env=child_env, stdout=subprocess.DEVNULL)
        sampler = RssSampler(process.pid) if pss else None
        code = process.wait()
        seconds = time.perf_counter() - started
        if sampler is not None:
            sampler.stop()
        max_rss_kb = int(report.read().split()[-1])
    if code != 0:
        sys.exit(f"{name} failed with exit code {code}: {' '.join(command)}")
    loaded = count(url)
    if loaded != rows:
        sys.exit(f"{name} loaded {loaded} rows, expected {rows}")
    pss_mb = sampler.peak_kb / 1024 if sampler is not None else float("nan")
    return Run(name, rows, seconds, max_rss_kb / 1024, pss_mb)


def count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = int(conn.execute(select(func.count()).select_from(text("post"))).scalar_one())
    engine.dispose()
    return rows


class RssSampler:
    """Sample the summed PSS of a process and its descendants from /proc.

    PSS, not RSS: postctl's validating child shares pages with its parent,
    and summing RSS would count them twice.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.01):
            self.peak_kb = max(self.peak_kb, sum(pss_kb(p) for p in tree(self.pid)))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def tree(pid: int) -> list[int]:
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += tree(int(child))
    return found


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def table(runs: list[Run], native: Run) -> None:
    head = f"{'method':<28} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'vs native':>10}"
    print(f"{head} {'max RSS':>9} {'tree PSS':>9}")
    for r in runs:
        line = (
            f"{r.name:<28} {r.rows:>10,} {r.seconds:>9.2f} {r.rate:>10,.0f} "
            f"{r.seconds / native.seconds:>9.2f}x {r.rss_mb:>6.0f} MB {_mb(r.pss_mb):>9}"
        )
        print(line + (f"  ({r.note})" if r.note else ""))


def _mb(value: float) -> str:
    return "-" if value != value else f"{value:.0f} MB"  # NaN: not measured


def mask(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
