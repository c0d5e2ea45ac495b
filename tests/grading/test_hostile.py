"""Hostile submissions (tests/grading/hostile/fixtures.yml), graded for real in one batch:
each ends with its expected status, score and parts; the honest submissions graded with
them score exactly as usual; nothing outside the workspace changes; and the attacks are
real: plain nbgrader, or grading without the sandbox, would have been fooled by them."""
from __future__ import annotations

import contextlib
import html
import io
import re
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import batch, fixtures, grading
from course.layout import NOTEBOOKS

from . import _hostile as H
from .conftest import CONTROLS, HOSTILE_LIMITS, AnswerServer

HOSTILES = H.load()


@pytest.mark.parametrize("h", HOSTILES, ids=lambda h: h.student)
def test_each_hostile_submission_gets_its_status_and_score(hostile_run, h):
    row = hostile_run["rows"][h.student]
    want = H.expected_for(h, hostile_run["backend"])
    assert (row.status, row.score) == (want["status"], float(want["total"])), row.reason
    if want["status"] not in ("missing", "invalid notebook"):
        assert row.parts == H.expected_parts(hostile_run["unit"], h, hostile_run["backend"])
    if "reason" in want:
        if want["reason"]:
            assert re.search(want["reason"], row.reason), row.reason
        else:
            assert row.reason == ""


def test_the_rest_of_the_batch_is_graded_as_usual(hostile_run):
    unit = hostile_run["unit"]
    for fx in fixtures.load(unit):
        if fx.student not in CONTROLS:
            continue
        row = hostile_run["rows"][fx.student]
        assert row.status == "graded" and row.reason == ""
        assert row.parts == fixtures.expected_parts(fx, fixtures.max_points(unit, fx.framework))


def test_nothing_outside_the_workspace_changed(hostile_run):
    changed = [p for p, digest in hostile_run["before"].items() if hostile_run["after"][p] != digest]
    assert changed == []
    assert hostile_run["connections"] == 0  # h-network never reached the grader's loopback


def test_the_gradebook_holds_each_submission_once(hostile_run):
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    students = {h.student for h in HOSTILES} | set(CONTROLS)
    journal = batch.Journal(ws, unit.slug)
    lines = journal.path.read_text().splitlines()
    assert len(lines) == len(students) == len(journal.keys_in_file())
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        assert {s.id for s in gb.students} == students
        assert set(journal.applied(gb.db)) == journal.keys_in_file()
        for student in ("h-empty-file", "h-wrong-file-name", "h-invalid-json"):
            for name in NOTEBOOKS.values():
                nb = gb.find_submission_notebook(name.removesuffix(".ipynb"), unit.slug, student)
                assert nb.score == 0


def test_feedback_explains_a_stopped_notebook_without_leaking_hidden_tests(hostile_run):
    unit = hostile_run["unit"]
    feedback = hostile_run["result"].feedback_dir
    page = lambda s: html.unescape(re.sub(r"<[^>]+>", "", (  # noqa: E731
        feedback / s / unit.slug / "pytorch.html").read_text()))
    timed_out = page("h-infinite-loop")
    assert "Grading note: your notebook ran out of time." in timed_out
    assert "softmax ran longer than 20 s" in timed_out
    assert "Grading note" not in page("h-patch-numpy")      # tampering: for the instructor
    assert "BEGIN HIDDEN TESTS" not in timed_out and "Targets:" not in timed_out


def _grade_with_plain_nbgrader(unit, tmp_path, notebook: bytes, student: str) -> float:
    """nbgrader as it comes: tests run in the student's own kernel, no sandbox."""
    from nbgrader.converters import Autograde
    root = tmp_path / student
    grading.prepare(unit, root)
    dest = root / "submitted" / student / unit.slug
    dest.mkdir(parents=True)
    (dest / "pytorch.ipynb").write_bytes(notebook)
    config = grading.nbgrader_config(root)
    traits = Autograde.class_traits()
    config.Autograde.sanitize_preprocessors = traits["sanitize_preprocessors"].default()
    config.Autograde.autograde_preprocessors = traits["autograde_preprocessors"].default()
    config.Execute.timeout = 120
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    with grading._kernel_env(), contextlib.redirect_stdout(io.StringIO()):
        assert api.autograde(unit.slug, student, force=True, create=True)["success"]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return float(gb.find_submission_notebook("pytorch", unit.slug, student).score)


@pytest.mark.parametrize("h", [h for h in HOSTILES if h.classic is not None], ids=lambda h: h.student)
def test_plain_nbgrader_would_have_been_fooled(hostile_run, tmp_path, h):
    """The tampering fixtures are real attacks: in-kernel tests give them points they did
    not earn; the trusted checker gave them only the honest score."""
    unit = hostile_run["unit"]
    honest = hostile_run["rows"][h.student].score
    fooled = _grade_with_plain_nbgrader(unit, tmp_path, H.notebook(unit, h), h.student)
    assert fooled == h.classic > honest


def test_without_the_sandbox_the_disk_and_network_attacks_succeed(hostile_run, tmp_path):
    """The same notebooks, unsandboxed, find the solutions on disk and the answer server:
    the sandbox, not the fixtures' clumsiness, is what kept them at their honest score."""
    unit = hostile_run["unit"]
    folder = tmp_path / "subs"
    for student in ("h-read-solutions", "h-network"):
        shutil.copytree(hostile_run["folder"] / student, folder / student)
    server = AnswerServer(H.reference_softmax(unit).encode())
    try:
        subs = grading.find_submissions(unit, submissions=folder, workspace=tmp_path / "ws")
        done = batch.grade_batch(unit, subs, tmp_path / "ws", workers=2, sandbox=False,
                                 limits=HOSTILE_LIMITS, progress=False, log=lambda line: None)
    finally:
        server.close()
    scores = {r["student"]: r["score"] for r in done.applied}
    assert scores == {"h-read-solutions": 20.0, "h-network": 20.0}
    assert server.connections >= 1
    for student in scores:
        assert hostile_run["rows"][student].score < 20


def test_hidden_tests_never_reach_the_students_kernel(hostile_run):
    """h-snoop-hidden-tests records every cell its kernel runs and prints the hidden tests
    it saw: none. (In nbgrader's own grading the hidden tests run in that kernel.)"""
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    nb = nbformat.read(ws / "autograded" / "h-snoop-hidden-tests" / unit.slug / "pytorch.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "hidden tests seen: 0" in printed
    assert "reveal=False" not in printed
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert any("BEGIN HIDDEN TESTS" in c.source for c in tests)  # the instructor's copy has them
