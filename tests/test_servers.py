"""The tests' own process handling: nothing a test starts outlives it."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests import servers


def test_a_timeout_kills_the_whole_process_group() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        # The background sleep is an orphan once bash is killed, as uWSGI's workers would be.
        servers.run(["bash", "-c", "sleep 59.71 & echo $! > /dev/null; sleep 59.71"], timeout=1)
    assert time.monotonic() - started < 10
    listing = servers.run(["ps", "-eo", "args="], text=True, timeout=30).stdout
    assert "sleep 59.71" not in listing.splitlines()  # a length no other process here uses


def test_orphans_of_a_finished_program_are_killed() -> None:
    done = servers.run(["bash", "-c", "sleep 61 > /dev/null 2>&1 & echo $!"], text=True, timeout=30)
    assert done.returncode == 0
    pid = int(done.stdout)
    time.sleep(0.1)
    alive = servers.run(["ps", "-o", "stat=", "-p", str(pid)], text=True, timeout=30)
    # Gone, or a zombie of init's (a flag may follow: "ZN" when run under nice).
    assert alive.stdout.strip()[:1] in ("", "Z"), alive.stdout
