"""Static checks of a submitted notebook, before anything runs.

* Is it a notebook at all (empty file, not JSON, not nbformat 4, none of the
  assignment's cells)? Then it is an *invalid notebook*, with the reason.
* Compared with the released student version: were locked cells (read-only and test
  cells) edited or deleted, any known cell's nbgrader metadata changed (points, flags),
  cells the assignment does not have marked for grading, or outputs written into
  hidden-test cells, which can only be empty when run? These are *tampering* findings.
  Grading restores every known cell (course/grade/sanitize.py), so none of them changes a
  score; they are reported to the instructor. A pasted copy of a cell is only a note.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import nbformat

from course.author import cells

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


_ids = cells.by_grade_id


def _norm(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def check_is_assignment(nb, released, name: str) -> None:
    ours = set(_ids(released))
    if ours and not ours & set(_ids(nb)):
        raise InvalidNotebook(f"{name} has none of the assignment's cells: is it the right "
                              f"notebook (the one released for this assignment)?")


@dataclass
class Inspection:
    """What the file itself shows, compared with the released version."""
    findings: list = field(default_factory=list)   # tampering, for the instructor
    notes: list = field(default_factory=list)      # harmless changes (a pasted test cell)
    metadata_only: bool = True                     # every finding is a metadata edit


def choose_copies(nb_cells, order: list) -> dict:
    """{grade_id: index of the copy to keep}: the release's order wins (a test cell pasted
    above its answer would otherwise run before the answer exists)."""
    where: dict = {}
    for i, cell in enumerate(nb_cells):
        gid = cells.grade_id(cell)
        if gid is not None:
            where.setdefault(gid, []).append(i)
    keep, last = {}, -1
    for gid in order:
        spots = where.get(gid)
        if not spots:
            continue
        after = [i for i in spots if i > last]
        keep[gid] = after[0] if after else spots[-1]
        last = max(last, keep[gid])
    return keep


def inspect(nb, released, hidden_test_ids=()) -> Inspection:
    """Tampering and harmless changes visible in the file, before anything is restored.

    Grading restores every known cell's metadata (course/grade/sanitize.py), so none of these
    changes a score; metadata edits alone are reported but never cost the notebook its
    points, even with ``--on-tamper zero``."""
    out = Inspection()

    def finding(text, kind):
        out.findings.append(text)
        out.metadata_only = out.metadata_only and kind == "metadata"

    known = _ids(released)
    order = list(known)
    keep = choose_copies(nb.cells, order)
    theirs = _ids(nb)
    for gid, copies in known.items():
        ref = copies[0]
        meta = cells.marks(ref)
        locked = bool(meta.get("locked"))
        kind = ("test cell" if meta.get("grade") else "read-only cell") if locked \
            else "answer cell"
        got = theirs.get(gid, [])
        if not got:
            if locked:
                finding(f"{kind} {gid} was deleted (restored for grading)", "cell")
            continue
        cell = nb.cells[keep[gid]] if gid in keep else got[0]
        if len(got) > 1:
            out.notes.append(f"{kind} {gid} appears {len(got)} times: the copy in the "
                             f"assignment's place was graded, the others ran as your own cells")
        if locked and _norm(cell.get("source", "")) != _norm(ref.source):
            finding(f"{kind} {gid} was edited (restored for grading)", "cell")
        their_meta = cells.marks(cell)
        changed = [f for f in _FLAGS if their_meta.get(f, False if f != "points" else None)
                   != meta.get(f, False if f != "points" else None)]
        if changed or cell.get("cell_type") != ref.cell_type:
            finding(f"{kind} {gid}: nbgrader metadata changed "
                    f"({', '.join(changed) or 'cell type'}; the release's was used)", "metadata")
        if gid in hidden_test_ids and any(c.get("outputs") for c in got):
            finding(f"hidden-test cell {gid} carries outputs it cannot produce when run "
                    f"(fabricated; cleared for grading)", "output")
    unknown = sorted(set(theirs) - set(known))
    flagged = [c for c in nb.cells if not cells.grade_id(c)
               and (cells.marks(c).get("grade") or cells.marks(c).get("solution"))]
    if unknown or flagged:
        names = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        what = names if names else f"{len(flagged)} cell(s) without a grade id"
        finding(f"cells the assignment does not have were marked for grading: {what} "
                f"(graded as ordinary cells: they earn nothing)", "metadata")
    return out


def findings(nb, released, hidden_test_ids=()) -> list[str]:
    """The tampering findings alone (see :func:`inspect`)."""
    return inspect(nb, released, hidden_test_ids).findings


def hidden_test_ids(source_nb) -> set:
    return {cells.grade_id(c) for c in source_nb.cells if cells.has_hidden_tests(c)}
