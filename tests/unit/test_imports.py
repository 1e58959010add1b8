"""The shape of monitor/: no import cycles, no module too long to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

MONITOR = Path(__file__).resolve().parents[2] / "monitor"
#: About the most a module may have and still be read in one sitting.
MAX_LINES = 700


def module_name(path: Path) -> str:
    parts = path.relative_to(MONITOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, name: str, modules: set[str], *, package: bool = False) -> set[str]:
    """Every module of ``modules`` that module ``name`` imports anywhere: at the top,
    under TYPE_CHECKING, or inside a function."""
    home = name if package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = home.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from monitor import yamlpos` imports the submodule; `from monitor.x import
            # name` imports monitor.x.
            subs = {f"{base}.{alias.name}" for alias in node.names} & modules
            found |= subs
            if len(subs) < len(node.names):
                found.add(base)
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    paths = sorted(MONITOR.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {
        module_name(p): imports(
            p.read_text(encoding="utf-8"), module_name(p), modules, package=p.name == "__init__.py"
        )
        for p in paths
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(edges):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_cycle_finder_sees_imports_hidden_in_functions_and_type_checking():
    """An import inside a function or under TYPE_CHECKING is an edge, and closes a cycle."""
    modules = {"monitor.a", "monitor.b", "monitor.c"}
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from monitor.b import x\n"
    source += "def f():\n    from monitor import c\n    from . import b\n"
    assert imports(source, "monitor.a", modules) == {"monitor.b", "monitor.c"}
    edges = {"monitor.a": {"monitor.b"}, "monitor.b": {"monitor.c"}, "monitor.c": {"monitor.a"}}
    assert find_cycle(edges) == ["monitor.a", "monitor.b", "monitor.c", "monitor.a"]
    assert find_cycle({"monitor.a": {"monitor.b"}, "monitor.b": set()}) is None


def test_no_import_cycle_in_monitor():
    """No module of monitor/ imports itself through others, counting TYPE_CHECKING and
    in-function imports."""
    assert find_cycle(graph()) is None


def test_imports_are_seen_wherever_they_are_written():
    """The graph sees the CLI's in-function imports (it imports the daemon lazily)."""
    edges = graph()
    assert "monitor.daemon" in edges["monitor.cli"]
    assert "monitor.yamlpos" in edges["monitor.config.loader"]


def test_no_module_is_too_long_to_read_in_one_sitting():
    """Every module of monitor/ stays within MAX_LINES lines."""
    long = {
        module_name(p): n
        for p in MONITOR.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
