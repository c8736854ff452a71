"""Killing load-fixtures while it inserts leaves the table exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from tests import servers
from tests.conftest import CONFIG_VARS, REPO, table_rows

ROWS = 600_000  # several seconds of loading on either backend
HEADER = "id,content,author_email,created_time\n"


def big_csv(directory: Path) -> Path:
    """Write a file of ROWS posts with ids after the shipped fixtures' (6 on)."""
    path = directory / "big" / "posts.csv"
    path.parent.mkdir()
    body = "".join(
        f"{i},post {i} 안녕하세요 🚀 {'x' * 100},user{i}@example.com,2018-10-03 12:30:00\n"
        for i in range(6, ROWS + 6)
    )
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def inserting(url: str) -> bool:
    """Tell whether some transaction has started writing rows into the database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        journal = Path(f"{parsed.database}-journal")
        return journal.exists() and journal.stat().st_size > 0
    return bool(open_transactions(url))


def open_transactions(url: str) -> list[int]:
    """List the connections with a transaction that has written to this database."""
    engine = create_engine(url, poolclass=NullPool)
    # InnoDB counts the rows a transaction modified; PostgreSQL gives a
    # transaction an id when it first writes.
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        if engine.dialect.name == "postgresql"
        else "SELECT t.trx_mysql_thread_id FROM information_schema.innodb_trx t "
        "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
        "WHERE p.db = DATABASE() AND t.trx_rows_modified > 0"
    )
    with engine.connect() as conn:
        found = [int(r[0]) for r in conn.execute(text(query))]
    engine.dispose()
    return found


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll gently: asking the server many times a second slows the load being watched."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_load_leaves_the_table_unchanged(
    loaded: Engine, db_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    path = big_csv(tmp_path)
    before = table_rows(loaded)
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["POSTCTL_DATABASE_URL"] = db_url
    env["TMPDIR"] = str(tmp_path)  # a killed load cannot remove its named pipe's directory
    with servers.started(
        [sys.executable, "-m", "postctl", "load-fixtures", str(path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        started = wait_for(lambda: inserting(db_url) or process.poll() is not None, 60)
        assert started and process.poll() is None, process.communicate(timeout=60)
        process.send_signal(sig)  # to the load alone: its children must notice by themselves
        _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Traceback" not in stderr
    assert "Loaded" not in stderr
    if make_url(db_url).get_backend_name() != "sqlite":
        # The server rolls back the dead connection's transaction on its own time.
        assert wait_for(lambda: not open_transactions(db_url), 120)
    assert table_rows(loaded) == before
