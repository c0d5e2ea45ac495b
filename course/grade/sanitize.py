"""nbgrader's sanitize step, hardened: what a submission may bring into grading.

Three preprocessors run, in this order, before anything of the submission executes
(course/grade/autograde.py registers them in ``Autograde.sanitize_preprocessors``):

* :class:`LeaveOutFiles` — only the assignment's notebooks are graded. Any other file
  submitted beside them (a ``numpy.py`` that would shadow NumPy, say) is removed from the
  grading folder and named in the notebook's notes; it never reaches a kernel, the
  trusted checker or the grader.
* :class:`CheckIntegrity` — compares the notebook *as submitted* with the released one
  (course/grade/integrity.py) and writes the findings and notes into the notebook's metadata,
  where the execute step and the batch engine read them.
* :class:`RestoreCells` — every cell the assignment knows gets the release's nbgrader
  metadata (and a locked cell its source and type); copies of a cell are set aside,
  keeping the one in the release's order; cells with grade ids the assignment does not
  know lose their nbgrader metadata, so they earn nothing; deleted locked cells come
  back. Honest work is graded whatever was done to the metadata.

What these steps learn is kept in ``nb.metadata["course"]["grading"]`` (never trusted as
submitted: :class:`CheckIntegrity` overwrites it first).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from course.author import cells
from course.grade import integrity

TIMESTAMP = "timestamp.txt"   # nbgrader's own record of the submission time
SECRET = "submission_secret.txt"   # nbgrader's key for releasing the submission's feedback
NBGRADER_FILES = (TIMESTAMP, SECRET)


def grading_meta(nb) -> dict:
    """The grader's notes about this notebook, kept in its metadata."""
    course = nb.metadata.setdefault("course", {})
    if not isinstance(course, dict):
        course = nb.metadata["course"] = {}
    meta = course.get("grading")
    if not isinstance(meta, dict):
        meta = course["grading"] = {}
    return meta


def _coursedir(pp):
    # nbgrader registers preprocessors on its exporter, whose parent is the converter
    return getattr(getattr(pp.parent, "parent", None), "coursedir", None)


def _course_root(pp, resources) -> Path:
    coursedir = _coursedir(pp)
    if coursedir is not None:
        return Path(coursedir.root)
    db = str(resources["nbgrader"]["db_url"]).replace("sqlite:///", "", 1)
    return Path(db).parent


def left_out_note(names) -> str:
    names = sorted(names)
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"not graded (only the assignment's notebooks are): {shown}"


