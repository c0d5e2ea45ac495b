"""Generated files are committed, so they must be fresh: editing a unit source without
rebuilding fails here. And the build is incremental: fresh lessons are not re-executed."""
from __future__ import annotations

import nbformat
import pytest

from course.build import freshness
from course.build.notebooks import BuildReport, build_lessons
from course.layout import Unit

from conftest import UNITS, copy_repo


@pytest.fixture()
def repo_copy(tmp_path):
    return copy_repo(tmp_path)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.slug)
def test_committed_files_are_fresh(unit):
    assert freshness.stale_files(unit) == []


def test_editing_a_source_without_rebuilding_is_caught(repo_copy):
    unit = Unit(UNITS[0].slug, repo_copy)
    assert freshness.stale_files(unit) == []
    with unit.assignment_source.open("a") as fh:
        fh.write("\nOne more sentence for the students.\n")
    stale = "\n".join(freshness.stale_files(unit))
    assert f"solutions/{unit.slug}/pytorch.ipynb" in stale
    assert f"assignments/{unit.slug}/tensorflow.ipynb" in stale
    with unit.lesson_source.open("a") as fh:
        fh.write("\nAnd one for the lesson.\n")
    stale = "\n".join(freshness.stale_files(unit))
    assert f"lessons/{unit.slug}/pytorch.ipynb: stale" in stale


def test_hand_edits_to_generated_notebooks_are_caught(repo_copy):
    unit = Unit(UNITS[0].slug, repo_copy)
    path = unit.lesson("tensorflow")
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source += "\n(edited by hand)"
    nbformat.write(nb, path)
    assert any("lessons/" in line for line in freshness.stale_files(unit))


def test_toolkit_change_makes_lessons_stale(repo_copy):
    unit = Unit(UNITS[0].slug, repo_copy)
    # runtime.py: every notebook imports it (`import course`); a module no notebook
    # imports (the grader's) changes nothing (tests/test_source.py)
    with (repo_copy.root / "course" / "runtime.py").open("a") as fh:
        fh.write("\n# a change notebooks might depend on\n")
    assert any(": stale" in line for line in freshness.stale_files(unit))


def test_build_skips_fresh_lessons(repo_copy):
    unit = Unit(UNITS[0].slug, repo_copy)
    before = {fw: unit.lesson(fw).read_bytes() for fw in ("pytorch", "tensorflow")}
    report = BuildReport()
    build_lessons(unit, report)
    assert report.executed == {} and len(report.skipped) == 2 and report.written == []
    assert before == {fw: unit.lesson(fw).read_bytes() for fw in ("pytorch", "tensorflow")}


def test_demo_folders_of_removed_fixtures_are_caught_and_removed(repo_copy):
    from course.build.notebooks import build_assignments

    unit = Unit(UNITS[0].slug, repo_copy)
    demo = repo_copy.demo / "submitted"
    kept = demo / "reference-pytorch" / unit.slug / "pytorch.ipynb"
    gone = demo / "renamed-fixture" / unit.slug / "pytorch.ipynb"
    gone.parent.mkdir(parents=True)
    gone.write_bytes(kept.read_bytes())
    assert freshness.stale_files(unit) == [
        f"autograder/demo/submitted/renamed-fixture/{unit.slug}: no fixture writes it any more "
        "(course build removes it)"]
    report = BuildReport()
    build_assignments(unit, report)
    assert report.removed == [gone.parent] and not (demo / "renamed-fixture").exists()
    assert kept.exists() and freshness.stale_files(unit) == []
