"""compose.yaml: valid by the compose specification, and wired as deploy/nginx.conf expects.

podman cannot start containers on the project's machines (docs/deployment.md),
so the topology itself runs with local processes in tests/test_nginx.py.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from postctl import serve
from tests import servers
from tests.conftest import REPO

COMPOSE = REPO / "compose.yaml"
NGINX_CONF = REPO / "deploy" / "nginx.conf"


def check_jsonschema() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is a test dependency (pip install '.[test]')"
    return found


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_is_valid_by_the_compose_spec() -> None:
    argv = [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    done = servers.run(argv, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "ok -- validation done\n"


def test_an_invalid_compose_file_is_refused(tmp_path: Path) -> None:
    """The check can fail: a service with an unknown key."""
    bad = tmp_path / "compose.yaml"
    bad.write_text(
        COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restart_: x\n")
    )
    argv = [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(bad)]
    assert servers.run(argv, text=True, timeout=120).returncode == 1


def test_the_apps_wait_for_a_healthy_database() -> None:
    services = compose()["services"]
    assert "test" in services["db"]["healthcheck"]
    for name in ("app1", "app2"):
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_the_password_comes_from_a_secret_file_only() -> None:
    doc = compose()
    secret = "/run/secrets/db_password"
    assert doc["secrets"] == {"db_password": {"file": "./secrets/db_password"}}
    assert doc["services"]["db"]["environment"]["MARIADB_PASSWORD_FILE"] == secret
    for name in ("app1", "app2"):
        env = doc["services"][name]["environment"]
        assert env["MYSQL_PASS_FILE"] == secret
        assert doc["services"][name]["secrets"] == ["db_password"]
        assert not {"MYSQL_PASS", "POSTCTL_DATABASE_URL", "DATABASE_URL"} & set(env)
    assert "secrets/" in (REPO / ".gitignore").read_text().split()


def test_nginx_runs_the_shipped_conf_in_front_of_every_app_instance() -> None:
    services = compose()["services"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    upstream = re.search(r"upstream postctl \{(.*?)\}", NGINX_CONF.read_text(), re.S)
    assert upstream is not None
    servers_listed = re.findall(r"^\s*server (\S+);", upstream.group(1), re.M)
    apps = sorted(name for name, spec in services.items() if "--socket" in spec.get("command", []))
    assert apps == ["app1", "app2"]
    for name in apps:
        command = services[name]["command"]
        assert command[:3] == ["postctl", "serve", "--socket"]
        address = serve.socket_address(command[3])
        port = address.rpartition(":")[2]
        assert f"{name}:{port}" in servers_listed
    assert len(servers_listed) == len(apps)
