"""A real nginx for tests, running deploy/nginx.conf with the test's upstreams and port.

nginx runs from a prefix directory of its own (`-p`), in the foreground
(`daemon off`), in its own process group, killed whole when the block ends.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests import servers
from tests.conftest import REPO

NGINX = "/usr/sbin/nginx"
CONF = REPO / "deploy" / "nginx.conf"
UWSGI_PARAMS = Path("/etc/nginx/uwsgi_params")
# Temporary files (a request body over 16 KB) in the prefix, not /var/lib/nginx.
TEMP_PATHS = "".join(
    f"    {kind}_temp_path temp/{kind};\n"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
)


def available() -> bool:
    return os.access(NGINX, os.X_OK) and UWSGI_PARAMS.exists()


def shared_dir() -> Path:
    """A directory nginx's workers (user nobody when started as root) can reach."""
    path = Path(tempfile.mkdtemp(prefix="postctl-nginx-"))
    path.chmod(0o755)
    return path


def config_for(upstreams: Sequence[str], port: int) -> str:
    """Return deploy/nginx.conf with these upstream servers and a loopback port; else unchanged."""
    text = CONF.read_text()
    servers_block = "".join(f"        server {address};\n" for address in upstreams)
    text, found = re.subn(r"(    upstream postctl \{\n(?:        #.*\n)*)(?:        server .*\n)+",
                          lambda m: m.group(1) + servers_block, text)  # fmt: skip
    assert found == 1, "deploy/nginx.conf lost its upstream block"
    text, found = re.subn(
        r"\n        listen 8080;\n", f"\n        listen 127.0.0.1:{port};\n", text
    )
    assert found == 1, "deploy/nginx.conf lost its listen line"
    text, found = re.subn(r"\nhttp \{\n", "\nhttp {\n" + TEMP_PATHS, text)
    assert found == 1, "deploy/nginx.conf lost its http block"
    return text


@contextmanager
def running(upstreams: Sequence[str], prefix: Path) -> Iterator[int]:
    """Run nginx in front of these upstreams (e.g. unix:/path); yield its port."""
    port = servers.free_port()
    (prefix / "conf").mkdir()
    (prefix / "temp").mkdir()
    (prefix / "conf" / "nginx.conf").write_text(config_for(upstreams, port))
    shutil.copy(UWSGI_PARAMS, prefix / "conf" / "uwsgi_params")
    log = prefix / "error.log"
    argv = [
        NGINX, "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", str(log),
        "-g", f"daemon off; pid {prefix}/nginx.pid;",
    ]  # fmt: skip
    with log.open("ab") as out, servers.started(argv, stdout=out, stderr=out) as proc:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"nginx did not listen:\n{log.read_text()}"
            time.sleep(0.1)
        yield port
