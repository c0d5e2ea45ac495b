"""Shared fixtures: the repository layout, its units, and one real grading run per unit."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from course.author import fixtures
from course.qa import selfcheck
from course.layout import Layout, all_units

LAYOUT = Layout.default()
UNITS = all_units(LAYOUT)
GRADED_UNITS = [u for u in UNITS if u.fixtures_file.exists()]
# What a copy of the repository needs for building and checking units.
REPO_PARTS = ["course", "units", "lessons", "solutions", "assignments", "autograder/demo"]


def copy_repo(dest: Path) -> Layout:
    """Copy the parts of the repository a build or check reads into ``dest``."""
    for name in REPO_PARTS:
        if (LAYOUT.root / name).exists():
            shutil.copytree(LAYOUT.root / name, dest / name)
    return Layout(dest)


def tree_digest(folder: Path) -> str:
    """Hash of every file's path and bytes under ``folder`` (to prove nothing changed)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def layout() -> Layout:
    return LAYOUT


@pytest.fixture(scope="session", params=GRADED_UNITS, ids=lambda u: u.slug)
def graded(request, tmp_path_factory):
    """Grade a unit's demo class for real with nbgrader, once per test session."""
    unit = request.param
    demo = unit.layout.demo / "submitted"
    before = tree_digest(demo)
    workspace = tmp_path_factory.mktemp(f"grade-{unit.slug}")
    result, problems = selfcheck.grade_fixtures(unit, workspace, progress=False)
    return {"unit": unit, "result": result, "problems": problems, "workspace": workspace,
            "rows": {r.student: r for r in result.rows}, "fixtures": fixtures.load(unit),
            "demo_digest_before": before, "demo_digest_after": tree_digest(demo)}
