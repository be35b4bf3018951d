"""The shape of the package (docs/architecture.md): no import cycles, the engine free of UI and commands,
and the command line cheap to start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "workbench"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The workbench modules `path` imports, at module level or inside functions; imports only for type
    checkers (under `if TYPE_CHECKING:`) do not run and are left out."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    if candidate in modules:
                        found.add(candidate)
                    elif base in modules:
                        found.add(base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "workbench.engine.drafters" in graph["workbench.engine.session"]  # from .drafters import ...
    assert "workbench.args" in graph["workbench.headless"]  # from .args import ...
    # an import inside a function counts too
    assert "workbench.args" in graph["workbench.export"]  # export._settings: from .args import ...


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_engine_imports_no_ui_and_no_command():
    outside = ("workbench.app", "workbench.cli", "workbench.args", "workbench.launch", "workbench.headless",
               "workbench.bench")
    for path in (PACKAGE / "engine").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not names & {"textual", "rich", "textual_plotext", "plotext"}, path
        assert not any(m.startswith(outside) for m in import_graph()[module_name(path)]), path


def test_importing_the_package_and_asking_for_help_loads_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "import workbench, workbench.cli as c\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        c.main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    for sub in ('run', 'bench', 'tune', 'demo', 'replay', 'results', 'experts'):\n"
            "        try:\n"
            "            c.main([sub, '--help'])\n"
            "        except SystemExit:\n"
            "            pass\n"
            "print(','.join(m for m in ('llama_cpp', 'textual', 'numpy', 'rich', 'gguf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
