"""The docs cannot drift: examples run, the command reference matches --help."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import CONFIG_VARS, REPO

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)


def examples(path: Path) -> list[tuple[str, str]]:
    """Return (command, expected output) for every `$ ` line of the file's console blocks."""
    found = []
    for block in CONSOLE_BLOCK.findall(path.read_text(encoding="utf-8")):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            found.append((command, expected))
    return found


def matches(expected: str, actual: str) -> bool:
    """Compare line by line; `...` in an expected line stands for any text."""
    want = [line.rstrip() for line in expected.rstrip("\n").splitlines()]
    have = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    if len(want) != len(have):
        return False
    patterns = (re.escape(line).replace(re.escape("..."), ".*") for line in want)
    return all(re.fullmatch(p, line) for p, line in zip(patterns, have, strict=True))


def test_matches_understands_ellipsis() -> None:
    assert matches("Loaded 5 rows...\n", "Loaded 5 rows in 0.1 s\n")
    assert not matches("Loaded 5 rows...\n", "Loaded 6 rows in 0.1 s\n")
    assert not matches("a\n", "a\nb\n")


MARKER = "@@ postctl docs example done @@"
# A network namespace of the page's own, when this machine allows one (as root):
# an example's `postctl serve --port 8080 &` can then never meet another server.
NETNS = ["unshare", "--net", "--"]


def _netns_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    done = servers.run([*NETNS, "ip", "link", "set", "lo", "up"], timeout=30)
    return done.returncode == 0


def page_script(commands: list[str]) -> str:
    """One shell runs a page: variables and background servers carry from line to line."""
    lines = ["ip link set lo up 2>/dev/null"]
    for command in commands:
        lines.append(f"{{ {command}\n}} < /dev/null 2>&1; printf '\\n%s\\n' '{MARKER}'")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", [p for p in DOC_FILES if examples(p)], ids=lambda p: p.name)
def test_shell_examples_print_what_they_show(path: Path, tmp_path: Path) -> None:
    """Run a page's examples in order in one shell, in a fresh directory with the fixtures.

    On SQLite, in a network namespace of its own where possible; whatever an
    example leaves running is killed with the shell's process group.
    """
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures")
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.pop("POSTCTL_DATABASE_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    found = examples(path)
    (tmp_path / ".page.sh").write_text(page_script([command for command, _ in found]))
    argv = [*NETNS, "bash", ".page.sh"] if _netns_works() else ["bash", ".page.sh"]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        printed, _ = proc.communicate(timeout=60 + 10 * len(found))
    finally:
        with contextlib.suppress(ProcessLookupError):  # servers an example started, if any
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    outputs = printed.split(f"\n{MARKER}\n")
    for (command, expected), actual in zip(found, outputs, strict=False):
        assert matches(expected, actual), (
            f"{path.name}: $ {command}\n--- shown\n{expected}--- printed\n{actual}"
        )
    assert len(outputs) == len(found) + 1, f"{path.name}: the page stopped early:\n{printed}"


def test_command_reference_is_generated_from_help() -> None:
    done = servers.run(
        [sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--check"], text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    done = servers.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=REPO,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "commands" / "index.html").exists()
