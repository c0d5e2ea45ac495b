"""Reading the instructor's cells as the checker runs them (no cell is executed here)."""
from __future__ import annotations

import ast

from course.author.cells import HIDDEN_BEGIN, HIDDEN_END


def transform_cell(code: str) -> str:
    """A cell's code as IPython would run it (magics become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - plain Python is fine without IPython
        return code


def hidden_test_lines(code: str) -> frozenset:
    """Line numbers (1-based) inside ``### BEGIN/END HIDDEN TESTS`` regions; an unclosed
    region runs to the end of the cell."""
    lines, inside = set(), False
    for number, line in enumerate(code.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            lines.add(number)
        if HIDDEN_END in line:
            inside = False
    return frozenset(lines)


class _Bindings(ast.NodeVisitor):
    """Top-level names a cell binds; function, class and comprehension bodies are local."""

    def __init__(self):
        self.names = set()

    def visit_FunctionDef(self, node):
        self.names.add(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_Import(self, node):
        self.names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}

    visit_ImportFrom = visit_Import


def bound_names(code: str) -> set:
    """Names a cell binds at top level (instructor cells: never taken from the student)."""
    try:
        tree = ast.parse(transform_cell(code))
    except SyntaxError:
        return set()
    visitor = _Bindings()
    visitor.visit(tree)
    return visitor.names
