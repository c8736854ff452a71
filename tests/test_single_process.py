"""Where the platform cannot fork or make named pipes, a load runs in one process, and gives the
same rows, problems and exit codes as the forked paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from postctl import schema
from postctl.fixtures import fork
from tests.conftest import REPO, Run, table_rows, write_csv
from tests.test_spans import HEADER, tricky_rows

GOOD = HEADER + "".join(tricky_rows(60))
BAD_VALUES = GOOD.replace("u3@example.com", "nobody").replace(",2018-10-03 12:09:00", ",yesterday")
DUPLICATE = GOOD + "5,again,a@b.c,2018-10-03 12:30:00\r\n"
MALFORMED = GOOD + '61,"not closed,a@b.c,2018-10-03 12:30:00\r\n'
SHIPPED = str(REPO / "fixtures")


@dataclass(frozen=True)
class Scenario:
    name: str
    csv: str
    args: tuple[str, ...]
    loads: bool  # whether the command succeeds
    first: bool = False  # load the shipped fixtures first


SCENARIOS = [
    Scenario("insert", GOOD, (), loads=True),
    Scenario("bad values", BAD_VALUES, (), loads=False),
    Scenario("duplicate in the file", DUPLICATE, (), loads=False),
    Scenario("id already taken", GOOD, (), loads=False, first=True),
    Scenario("malformed", MALFORMED, (), loads=False),
    Scenario("upsert", GOOD, ("--upsert",), loads=True, first=True),
    Scenario("replace", GOOD, ("--replace", "--yes"), loads=True, first=True),
    Scenario("dry run", GOOD, ("--dry-run",), loads=True),
    Scenario("dry run, ids taken", DUPLICATE, ("--dry-run",), loads=False, first=True),
]


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    rows: list[tuple[object, ...]]


def outcome(engine: Engine, run: Run, tmp_path: Path, scenario: Scenario) -> Outcome:
    """Reset, run the scenario's load, and return all it showed and left."""
    schema.reset_db(engine)
    if scenario.first:
        assert run("load-fixtures", "--quiet", SHIPPED).exit_code == 0
    path = write_csv(tmp_path, scenario.csv)
    result = run("load-fixtures", "--quiet", *scenario.args, str(path))
    return Outcome(result.exit_code, result.stdout, result.stderr, table_rows(engine))


@pytest.fixture
def one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take fork and mkfifo away, as on a platform without them."""
    monkeypatch.delattr(os, "fork")
    monkeypatch.delattr(os, "mkfifo")
    assert not fork.available()


def test_the_forked_paths_are_what_a_platform_with_fork_takes() -> None:
    assert fork.available()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_one_process_loads_as_the_forked_paths_do(
    engine: Engine,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Scenario,
) -> None:
    forked = outcome(engine, run, tmp_path, scenario)
    with monkeypatch.context() as platform:
        platform.delattr(os, "fork")
        platform.delattr(os, "mkfifo")
        assert not fork.available()
        alone = outcome(engine, run, tmp_path, scenario)
    assert alone == forked
    assert forked.exit_code == (0 if scenario.loads else 1), forked.stderr


def test_one_process_reports_problems_by_line(
    engine: Engine, run: Run, tmp_path: Path, one_process: None
) -> None:
    result = run("load-fixtures", str(write_csv(tmp_path, BAD_VALUES)))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    path = tmp_path / "posts.csv"
    assert result.stderr == (
        "Error: cannot load fixtures, nothing was loaded:\n"
        f"  {path}:5: column author_email: not an email address of the form local@domain "
        "(value 'nobody')\n"
        f"  {path}:14: column created_time: not a datetime like 2018-10-03 12:30:00 or "
        "2018-10-03T12:30:00 (value 'yesterday')\n"
    )
    assert table_rows(engine) == []
