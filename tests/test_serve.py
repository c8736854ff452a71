"""`postctl serve`: the uWSGI command line, its failures, and the real server over HTTP."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from postctl import serve
from postctl.cli import cli
from tests import servers
from tests.conftest import CONFIG_VARS, REPO, Run

UWSGI = serve.find_uwsgi()
PRODUCTION = [
    "--buffer-size", "65535",
    "--module", "postctl.wsgi:app",
    "--master",
    "--need-app",
    "--hook-master-start", "unix_signal:15 gracefully_kill_them_all",
    "--worker-reload-mercy", "5",
]  # fmt: skip
TAIL = [
    "--enable-threads",
    "--single-interpreter",
    "--harakiri", "30",
    "--vacuum",
    "--disable-logging", "--log-4xx", "--log-5xx",
]  # fmt: skip


def test_uwsgi_command_has_the_production_settings() -> None:
    argv = serve.uwsgi_command("/venv/bin/uwsgi", serve.ServeOptions())
    assert argv == [
        "/venv/bin/uwsgi", "--strict", "--http", "127.0.0.1:8080",
        *PRODUCTION, "--processes", "2", "--threads", "8", *TAIL,
    ]  # fmt: skip


def test_no_worker_recycling_by_request_count() -> None:
    """--max-requests recycled workers every few seconds under load: p99 spikes."""
    argv = serve.uwsgi_command("uwsgi", serve.ServeOptions())
    assert not [arg for arg in argv if arg.startswith("--max-requests")]


@pytest.mark.parametrize(
    ("address", "flags"),
    [
        ("/run/postctl/uwsgi.sock", ["--uwsgi-socket", "/run/postctl/uwsgi.sock",
                                     "--chmod-socket=666"]),
        ("127.0.0.1:3031", ["--uwsgi-socket", "127.0.0.1:3031"]),
        ("[::1]:3031", ["--uwsgi-socket", "[::1]:3031"]),
    ],
)  # fmt: skip
def test_uwsgi_command_socket_mode(address: str, flags: list[str]) -> None:
    """The uwsgi protocol for nginx; a unix socket nginx's user may connect to."""
    argv = serve.uwsgi_command("uwsgi", serve.ServeOptions(socket=address, port=9000))
    assert argv == ["uwsgi", "--strict", *flags, *PRODUCTION,
                    "--processes", "2", "--threads", "8", *TAIL]  # fmt: skip


def test_socket_print_command(run: Run) -> None:
    result = run("serve", "--socket", "127.0.0.1:3031", "--threads", "4", "--print-command")
    assert result.exit_code == 0, result.output
    expected = [
        UWSGI, "--strict", "--uwsgi-socket", "127.0.0.1:3031",
        *PRODUCTION, "--processes", "2", "--threads", "4", *TAIL,
    ]  # fmt: skip
    assert result.stdout == shlex.join(expected) + "\n"


@pytest.mark.parametrize("address", ["", " /x.sock", "host:", ":80", "h:0", "h:65536", "h:8o"])
def test_socket_address_refuses(address: str) -> None:
    with pytest.raises(ValueError, match=r"unix socket path or HOST:PORT|not HOST:PORT"):
        serve.socket_address(address)


@pytest.mark.parametrize("other", [["--host", "0.0.0.0"], ["--port", "8080"]])
def test_socket_excludes_the_http_options(run: Run, other: list[str]) -> None:
    for args in (["--socket", "/tmp/s.sock", *other], [*other, "--socket", "/tmp/s.sock"]):
        result = run("serve", *args, "--print-command")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == (
            f"Error: --socket and {other[0]} cannot be used together"
        )


@pytest.mark.parametrize(
    ("mode", "flags"),
    [
        ("http11-socket", ["--http11-socket"]),
        ("http", ["--http"]),
        ("http-keepalive", ["--http-keepalive", "--http"]),
    ],
)
def test_uwsgi_command_http_modes(mode: str, flags: list[str]) -> None:
    options = serve.ServeOptions(host="::1", port=9000, http_mode=mode)
    argv = serve.uwsgi_command("uwsgi", options)
    assert argv[: 3 + len(flags)] == ["uwsgi", "--strict", *flags, "[::1]:9000"]


def test_uwsgi_command_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown HTTP mode 'spdy'"):
        serve.uwsgi_command("uwsgi", serve.ServeOptions(http_mode="spdy"))


