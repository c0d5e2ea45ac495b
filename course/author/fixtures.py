"""Sample submissions ("fixtures") made from a unit's ``fixtures.yml``.

Each fixture is the released student notebook of one framework with its answers
filled in the way a particular student would: the reference solution, nothing at
all, or realistic mistakes. Together they are the demo class graded by
``course demo`` and the cases the test suite asserts exact scores for.

``fixtures.yml``::

    fixtures:
      - student: naive-pytorch          # student id in the gradebook
        framework: pytorch
        base: reference                 # reference | untouched
        solutions: {grade_id: code}     # replace these answer cells
        tests: {grade_id: code}         # tamper with these test cells
        expected: {total: 15, lost: {test_softmax_hidden: 3}}
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from course.author import cells
from course.author import source as src
from course.layout import NOTEBOOKS, Unit

_SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


@dataclass
class Fixture:
    student: str
    framework: str
    base: str
    description: str = ""
    solutions: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    total: float = 0.0
    lost: dict = field(default_factory=dict)


def load(unit: Unit) -> list[Fixture]:
    if not unit.fixtures_file.exists():
        return []
    data = yaml.safe_load(unit.fixtures_file.read_text()) or {}
    out = []
    for item in data.get("fixtures", []):
        expected = item.get("expected", {})
        fx = Fixture(student=item["student"], framework=item["framework"],
                     base=item.get("base", "reference"),
                     description=item.get("description", ""),
                     solutions=item.get("solutions") or {}, tests=item.get("tests") or {},
                     total=float(expected["total"]), lost=expected.get("lost") or {})
        if fx.base not in ("reference", "untouched") or fx.framework not in NOTEBOOKS:
            raise ValueError(f"{unit.fixtures_file}: bad base/framework in fixture {fx.student}")
        out.append(fx)
    return out


def reference_code(cell_source: str) -> str:
    """The answer a student would write: the solution region without its markers."""
    return _SOLUTION.sub("", cell_source)


def make_submission(unit: Unit, fx: Fixture, released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    solution_nb = src.build_notebook(unit, "assignment", fx.framework)
    reference = {cells.grade_id(c): c.source for c in solution_nb.cells if cells.is_answer(c)}
    nb = copy.deepcopy(released)
    seen = set()
    for cell in nb.cells:
        gid = cells.grade_id(cell)
        if gid in fx.solutions:
            cell.source = fx.solutions[gid].rstrip("\n")
        elif gid in fx.tests:
            cell.source = fx.tests[gid].rstrip("\n")
        elif gid in reference and fx.base == "reference":
            cell.source = reference_code(reference[gid]).rstrip("\n")
        else:
            continue
        seen.add(gid)
    missing = (set(fx.solutions) | set(fx.tests)) - seen
    if missing:
        raise ValueError(f"fixture {fx.student}: no cell with grade_id {sorted(missing)}")
    return nb


def demo_path(unit: Unit, fx: Fixture) -> Path:
    return unit.layout.demo / "submitted" / fx.student / unit.slug / NOTEBOOKS[fx.framework]


def stale_demo_folders(unit: Unit) -> list[Path]:
    """Demo-submission folders of ``unit`` that no fixture writes any more (removed or renamed)."""
    keep = {demo_path(unit, fx).parent for fx in load(unit)}
    root = unit.layout.demo / "submitted"
    return sorted(p for p in root.glob(f"*/{unit.slug}") if p.is_dir() and p not in keep)


def demo_texts(unit: Unit) -> dict:
    """{autograder/demo/submitted/<student>/<unit>/<fw>.ipynb: text} for every fixture."""
    out = {}
    for fx in load(unit):
        released = nbformat.read(unit.assignment(fx.framework), as_version=4)
        out[demo_path(unit, fx)] = src.dumps(make_submission(unit, fx, released))
    return out


def expected_parts(fx: Fixture, max_points: dict) -> dict:
    """Expected score of every graded cell: full points minus what the fixture loses."""
    if fx.lost == "all":
        return {gid: 0.0 for gid in max_points}
    unknown = set(fx.lost) - set(max_points)
    if unknown:
        raise ValueError(f"fixture {fx.student}: unknown grade ids in lost: {sorted(unknown)}")
    return {gid: pts - float(fx.lost.get(gid, 0)) for gid, pts in max_points.items()}


def max_points(unit: Unit, framework: str) -> dict:
    nb = src.build_notebook(unit, "assignment", framework)
    return {cells.grade_id(c): float(cells.marks(c)["points"])
            for c in nb.cells if cells.marks(c).get("grade")}
