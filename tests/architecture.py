"""The toolkit's import graph, read from the source (no module is imported).

Every ``import`` and ``from ... import`` of a ``course`` module counts, at any depth
(imports inside functions too): those run as soon as the function does.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "course"


@dataclass
class Module:
    name: str                 # course.grade.worker
    path: Path
    lines: int
    imports: set = field(default_factory=set)            # course modules it imports
    private_uses: list = field(default_factory=list)     # (module, name) for _names taken
    externals: set = field(default_factory=set)          # top-level non-course packages


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Module]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        found[name] = Module(name, path, len(path.read_text().splitlines()))
    for mod in found.values():
        _read_imports(mod, found)
    return found


def _resolve(mod: Module, node) -> str:
    if not node.level:
        return node.module or ""
    base = mod.name.split(".")
    if mod.path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _read_imports(mod: Module, known: dict) -> None:
    tree = ast.parse(mod.path.read_text(), filename=str(mod.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _add(mod, alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node)
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in known:       # `from course.grade import worker`: the module
                    _add(mod, full, known)
                else:
                    _add(mod, target, known)
                    if alias.name.startswith("_") and not alias.name.startswith("__") \
                            and target.startswith("course") and target != mod.name:
                        mod.private_uses.append((target, alias.name))


def _add(mod: Module, target: str, known: dict) -> None:
    if not (target == "course" or target.startswith("course.")):
        mod.externals.add(target.split(".")[0])
        return
    # The module named (or, for a name inside one, the longest known module prefix).
    # The packages above it are not counted: a module importing a sibling would otherwise
    # "cycle" through every package __init__ that re-exports its children.
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if name in known:
            if name != mod.name:
                mod.imports.add(name)
            return


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph(mods: dict[str, Module]) -> dict[str, set]:
    """Module -> the course modules it imports."""
    return {name: set(m.imports) for name, m in mods.items()}


def reachable(mods: dict[str, Module], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in mods:
            continue
        seen.add(name)
        todo += sorted(mods[name].imports)
    return seen
