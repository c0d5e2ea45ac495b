"""Grading, proven by grading: every fixture of every unit is autograded by nbgrader
and must score exactly what its fixtures.yml says, in total and part by part."""
from __future__ import annotations

import csv
import os
import html
import re
from pathlib import Path

import nbformat
import pytest

from course.author import fixtures
from conftest import GRADED_UNITS
from course.grade import coordinator, intake, records, scratch
from course.grade.sandbox import forkserver
from course.execute import execute
from course.layout import NOTEBOOKS


def test_every_fixture_scores_exactly_as_expected(graded):
    rows = graded["rows"]
    unit = graded["unit"]
    for fx in graded["fixtures"]:
        row = rows[fx.student]
        want = fixtures.expected_parts(fx, fixtures.max_points(unit, fx.framework))
        assert row.parts == want, f"{fx.student}: {fx.description}"
        assert row.score == fx.total == sum(want.values()), fx.student
    assert graded["problems"] == []


def test_honest_fixtures_raise_no_alarm(graded):
    """Only a fixture that edits test cells is reported as tampered. Any other finding
    (a read-only name that differs between the kernel and the checker, e.g. a data cell
    that fails in the sandbox) would be a false alarm on every student."""
    for fx in graded["fixtures"]:
        row = graded["rows"][fx.student]
        if fx.tests:
            assert row.status == "tampered" and "was edited" in row.reason, fx.student
        else:
            assert (row.status, row.reason) == ("graded", ""), fx.student


def test_fixture_kinds_are_all_there(graded):
    """The checklist's minimum: per framework a reference, an untouched version and at
    least two realistic wrong submissions."""
    for fw in NOTEBOOKS:
        mine = [fx for fx in graded["fixtures"] if fx.framework == fw]
        max_total = sum(fixtures.max_points(graded["unit"], fw).values())
        assert any(fx.base == "reference" and not fx.solutions and fx.total == max_total
                   for fx in mine)
        assert any(fx.base == "untouched" and fx.total == 0 for fx in mine)
        assert sum(1 for fx in mine if fx.solutions and 0 < fx.total < max_total) >= 2


def test_one_framework_alone_earns_full_marks(graded):
    """A reference submission holds one notebook; nbgrader scores the absent one 0,
    and the unit grade (the better notebook) is still full marks."""
    from nbgrader.api import Gradebook

    unit = graded["unit"]
    with Gradebook(f"sqlite:///{graded['workspace'] / 'gradebook.db'}") as gb:
        for fw, other in (("pytorch", "tensorflow"), ("tensorflow", "pytorch")):
            student = f"reference-{fw}"
            submitted = graded["workspace"] / "submitted" / student / unit.slug
            assert sorted(p.name for p in submitted.iterdir()) == [NOTEBOOKS[fw]]
            absent = gb.find_submission_notebook(other, unit.slug, student)
            assert absent.score == 0
            row = graded["rows"][student]
            assert (row.framework, row.score) == (fw, row.max_score)


def test_edited_test_cells_are_restored_before_grading(graded):
    unit = graded["unit"]
    for fx in graded["fixtures"]:
        if not fx.tests:
            continue
        fw = fx.framework
        autograded = nbformat.read(graded["workspace"] / "autograded" / fx.student / unit.slug
                                   / NOTEBOOKS[fw], as_version=4)
        source = nbformat.read(unit.solution(fw), as_version=4)
        original = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                    if "nbgrader" in c.metadata}
        for cell in autograded.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in fx.tests:
                assert cell.source == original[gid], f"{fx.student}: {gid} not restored"
                assert cell.source != fx.tests[gid].rstrip("\n")


def test_framework_warnings_on_stderr_cost_nothing(graded, tmp_path):
    """The 'warnings' fixtures really print to stderr inside a test cell (checked by
    running them), and still score full marks."""
    unit = graded["unit"]
    for fx in graded["fixtures"]:
        if not fx.student.startswith("warnings-"):
            continue
        nb = nbformat.read(fixtures.demo_path(unit, fx), as_version=4)
        execute(nb, tmp_path)
        stderr_in_tests = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                           if c.metadata.get("nbgrader", {}).get("grade")
                           and any(o.output_type == "stream" and o.name == "stderr"
                                   for o in c.get("outputs", []))]
        assert stderr_in_tests, f"{fx.student} no longer warns: the fixture proves nothing"
        assert graded["rows"][fx.student].score == fx.total == graded["rows"][fx.student].max_score


