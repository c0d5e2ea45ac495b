"""What a generated notebook depends on: its source and the toolkit code it runs.

The toolkit part is every ``course`` module the notebook imports, followed through the
modules' own imports (those inside functions too, which run when the function does),
with the packages they sit in; and nothing else. A change to one of them makes the
notebook stale (a lesson is executed again, an assignment regenerated); a change to the
grader, which no notebook imports, does not.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

# Bump when the shape of generated notebooks changes: every notebook becomes stale.
FORMAT_VERSION = "2"


def _imported(tree: ast.AST, here: str = "", is_package: bool = False) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                parts = parts if is_package else parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n == "course" or n.startswith("course.")}


def _module_file(root: Path, name: str) -> Path | None:
    """The file of module ``name`` under ``root`` (the folder holding ``course/``)."""
    rel = Path(*name.split("."))
    for path in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


def toolkit_files(root: Path, code_cells: list[str]) -> list[Path]:
    """The ``course`` modules these cells import, recursively, as files under ``root``."""
    todo = set()
    for code in code_cells:
        lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            todo |= _imported(ast.parse("\n".join(lines)))
        except SyntaxError:
            continue
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):        # the packages above run first
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = _module_file(root, prefix)
            if path is None:
                continue                          # a name inside a module, not a module
            seen[prefix] = path
            todo |= _imported(ast.parse(path.read_text()), prefix, path.name == "__init__.py")
    return sorted(set(seen.values()))


def inputs_digest(root: Path, kind: str, framework: str, source_text: str,
                  code_cells: list[str]) -> str:
    """Hash of everything a generated notebook depends on (source, toolkit, format)."""
    h = hashlib.sha256()
    for part in (FORMAT_VERSION, kind, framework, source_text):
        h.update(part.encode() + b"\0")
    for path in toolkit_files(root, code_cells):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
