"""The import graph of the rooms (every import, at module level or inside a function):
imports run one way (README, "A tour of the rooms") and no module imports itself back
through others."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# room -> the rooms it may import (besides itself)
ALLOWED = {
    "yamlspec": set(),
    "workloads": {"yamlspec"},
    "arch": {"yamlspec"},
    "mapper": {"yamlspec", "workloads", "arch"},
    "sim": {"yamlspec", "workloads", "arch", "mapper"},
    "rtl": {"yamlspec", "workloads", "arch"},
    "experiments": {"yamlspec", "workloads", "arch", "mapper", "sim"},
}
EXCEPTIONS = {"rtl.cosim": {"sim"}}  # co-simulation compares the RTL with sim's models


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Project modules imported by `path` (relative imports resolved)."""
    out = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:  # `from pkg import mod` imports pkg.mod when it is one
                sub = f"{base}.{a.name}"
                out.add(sub if _is_module(sub) else base)
    return {m for m in out if m.split(".")[0] in ALLOWED}


def _is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for room in ALLOWED:
        for path in sorted((ROOT / room).rglob("*.py")):
            module = _module_name(path)
            graph[module] = _imports(path, module)
    return graph


def test_imports_run_one_way():
    upward = []
    for module, imported in _graph().items():
        room = module.split(".")[0]
        ok = ALLOWED[room] | {room} | EXCEPTIONS.get(module, set())
        upward += [f"{module} imports {m}" for m in sorted(imported)
                   if m.split(".")[0] not in ok]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ importing its own modules is how it exports them; a module
    # importing its own package back is not (that edge is the cycle).
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if n == m:
                continue
            if state.get(n) == 1:
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
