"""One source per unit: read a MyST-markdown unit file and split it per framework.

Marks used in the source (see ``units/README.md``):

* ``+++ {"framework": "pytorch"}`` before a markdown cell, or ``:framework: pytorch``
  in a code cell's options: the cell exists only in that framework's notebook.
  Cells without the mark are shared.
* ``{{framework}}`` (PyTorch / TensorFlow) and ``{{fw}}`` (pytorch / tensorflow)
  are replaced in every cell.
* ``:grade: solution | tests | readonly | answer`` with ``:grade_id:`` and
  ``:points:`` become nbgrader cell metadata (autograded answer, autograder tests,
  read-only cell, manually graded answer).
"""
from __future__ import annotations

import copy
from pathlib import Path

import jupytext
import nbformat

from course.author import cells as marks
from course.author import inputs
from course.frameworks import TITLES as FRAMEWORK_TITLES
from course.layout import PACKAGE_NAME, GITHUB_REPO, Unit, colab_url


class SourceError(ValueError):
    """The unit source has a mistake; the message says where."""


def read_source(path: Path) -> nbformat.NotebookNode:
    """Parse a unit source (jupytext MyST markdown) into one notebook with all cells."""
    try:
        return jupytext.read(path, fmt="myst")
    except FileNotFoundError:
        raise SourceError(f"{path}: source file not found") from None
    except Exception as exc:
        raise SourceError(f"{path}: cannot parse as MyST markdown: {exc}") from exc


def cell_framework(cell, where: str = "") -> str | None:
    fw = cell.metadata.get("framework")
    if fw is not None and fw not in FRAMEWORK_TITLES:
        raise SourceError(f"{where}unknown framework {fw!r} (use pytorch or tensorflow) "
                          f"in cell: {cell.source[:60]!r}")
    return fw


def inputs_digest(unit: Unit, kind: str, framework: str) -> str:
    """Hash of everything the framework's notebook depends on (course/author/inputs.py)."""
    return _digest(unit, kind, framework, _cells(unit, kind, framework))


def _digest(unit: Unit, kind: str, framework: str, cells: list) -> str:
    source = unit.lesson_source if kind == "lesson" else unit.assignment_source
    code = [c.source for c in cells if c.cell_type == "code"]
    return inputs.inputs_digest(unit.layout.root, kind, framework,
                                source.read_bytes().decode(), code)


def _nbgrader_meta(cell, index: int, source: Path) -> dict | None:
    kind = cell.metadata.pop("grade", None)
    grade_id = cell.metadata.pop("grade_id", None)
    points = cell.metadata.pop("points", None)
    if kind is None:
        if grade_id is not None or points is not None:
            raise SourceError(f"{source}: cell {index} has grade_id/points but no :grade:")
        return None
    where = f"{source}: cell {index} ({kind})"
    if kind not in ("solution", "tests", "readonly", "answer"):
        raise SourceError(f"{where}: :grade: must be solution, tests, readonly or answer")
    if not grade_id:
        raise SourceError(f"{where}: a graded cell needs :grade_id:")
    meta = {"grade_id": str(grade_id), "schema_version": 3, "task": False,
            "solution": kind in ("solution", "answer"), "grade": kind in ("tests", "answer"),
            "locked": kind in ("tests", "readonly")}
    if meta["grade"]:
        if points is None or float(points) <= 0:
            raise SourceError(f"{where}: graded cells need :points: > 0")
        meta["points"] = points
    if kind == "tests" and cell.cell_type != "code":
        raise SourceError(f"{where}: tests must be code cells")
    if kind == "solution" and "### BEGIN SOLUTION" not in cell.source:
        raise SourceError(f"{where}: solution cells need ### BEGIN SOLUTION / ### END SOLUTION")
    return meta


def _header_cells(unit: Unit, kind: str, framework: str, out_path: Path) -> list:
    layout = unit.layout
    src = layout.rel(unit.lesson_source if kind == "lesson" else unit.assignment_source)
    rel_out = layout.rel(out_path) if kind == "lesson" else \
        layout.rel(unit.assignment(framework))
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({colab_url(rel_out)})")
    what = "lesson" if kind == "lesson" else "assignment"
    header = nbformat.v4.new_markdown_cell(
        f"{badge}\n\n*Generated file: do not edit. This {FRAMEWORK_TITLES[framework]} "
        f"{what} notebook is built by `course build` from `{src}`; edit that source "
        f"and rebuild.*")
    install = nbformat.v4.new_code_cell(
        "# Colab or a fresh machine: install the course toolkit if it is missing.\n"
        "import importlib.util\n"
        "if importlib.util.find_spec(\"course\") is None:\n"
        f"    get_ipython().run_line_magic(\"pip\", \"install -q "
        f"'{PACKAGE_NAME} @ git+https://github.com/{GITHUB_REPO}'\")")
    header.id, install.id = "generated", "install"
    return [header, install]


def build_notebook(unit: Unit, kind: str, framework: str) -> nbformat.NotebookNode:
    """The framework's notebook of a unit, unexecuted, with nbgrader marks applied."""
    source_path = unit.lesson_source if kind == "lesson" else unit.assignment_source
    cells = _cells(unit, kind, framework)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                       "language": "python"},
        "language_info": {"name": "python"},
        "course": {"unit": unit.slug, "kind": kind, "framework": framework,
                   "generated_from": unit.layout.rel(source_path),
                   "inputs_sha256": _digest(unit, kind, framework, cells)},
    }
    return nb


def _cells(unit: Unit, kind: str, framework: str) -> list:
    source_path = unit.lesson_source if kind == "lesson" else unit.assignment_source
    combined = read_source(source_path)
    out_path = unit.lesson(framework) if kind == "lesson" else unit.solution(framework)
    cells = _header_cells(unit, kind, framework, out_path)
    for index, cell in enumerate(combined.cells):
        fw = cell_framework(cell, f"{source_path}: cell {index}: ")
        if fw not in (None, framework):
            continue
        cell = copy.deepcopy(cell)
        cell.metadata.pop("framework", None)
        cell.source = (cell.source.replace("{{framework}}", FRAMEWORK_TITLES[framework])
                       .replace("{{fw}}", framework))
        meta = _nbgrader_meta(cell, index, source_path)
        if meta is not None:
            if kind == "lesson":
                raise SourceError(f"{source_path}: lessons cannot have graded cells (cell {index})")
            cell.metadata["nbgrader"] = meta
        cell.id = f"c{index:03d}-{meta['grade_id']}" if meta else f"c{index:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    _check_unique_grade_ids(cells, source_path, framework)
    return cells


def _check_unique_grade_ids(cells, source: Path, framework: str) -> None:
    seen = set()
    for cell in cells:
        gid = marks.grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            raise SourceError(f"{source}: grade_id {gid!r} appears twice in the {framework} notebook")
        seen.add(gid)


def dumps(nb) -> str:
    """Serialise deterministically (sorted keys, trailing newline)."""
    return nbformat.writes(nb) + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically, and only when the bytes differ; True when written."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
