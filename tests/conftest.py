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


@pytest.fixture(scope="session")
def graded_units(request, tmp_path_factory) -> dict:
    """Every unit's demo class that this session's tests use, graded for real with
    nbgrader as **one** batch (as ``course demo`` does), once per test session."""
    wanted = {item.callspec.params["graded"].slug for item in request.session.items
              if "graded" in getattr(getattr(item, "callspec", None), "params", {})}
    if any("graded_units" in item.fixturenames and "graded" not in item.fixturenames
           for item in request.session.items):   # a test of all units
        wanted = {u.slug for u in GRADED_UNITS}
    units = [u for u in GRADED_UNITS if u.slug in wanted]
    demo = LAYOUT.demo / "submitted"
    before = tree_digest(demo)
    base = tmp_path_factory.mktemp("grade-units")
    done = selfcheck.grade_all_fixtures(units, lambda unit: base / unit.slug, progress=False)
    after = tree_digest(demo)
    return {unit.slug: {"unit": unit, "result": done[unit.slug].result,
                        "problems": done[unit.slug].problems, "workspace": base / unit.slug,
                        "rows": {r.student: r for r in done[unit.slug].result.rows},
                        "fixtures": fixtures.load(unit),
                        "demo_digest_before": before, "demo_digest_after": after}
            for unit in units}


@pytest.fixture(scope="session", params=GRADED_UNITS, ids=lambda u: u.slug)
def graded(request, graded_units):
    """One unit's graded demo class (from the session's one grading batch)."""
    return graded_units[request.param.slug]
