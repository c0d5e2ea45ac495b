"""Build the hostile submissions of tests/grading/hostile/fixtures.yml into a folder."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from course.author import fixtures as fx_mod
from course.author import source as src
from course.layout import NOTEBOOKS, Unit

HERE = Path(__file__).resolve().parent
SPEC = HERE / "hostile" / "fixtures.yml"
ANSWER_PORT = 47613   # the answer server h-network tries to reach


@dataclass
class Hostile:
    student: str
    framework: str
    description: str
    item: dict
    expected: dict
    expected_rlimit: dict | None
    classic: float | None
    lost: dict | str = field(default_factory=dict)


def load() -> list[Hostile]:
    out = []
    for item in yaml.safe_load(SPEC.read_text())["fixtures"]:
        out.append(Hostile(item["student"], item.get("framework", "pytorch"),
                           item.get("description", ""), item, item["expected"],
                           item.get("expected_rlimit"), item.get("classic")))
    return out


def expected_for(h: Hostile, backend: str) -> dict:
    return h.expected_rlimit if backend == "rlimit" and h.expected_rlimit else h.expected


def expected_parts(unit: Unit, h: Hostile, backend: str) -> dict:
    exp = expected_for(h, backend)
    fx = fx_mod.Fixture(student=h.student, framework=h.framework, base="reference",
                        total=float(exp["total"]), lost=exp.get("lost") or {})
    return fx_mod.expected_parts(fx, fx_mod.max_points(unit, h.framework))


def notebook(unit: Unit, h: Hostile) -> bytes:
    item = h.item
    if "raw" in item:
        return item["raw"].encode()
    released = nbformat.read(unit.assignment(h.framework), as_version=4)
    fx = fx_mod.Fixture(student=h.student, framework=h.framework, base="reference",
                        solutions=item.get("solutions") or {}, tests=item.get("tests") or {})
    nb = fx_mod.make_submission(unit, fx, released)
    ids = lambda c: c.metadata.get("nbgrader", {}).get("grade_id")  # noqa: E731
    nb.cells = [c for c in nb.cells if ids(c) not in set(item.get("delete", []))]
    for gid in item.get("duplicate", []):
        i = next(i for i, c in enumerate(nb.cells) if ids(c) == gid)
        nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
    for gid, changes in (item.get("metadata") or {}).items():
        next(c for c in nb.cells if ids(c) == gid).metadata["nbgrader"].update(changes)
    for paste in item.get("paste", []):  # a copy of a cell, pasted before another one
        cell = copy.deepcopy(next(c for c in nb.cells if ids(c) == paste["copy"]))
        nb.cells.insert(next(i for i, c in enumerate(nb.cells) if ids(c) == paste["before"]), cell)
    for extra in item.get("insert", []):  # a cell of the student's, with nbgrader metadata
        cell = nbformat.v4.new_code_cell(extra["source"])
        cell.metadata["nbgrader"] = dict(extra["nbgrader"])
        nb.cells.insert(next(i for i, c in enumerate(nb.cells) if ids(c) == extra["after"]) + 1, cell)
    if item.get("fake_outputs"):
        for i, cell in enumerate(nb.cells):
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
                cell.execution_count = i
                cell.outputs = [nbformat.v4.new_output(
                    "stream", name="stdout", text="✓ All visible tests passed.\n")]
    for i, cell in enumerate(nb.cells):  # copies must not share ids
        cell.id = f"h{i:03d}"
    return src.dumps(nb).encode()


def write_all(unit: Unit, folder: Path, hostiles: list[Hostile], trace: Path | None = None) -> None:
    """``folder/<student>/<unit>/<name>`` for each hostile submission, with the other files
    it submits beside the notebook (``{trace}`` in them: where a planted module would
    leave its trace, outside every sandbox)."""
    for h in hostiles:
        name = h.item.get("filename", NOTEBOOKS[h.framework])
        path = folder / h.student / unit.slug / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(notebook(unit, h))
        for rel, text in (h.item.get("files") or {}).items():
            extra = path.parent / rel
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_text(text.replace("{trace}", str(trace or folder / ".trace")))


def planted_files() -> dict:
    """{student: [the files a hostile submission plants beside its notebook]}."""
    return {h.student: sorted(h.item["files"]) for h in load() if h.item.get("files")}


def reference_softmax(unit: Unit) -> str:
    nb = src.build_notebook(unit, "assignment", "pytorch")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    return fx_mod.reference_code(cell.source)