def test_print_command_shows_the_uwsgi_line(run: Run) -> None:
    result = run(
        "serve", "--host", "0.0.0.0", "--port", "9090", "--processes", "4", "--threads", "1",
        "--print-command",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = [
        UWSGI, "--strict", "--http", "0.0.0.0:9090",
        *PRODUCTION, "--processes", "4", "--threads", "1", *TAIL,
    ]  # fmt: skip
    assert result.stdout == shlex.join(expected) + "\n"
    assert result.stderr == ""


def test_serve_defaults_are_the_serve_modules(run: Run) -> None:
    result = run("serve", "--print-command")
    assert result.exit_code == 0, result.output
    assert result.stdout == shlex.join(serve.uwsgi_command(UWSGI, serve.ServeOptions())) + "\n"


def test_print_command_never_shows_the_password(run: Run) -> None:
    result = run("serve", "--print-command", url="mysql+mysqldb://app:Very$ecret@db/posts")
    assert result.exit_code == 0, result.output
    assert "ecret" not in result.output
    assert "mysql" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "Invalid value for '--port'"),
        (["--port", "65536"], "Invalid value for '--port'"),
        (["--processes", "0"], "Invalid value for '--processes'"),
        (["--threads", "x"], "Invalid value for '--threads'"),
        (["--socket", "db:x"], "Invalid value for '--socket': not HOST:PORT"),
    ],
)
def test_serve_bad_options_are_usage_errors(run: Run, args: list[str], message: str) -> None:
    result = run("serve", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(f"Error: {message}")


def test_environment_carries_the_resolved_url() -> None:
    base = {"PATH": "/bin", "POSTCTL_DATABASE_URL": "old", "POSTCTL_DATABASE_URL_FILE": "/s"}
    env = serve.environment(base, "sqlite:///x.db")
    assert env == {
        "PATH": "/bin",
        "MALLOC_ARENA_MAX": "2",
        "POSTCTL_DATABASE_URL": "sqlite:///x.db",
    }


def test_workers_get_two_malloc_arenas_unless_the_user_chose() -> None:
    assert serve.environment({}, "sqlite:///x.db")["MALLOC_ARENA_MAX"] == "2"
    mine = serve.environment({"MALLOC_ARENA_MAX": "8"}, "sqlite:///x.db", from_file=True)
    assert mine["MALLOC_ARENA_MAX"] == "8"


def test_find_uwsgi_prefers_the_one_beside_python(tmp_path: Path) -> None:
    beside = tmp_path / "uwsgi"
    beside.write_text("#!/bin/sh\n")
    beside.chmod(0o755)
    assert serve.find_uwsgi(str(tmp_path / "python"), path="") == str(beside)


def test_missing_uwsgi_is_a_clear_error(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("serve")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: uWSGI not found beside {tmp_path / 'python'} or on PATH; "
        "install it with: pip install 'postctl[serve]'\n"
    )


def test_an_app_that_cannot_load_stops_serve_before_uwsgi(tmp_path: Path) -> None:
    """Flask missing from the install: a one-line error, exit 1, no server."""
    code = (
        "import sys; sys.modules['flask'] = None; from postctl.cli import main; "
        "main(['--database-url', 'sqlite:///x.db', 'serve', '--port', '1'])"
    )
    done = servers.run([sys.executable, "-c", code], text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr
        == "Error: cannot load the web app: import of flask halted; None in sys.modules\n"
    )


def test_a_bad_url_stops_serve_before_uwsgi(run: Run) -> None:
    for args in (["serve"], ["serve", "--print-command"]):
        result = run(*args, url="not a url")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == (
            "Error: POSTCTL_DATABASE_URL: invalid database URL: "
            "not of the form dialect+driver://user:password@host:port/database\n"
        )


def test_uwsgi_exits_when_the_app_does_not_load(tmp_path: Path) -> None:
    """--need-app: a worker that cannot import the app stops uWSGI instead of serving 500s.

    uWSGI gives up at once; without --need-app it would serve, and the timeout kills
    its whole process group (master and workers) in seconds, not a minute.
    """
    options = serve.ServeOptions(port=free_port(), module="postctl.no_such_module:app")
    done = servers.run(serve.uwsgi_command(UWSGI, options), text=True, timeout=15)
    assert done.returncode != 0
    assert "no app loaded" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def server(
    db_url: str, loaded: Engine, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The real `postctl serve` on a free loopback port, in its own process group."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["POSTCTL_DATABASE_URL"] = db_url
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "postctl", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_real_server_serves_and_stops_cleanly_on_sigterm(
    server: tuple[subprocess.Popen[bytes], str], run: Run
) -> None:
    proc, base = server
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    assert any(arg.endswith(b"uwsgi") for arg in cmdline[:2]), cmdline  # exec'd, not a child
    shown = run("show-post", "1", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert get(f"{base}/post/1") == (200, shown.stdout_bytes)
    assert get(f"{base}/post/99") == (
        404,
        b'{"error": {"status": 404, "message": "post 99 not found"}}\n',
    )
    assert get(f"{base}/readyz") == (200, b'{"status": "ready"}\n')
    # 16 KB of request headers: the router and the workers' buffer take them.
    big = urllib.request.Request(
        f"{base}/post/1", headers={f"X-F-{i}": "x" * 1000 for i in range(16)}
    )
    with urllib.request.urlopen(big, timeout=10) as resp:
        assert (resp.status, resp.read()) == (200, shown.stdout_bytes)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    deadline = time.monotonic() + 5
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(proc.pid), "uWSGI left processes behind"


def test_a_url_from_a_secret_file_stays_out_of_the_environment() -> None:
    """The workers read the same file by the same rules; the secret is in no environment."""
    base = {"PATH": "/bin", "POSTCTL_DATABASE_URL_FILE": "/run/secrets/url"}
    env = serve.environment(base, "mysql+mysqldb://app:secret@db/posts", from_file=True)
    assert env == {**base, "MALLOC_ARENA_MAX": "2"}


def test_serve_passes_the_file_setting_on_not_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """postctl serve with MYSQL_PASS_FILE: uWSGI's environment holds no password."""
    secret = tmp_path / "db_password"
    secret.write_text("Very$ecret-pw\n")
    seen: list[dict[str, str]] = []

    def record(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.append(env)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", record)
    env: dict[str, str | None] = dict.fromkeys((*CONFIG_VARS, "POSTCTL_DATABASE_URL"))
    env.update(MYSQL_HOST="db", MYSQL_USER="app", MYSQL_DB="posts", MYSQL_PASS_FILE=str(secret))
    monkeypatch.setattr(serve, "check_app", lambda url: None)  # db: no such host here
    result = CliRunner().invoke(cli, ["serve", "--socket", "/tmp/x.sock"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "postctl: serving mysql+mysqldb://app:***@db/posts?charset=utf8mb4 on uwsgi:///tmp/x.sock\n"
    )
    assert seen and seen[0]["MYSQL_PASS_FILE"] == str(secret)
    assert "POSTCTL_DATABASE_URL" not in seen[0]
    assert not [k for k, v in seen[0].items() if "Very$ecret" in v]


@pytest.mark.parametrize(("options", "expected"), [
    ({"threads": b"8"}, 8), ({"threads": [b"2", b"3"]}, 3), ({}, None),
    ({"threads": b"x"}, None), ({"threads": b"0"}, None),
])  # fmt: skip
def test_wsgi_reads_the_thread_count_from_uwsgi_options(
    options: dict[str, object], expected: int | None
) -> None:
    from postctl import wsgi

    assert wsgi.threads(options) == expected


def test_each_worker_pools_a_connection_per_thread(tmp_path: Path) -> None:
    """Under `postctl serve` the pool holds as many connections as a worker has threads.

    SQLAlchemy keeps 5; with 8 threads the other three would connect per request.
    """
    (tmp_path / "probe.py").write_text(
        "import os\n"
        "from postctl import wsgi\n"
        "from postctl.web_base import engine_of\n"
        "print('pool size', engine_of(wsgi.app).get().pool.size(), flush=True)\n"
        "os._exit(0)\n"
    )
    options = serve.ServeOptions(port=free_port(), threads=7, module="probe:app")
    argv = [*serve.uwsgi_command(UWSGI, options), "--pythonpath", str(tmp_path)]
    (tmp_path / "p.db").touch()  # an empty SQLite file: the probe only makes the engine
    env = {**os.environ, "POSTCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    done = servers.run(argv, text=True, timeout=30, env=env, cwd=REPO)
    assert "\npool size 7\n" in done.stderr, done.stderr  # uWSGI logs print()s on stderr
