"""The package's shape: imports run one way, modules stay small, the docs map every module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import REPO

PACKAGE = REPO / "postctl"
MAX_LINES = 300


def module_name(path: Path, root: Path) -> str:
    """Name the module a file defines: postctl/fixtures/load.py is postctl.fixtures.load."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Map each module of the package at root to the package's modules it imports, anywhere in it.

    Imports inside functions count too: a cycle through a lazy import is a cycle still.
    """
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from a import b` imports module a.b when there is one, else a name of a.
                found.update(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                )
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle per group of modules that import each other, first module repeated last."""
    found = []
    for group in _strongly_connected(graph):
        start = min(group)
        if len(group) > 1 or start in graph[start]:
            found.append(_cycle_through(graph, start, group))
    return sorted(found)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of modules each reachable from every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _cycle_through(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    """Return the shortest path of imports from start back to start, inside the group."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")


def test_postctl_has_no_import_cycle() -> None:
    found = cycles(import_graph(PACKAGE))
    assert found == [], "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_cycle_check_finds_and_names_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text("import pkg.a\nimport os\n")
    (package / "d.py").write_text("from pkg import a\n")
    graph = import_graph(package)
    assert graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_module_is_at_most_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines"


def test_the_rules_import_only_the_standard_library() -> None:
    code = (
        "import sys; import postctl.rules; "
        "print(sorted(m for m in sys.modules if m.startswith(('postctl', 'sqlalchemy', 'click'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "['postctl', 'postctl.rules']\n"


def test_showing_a_post_does_not_import_the_fixture_engine(loaded: Engine, db_url: str) -> None:
    code = f"""
import sys
from postctl.cli import cli
cli(["--database-url", {db_url!r}, "show-post", "1"], standalone_mode=False)
print(sorted(m for m in sys.modules if m.startswith("postctl.fixtures.")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.endswith("me@me.com\ncreated_time  2018-10-03 12:30:00\n[]\n"), done.stdout


def documented_modules() -> list[str]:
    """The module paths docs/architecture.md's module map names, in order."""
    text = (REPO / "docs" / "architecture.md").read_text()
    return re.findall(r"^\| `(postctl/[\w/]+\.py)` \|", text, re.MULTILINE)


def test_the_architecture_page_maps_every_module_once() -> None:
    actual = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py"))
    documented = documented_modules()
    assert sorted(documented) == actual
    assert len(set(documented)) == len(documented)
