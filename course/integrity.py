"""Static checks of a submitted notebook, before anything runs.

* Is it a notebook at all (empty file, not JSON, not nbformat 4, none of the
  assignment's cells)? Then it is an *invalid notebook*, with the reason.
* Compared with the released student version: were locked cells (read-only and test
  cells) edited, deleted or duplicated, their nbgrader metadata changed (points, flags),
  or outputs written into hidden-test cells, which can only be empty when run? These
  are *tampering* findings. nbgrader and course/guarded.py restore every locked cell
  before grading, so none of them changes a score; they are reported to the instructor.
"""
from __future__ import annotations

import json

import nbformat

_FLAGS = ("grade", "solution", "locked", "points")


class InvalidNotebook(ValueError):
    """Not a gradable notebook; the message is for the instructor and the student."""


def read_notebook(data: bytes, name: str = "notebook") -> nbformat.NotebookNode:
    if not data.strip():
        raise InvalidNotebook(f"{name} is an empty file")
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidNotebook(f"{name} is not a text file (not a Jupyter notebook)") from None
    except json.JSONDecodeError as exc:
        raise InvalidNotebook(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}): the file is damaged or not a notebook") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise InvalidNotebook(f"{name} is JSON but not a Jupyter notebook (no list of cells)")
    if raw.get("nbformat") != 4:
        raise InvalidNotebook(f"{name} has notebook format {raw.get('nbformat')!r}; "
                              f"format 4 (Jupyter, Colab) is expected")
    # No stricter than nbgrader (which reads notebooks that fail schema validation, as
    # Colab's sometimes do): only cells it cannot read make a notebook invalid.
    for i, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw") \
                or not isinstance(cell.get("source", ""), (str, list)) \
                or not isinstance(cell.get("metadata", {}), dict):
            raise InvalidNotebook(f"{name}: cell {i + 1} is not a notebook cell (damaged file)")
    return nbformat.from_dict(raw)


def _ids(nb) -> dict:
    out: dict = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            out.setdefault(gid, []).append(cell)
    return out


def _norm(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def check_is_assignment(nb, released, name: str) -> None:
    ours = set(_ids(released))
    if ours and not ours & set(_ids(nb)):
        raise InvalidNotebook(f"{name} has none of the assignment's cells: is it the right "
                              f"notebook (the one released for this assignment)?")


def findings(nb, released, hidden_test_ids=()) -> list[str]:
    """Tampering visible in the file itself (compared with the released version)."""
    out = []
    theirs = _ids(nb)
    known = _ids(released)
    for gid, cells in known.items():
        ref = cells[0]
        meta = ref.metadata.get("nbgrader", {})
        if not meta.get("locked"):
            continue
        kind = "test cell" if meta.get("grade") else "read-only cell"
        got = theirs.get(gid, [])
        if not got:
            out.append(f"{kind} {gid} was deleted (restored for grading)")
            continue
        if len(got) > 1:
            out.append(f"{kind} {gid} appears {len(got)} times (the copies were ignored)")
        cell = got[0]
        if _norm(cell.get("source", "")) != _norm(ref.source):
            out.append(f"{kind} {gid} was edited (restored for grading)")
        their_meta = cell.get("metadata", {}).get("nbgrader", {})
        changed = [f for f in _FLAGS if f in meta and their_meta.get(f) != meta.get(f)]
        if changed or cell.get("cell_type") != ref.cell_type:
            out.append(f"{kind} {gid}: nbgrader metadata changed ({', '.join(changed) or 'cell type'}; "
                       f"restored for grading)")
        if gid in hidden_test_ids and any(c.get("outputs") for c in got):
            out.append(f"hidden-test cell {gid} carries outputs it cannot produce when run "
                       f"(fabricated; cleared for grading)")
    unknown = sorted(set(theirs) - set(known))
    if unknown:
        out.append(f"cells with grade ids that are not in the assignment: {', '.join(unknown[:5])}")
    return out


def hidden_test_ids(source_nb) -> set:
    return {c.metadata["nbgrader"]["grade_id"] for c in source_nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and "BEGIN HIDDEN TESTS" in c.source}