def test_grades_csv_has_one_column_per_part(graded):
    result = graded["result"]
    with result.csv.open() as fh:
        table = list(csv.DictReader(fh))
    assert {r["student"] for r in table} == {fx.student for fx in graded["fixtures"]}
    parts = set(fixtures.max_points(graded["unit"], "pytorch"))
    assert {c[5:] for c in table[0] if c.startswith("part:")} == parts
    for r in table:
        fx = next(f for f in graded["fixtures"] if f.student == r["student"])
        assert float(r["score"]) == fx.total


def test_feedback_shows_messages_but_never_hidden_tests(graded):
    unit = graded["unit"]
    fx = next(f for f in graded["fixtures"] if f.solutions and 0 < f.total and f.lost)
    page = (graded["result"].feedback_dir / fx.student / unit.slug /
            NOTEBOOKS[fx.framework].replace(".ipynb", ".html")).read_text()
    # Compare against the page's text: highlighted code is split by <span> tags.
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "BEGIN HIDDEN TESTS" not in text and "Targets:" not in text
    assert "CheckFailed: " in text  # the student does see why points were lost
    hidden_lines = [line.strip() for c in nbformat.read(unit.solution(fx.framework), 4).cells
                    if "### BEGIN HIDDEN TESTS" in c.source
                    for line in c.source.split("### BEGIN HIDDEN TESTS")[1].splitlines()
                    if len(line.strip()) > 30 and not line.strip().startswith("#")]
    # Lines the student wrote themselves may legitimately match a hidden line.
    own = nbformat.read(fixtures.demo_path(unit, fx), as_version=4)
    own_text = "\n".join(c.source for c in own.cells)
    hidden_lines = [line for line in hidden_lines if line not in own_text]
    assert hidden_lines
    leaked = [line for line in hidden_lines if line in text]
    assert not leaked, leaked[:3]


def test_grading_never_modifies_submissions(graded):
    assert graded["demo_digest_before"] == graded["demo_digest_after"]


def test_missing_submissions_folder_is_a_clear_error(graded, tmp_path):
    with pytest.raises(records.GradingError, match="does not exist"):
        coordinator.grade(graded["unit"], submissions=tmp_path / "nope", workspace=tmp_path / "ws",
                      progress=False)


def test_autograded_notebooks_keep_every_cell(graded):
    """The grader's own requests to the kernel never take the place of a notebook cell."""
    unit = graded["unit"]
    for fx in graded["fixtures"]:
        released = nbformat.read(unit.assignment(fx.framework), as_version=4)
        autograded = nbformat.read(graded["workspace"] / "autograded" / fx.student / unit.slug
                                   / NOTEBOOKS[fx.framework], as_version=4)
        assert [c.cell_type for c in autograded.cells] == [c.cell_type for c in released.cells]
        assert autograded.cells[-1].source == released.cells[-1].source, fx.student


def test_a_hidden_test_as_the_last_cell_is_graded(tmp_path):
    """A notebook may end with a test cell; it once vanished from the graded notebook."""
    import shutil

    from conftest import copy_repo
    from course.build.notebooks import BuildReport, build_assignments
    from course.layout import Unit

    unit = Unit("01-activations", copy_repo(tmp_path / "repo"))
    text = unit.assignment_source.read_text()
    unit.assignment_source.write_text(text[:text.index("## Before you submit")])
    build_assignments(unit, BuildReport())
    for fw in NOTEBOOKS:
        last = nbformat.read(unit.assignment(fw), as_version=4).cells[-1]
        assert last.metadata["nbgrader"]["grade_id"] == "test_dead_fraction_hidden"
    folder = tmp_path / "submitted"
    for student in ("reference-pytorch", "reference-tensorflow"):
        shutil.copytree(unit.layout.demo / "submitted" / student, folder / student)
    result = coordinator.grade(unit, submissions=folder, workspace=tmp_path / "ws", progress=False,
                           workers=2, report=False,
                           sandbox=os.environ.get("COURSE_NO_SANDBOX") != "1", log=lambda line: None)
    for row in result.rows:
        assert (row.status, row.score, row.parts["test_dead_fraction_hidden"]) == ("graded", 20, 2)