def other_files(folder: Path) -> list[str]:
    """Files in a submission besides its notebooks and nbgrader's own two files."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_dir() or path.name in NBGRADER_FILES and path.parent == folder:
            continue
        if path.suffix == ".ipynb" and path.parent == folder:
            continue
        if ".ipynb_checkpoints" in path.parts:
            continue
        out.append(rel)
    return out


class LeaveOutFiles(NbGraderPreprocessor):
    """Remove every non-notebook file from the grading folder; name them in the notes."""

    def preprocess(self, nb, resources):
        nbg = resources["nbgrader"]
        coursedir = _coursedir(self)
        names = set()
        if coursedir is not None:
            for step in (coursedir.submitted_directory, coursedir.autograded_directory):
                folder = Path(coursedir.format_path(step, nbg["student"], nbg["assignment"]))
                names |= set(other_files(folder))
            graded = Path(coursedir.format_path(coursedir.autograded_directory, nbg["student"],
                                                nbg["assignment"]))
            _remove_other_files(graded)
        resources.setdefault("course", {})["left_out"] = sorted(names)
        return nb, resources


def _remove_other_files(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(folder)
        if path.is_symlink() or path.is_file():
            if (path.suffix == ".ipynb" or path.name in NBGRADER_FILES) and len(rel.parts) == 1:
                continue
            path.unlink()
        elif path.is_dir():
            try:
                path.rmdir()
            except OSError:
                pass


def _released(root: Path, assignment: str, notebook: str):
    return nbformat.read(root / "release" / assignment / f"{notebook}.ipynb", as_version=4)


def _source(root: Path, assignment: str, notebook: str):
    return nbformat.read(root / "source" / assignment / f"{notebook}.ipynb", as_version=4)


class CheckIntegrity(NbGraderPreprocessor):
    """Findings about the notebook as submitted, before anything is restored."""

    def preprocess(self, nb, resources):
        nbg = resources["nbgrader"]
        root = _course_root(self, resources)
        released = _released(root, nbg["assignment"], nbg["notebook"])
        name = f"{nbg['notebook']}.ipynb"
        integrity.check_is_assignment(nb, released, name)   # raises: invalid notebook
        source = _source(root, nbg["assignment"], nbg["notebook"])
        found = integrity.inspect(nb, released, integrity.hidden_test_ids(source))
        nb.metadata.setdefault("course", {})
        if not isinstance(nb.metadata["course"], dict):
            nb.metadata["course"] = {}
        left_out = resources.get("course", {}).get("left_out") or []
        nb.metadata["course"]["grading"] = {
            "findings": found.findings, "metadata_only": found.metadata_only,
            "notes": found.notes + ([left_out_note(left_out)] if left_out else [])}
        return nb, resources


class RestoreCells(NbGraderPreprocessor):
    """Every known cell with the release's metadata; copies and unknown cells set aside.

    nbgrader restores the *source* of locked cells and can re-add deleted *grade* cells;
    a deleted read-only cell, a test cell whose flags were flipped, an answer cell marked
    as graded or an extra graded cell would otherwise slip through or stop nbgrader
    (its "inconsistent checksums", an unknown grade cell), and the notebook would lose
    every point. Runs after ClearOutput and before DeduplicateIds and OverwriteCells.
    """

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook
        nbg = resources["nbgrader"]
        with Gradebook(nbg["db_url"]) as gb:
            source = gb.find_notebook(nbg["notebook"], nbg["assignment"])
            points = {c.name: float(c.max_score) for c in source.grade_cells}
            solutions = {c.name for c in source.solution_cells}
            known = [(c.name, c.cell_type, bool(c.locked), c.source, c.checksum)
                     for c in source.source_cells]
        order = [k[0] for k in known]
        by_name = {k[0]: k for k in known}
        keep = integrity.choose_copies(nb.cells, order)
        for i, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                continue
            gid = cells.grade_id(cell)
            if gid not in by_name or keep.get(gid) != i:
                del cell.metadata["nbgrader"]   # unknown, or a copy: plain student cell now
        nb.cells = _reinsert_deleted(nb.cells, known)
        for i, cell in enumerate(nb.cells):
            gid = cells.grade_id(cell)
            if gid not in by_name:
                continue
            name, cell_type, locked, src, checksum = by_name[gid]
            if cell.cell_type != cell_type:
                cell = nb.cells[i] = _retyped(cell, cell_type)
            meta = {"grade_id": gid, "locked": locked, "schema_version": 3,
                    "grade": gid in points, "solution": gid in solutions, "task": False,
                    "checksum": checksum}
            if gid in points:
                meta["points"] = points[gid]
            cell.metadata["nbgrader"] = meta
            if locked:
                cell.source = src
        return nb, resources


def _reinsert_deleted(nb_cells, known) -> list:
    out = list(nb_cells)
    for pos, (name, cell_type, locked, src, checksum) in enumerate(known):
        present = {cells.grade_id(c): i for i, c in enumerate(out) if cells.grade_id(c)}
        if not locked or name in present:
            continue
        new = nbformat.v4.new_code_cell(src) if cell_type == "code" \
            else nbformat.v4.new_markdown_cell(src)
        new.metadata["nbgrader"] = {"grade_id": name, "locked": True}
        before = [present[p] for p in (k[0] for k in known[:pos]) if p in present]
        out.insert(max(before) + 1 if before else 0, new)
    return out


def _retyped(cell, cell_type: str):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    new = make(cell.source)
    new.metadata = cell.metadata
    if "id" in cell:
        new.id = cell.id
    return new


def sanitize_preprocessors() -> list:
    """nbgrader's sanitize list with ours in place (see the module docstring)."""
    from nbgrader import preprocessors as pp
    return [LeaveOutFiles, CheckIntegrity, pp.ClearOutput, RestoreCells, pp.DeduplicateIds,
            pp.OverwriteKernelspec, pp.OverwriteCells, pp.CheckCellMetadata]

