"""An nbgrader workspace for a unit: its source notebooks (the solutions), the student
versions made by nbgrader's ``generate_assignment``, the gradebook and the config file.

One nbgrader *assignment* per unit holds both notebooks (``pytorch.ipynb`` and
``tensorflow.ipynb``); a unit's grade is the better of the two (course/report/gradebook.py).
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

from course.author import source
from course.frameworks import FRAMEWORKS
from course.grade.records import GradingError
from course.layout import NOTEBOOKS, Unit
from course.release.config import nbgrader_api


def _run(result: dict, what: str) -> None:
    if not result.get("success"):
        detail = (result.get("error") or "") + "\n" + (result.get("log") or "")
        raise GradingError(f"{what} failed:\n{detail.strip()}")


def prepare(unit: Unit, workspace: Path) -> None:
    """Copy the solutions into the workspace's source/ and register the assignment."""
    source_dir = workspace / "source" / unit.slug
    source_dir.mkdir(parents=True, exist_ok=True)
    for fw in FRAMEWORKS:
        path = unit.solution(fw)
        if not path.exists():
            raise GradingError(f"{path} is missing: run `course build {unit.slug}` first.")
        shutil.copyfile(path, source_dir / NOTEBOOKS[fw])
    (workspace / "nbgrader_config.py").write_text(
        "# Written by `course grade`; the settings live in course/release/config.py.\n"
        "from course.release.config import nbgrader_config\n"
        "from pathlib import Path\n"
        "c.merge(nbgrader_config(Path(__file__).absolute().parent))\n")
    with contextlib.redirect_stdout(io.StringIO()):
        _run(nbgrader_api(workspace).generate_assignment(unit.slug, force=True, create=True),
             f"nbgrader generate_assignment {unit.slug}")


def release_texts(unit: Unit) -> dict:
    """{assignments/<unit>/<fw>.ipynb: text} made by nbgrader's generate_assignment."""
    import nbformat

    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = Path(tmp)
        source_dir = root / "source" / unit.slug
        source_dir.mkdir(parents=True)
        for fw in FRAMEWORKS:
            text = source.dumps(source.build_notebook(unit, "assignment", fw))
            (source_dir / NOTEBOOKS[fw]).write_text(text)
        with contextlib.redirect_stdout(io.StringIO()):
            _run(nbgrader_api(root).generate_assignment(unit.slug, force=True, create=True),
                 f"nbgrader generate_assignment {unit.slug}")
        out = {}
        for fw in FRAMEWORKS:
            nb = nbformat.read(root / "release" / unit.slug / NOTEBOOKS[fw], as_version=4)
            out[unit.assignment(fw)] = source.dumps(nb)
        return out