def _grading_records(workspace: Path) -> list:
    """The grader's record of every autograded notebook in ``workspace``."""
    return [nbformat.read(p, as_version=4).metadata["course"]["grading"]
            for p in (workspace / "autograded").rglob("*.ipynb")]


def test_workers_reuse_checkers_and_kernels_started_ahead(graded):
    """A worker's second notebook of a framework gets the checker the first one used
    (audited clean) and a kernel started ahead, framework imported: the cost of grading
    is the student's code, not start-up. Each kernel still served one notebook only."""
    runs = _grading_records(graded["workspace"])
    assert runs
    assert any(r.get("checker_reused") for r in runs), "no checker was ever reused"
    assert any(r.get("warm_kernel") for r in runs), "no kernel started ahead was used"
    if forkserver.possible() and os.environ.get("COURSE_NO_SANDBOX") != "1":
        # as root every kernel comes from its worker's template: none fell back to a cold one
        assert all(r.get("forked_kernel") for r in runs), "a kernel was not forked from a template"
    # A killed run's folders are left to the next clean-up: only held ones count.
    assert not [p for kind in ("kernel", "forkserver")
                for p in Path(scratch.short_tmp()).glob(f"{scratch.PREFIX}{kind}-*")
                if scratch.in_use(p)], "kernels started ahead or templates outlived the run"


def _cold_sample(unit, fxs) -> list:
    """The fixtures graded again with cold kernels: every one of unit 01 (each status its
    fixtures have); elsewhere, per framework, the wrong submission losing the most parts
    (all of them, graded cold, would cost the suite ten minutes)."""
    if unit.slug == "01-activations":
        return list(fxs)
    picks = []
    for fw in NOTEBOOKS:
        partial = [fx for fx in fxs if fx.framework == fw and fx.solutions and fx.lost]
        if partial:
            picks.append(max(partial, key=lambda fx: len(fx.lost)))
    return picks


def test_cold_kernels_grade_exactly_as_kernels_started_ahead(graded_units, tmp_path):
    """Kernels started ahead, forked from a template, change when and how a kernel boots,
    never a grade: the same submissions graded with cold kernels (each notebook starts its
    own with bubblewrap and imports its framework) get the same status, reason and
    per-part scores, in every unit."""
    import shutil

    assert set(graded_units) == {u.slug for u in GRADED_UNITS}
    batches, picked = [], {}
    for slug, graded in graded_units.items():
        unit = graded["unit"]
        picked[slug] = _cold_sample(unit, graded["fixtures"])
        folder = tmp_path / "subs" / slug
        for fx in picked[slug]:
            shutil.copytree(fixtures.demo_path(unit, fx).parent, folder / fx.student / slug)
        batches.append(coordinator.UnitBatch(unit, intake.from_folder(unit, folder),
                                             tmp_path / "ws" / slug))
    cold = coordinator.grade_units(batches, report=False, workers=2, warm_kernels=False,
                                   sandbox=os.environ.get("COURSE_NO_SANDBOX") != "1",
                                   progress=False, log=lambda line: None)
    compared = 0
    for slug, graded in graded_units.items():
        rows = {r.student: r for r in cold[slug].rows}
        assert set(rows) == {fx.student for fx in picked[slug]}
        for student, row in rows.items():
            warm = graded["rows"][student]
            assert (row.status, row.reason, row.parts, row.score) == \
                (warm.status, warm.reason, warm.parts, warm.score), f"{slug} {student}"
            compared += 1
        runs = _grading_records(tmp_path / "ws" / slug)
        assert runs and not any(r.get("warm_kernel") for r in runs), slug
    assert compared >= 12 + 2 * (len(graded_units) - 1)

