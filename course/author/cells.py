"""A cell's nbgrader marks, read one way everywhere.

Works on nbformat nodes and on plain dicts (a submission that failed validation): a
cell's ``nbgrader`` metadata is a dict or it is absent; anything else counts as absent.
"""
from __future__ import annotations

HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def marks(cell) -> dict:
    """The cell's nbgrader metadata (an empty dict when it has none)."""
    meta = (cell.get("metadata") or {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    gid = marks(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_test(cell) -> bool:
    """An autograder test cell: graded code that is not an answer."""
    meta = marks(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_readonly_code(cell) -> bool:
    meta = marks(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("locked")) \
        and not meta.get("grade") and not meta.get("solution")


def is_answer(cell) -> bool:
    return bool(marks(cell).get("solution"))


def label(cell, index: int) -> str:
    """How grading names a cell: its grade id, else its position."""
    return grade_id(cell) or f"cell {index + 1}"


def has_hidden_tests(cell) -> bool:
    return bool(marks(cell).get("grade")) and HIDDEN_BEGIN in "".join(cell.get("source", ""))


def by_grade_id(nb) -> dict:
    """{grade_id: [cells with it, in order]}."""
    out: dict = {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid:
            out.setdefault(gid, []).append(cell)
    return out
