"""Hostile submissions (tests/grading/hostile/fixtures.yml), graded for real in one batch:
each ends with its expected status, score and parts; the honest submissions graded with
them score exactly as usual; nothing outside the workspace changes; and the attacks are
real: plain nbgrader, or grading without the sandbox, would have been fooled by them."""
from __future__ import annotations

import contextlib
import html
import io
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import execute
from course.author import fixtures
from course.grade import coordinator, intake
from course.grade.journal import Journal
from course.qa.bench_grading import plain_nbgrader_api
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
    journal = Journal(ws, unit.slug)
    lines = journal.path.read_text().splitlines()
    assert len(lines) == len(students) == len(journal.keys_in_file())
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        assert {s.id for s in gb.students} == students
        assert set(journal.applied()) == journal.keys_in_file()
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
    """nbgrader as it comes: tests run in the student's own kernel, no box."""
    root = tmp_path / student
    api = plain_nbgrader_api(unit, root)
    dest = root / "submitted" / student / unit.slug
    dest.mkdir(parents=True)
    (dest / "pytorch.ipynb").write_bytes(notebook)
    with execute.quiet_kernels(), contextlib.redirect_stdout(io.StringIO()):
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
        subs = intake.find_submissions(unit, submissions=folder, workspace=tmp_path / "ws")
        done = coordinator.grade_batch(unit, subs, tmp_path / "ws", workers=2, sandbox=False,
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


# ---- what a student submits besides the notebook; what feedback may show (both paths:
# tests/grading/test_nbgrader_path.py grades the same batch with nbgrader's own tools)

def test_files_beside_the_notebook_never_reach_a_trusted_process(hostile_run):
    """h-planted-modules submits numpy.py, yaml.py, cloudpickle.py, sitecustomize.py and a
    course package beside its notebook: none was imported (each leaves a trace outside
    the sandbox when it is), and only the notebook entered the grading folders."""
    assert hostile_run["traces"] == [] and list(hostile_run["trace"].iterdir()) == []
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    for step, page in (("submitted", "pytorch.ipynb"), ("autograded", "pytorch.ipynb"),
                       ("feedback", "pytorch.html")):
        folder = ws / step / "h-planted-modules" / unit.slug
        assert sorted(p.name for p in folder.rglob("*")) == [page], step


def test_the_planted_modules_are_live(hostile_run, tmp_path):
    """The attack is real: Python started in that folder imports the planted modules (what
    `python -m` did for the checker), and a trusted process started as the grader starts
    its checker, in the same folder, imports none of them."""
    from course.grade import checkers
    unit = hostile_run["unit"]
    h = next(h for h in HOSTILES if h.student == "h-planted-modules")
    trace = tmp_path / "trace"
    trace.mkdir()
    H.write_all(unit, tmp_path / "subs", [h], trace)
    folder = tmp_path / "subs" / h.student / unit.slug
    modules = ("numpy", "yaml", "cloudpickle", "course")
    for name in modules:  # one process each: a planted module takes its folder off the path
        subprocess.run([sys.executable, "-c", f"import {name}"], cwd=folder, check=True,
                       capture_output=True)
    assert sorted(p.name for p in trace.iterdir()) == sorted(f"{m}.trace" for m in modules)
    for p in trace.iterdir():
        p.unlink()
    for name in modules:
        subprocess.run([*checkers.trusted_python(), "-c", f"import {name}"], cwd=folder,
                       check=True, capture_output=True, env=checkers.trusted_env(dict(os.environ)))
    assert list(trace.iterdir()) == []


def _page_text(path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_never_shows_what_student_code_did_during_hidden_tests(hostile_run):
    """h-hidden-prints prints every input softmax gets and raises with its input in the
    message in hidden tests only: the student's page shows the visible test's print and
    no hidden input; the instructor's autograded notebook keeps all of it."""
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    page = _page_text(ws / "feedback" / "h-hidden-prints" / unit.slug / "pytorch.html")
    assert "SEEN torch.Size([2, 3]) 6.0" in page              # the visible test's input
    assert page.count("SEEN torch.Size") == 1
    assert "LEAKED (" not in page and "-5.000000" not in page
    assert "your code raised ValueError when a hidden test called it" in page
    nb = nbformat.read(ws / "autograded" / "h-hidden-prints" / unit.slug / "pytorch.ipynb", 4)
    seen = "".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells
                   for o in c.get("outputs", []))
    assert "SEEN torch.Size([7, 4])" in seen and "LEAKED (3, 3) -5.000000" in seen


def test_marker_text_in_an_answer_breaks_nobodys_feedback_or_report(hostile_run):
    """An answer quoting nbgrader's markers (h-marker-text) is graded, gets its feedback
    with its own text, and every other graded student gets theirs; report and CSV exist."""
    ws, unit, result = hostile_run["workspace"], hostile_run["unit"], hostile_run["result"]
    assert result.failures == []
    assert result.report and result.report["html"].is_file() and result.csv.is_file()
    page = _page_text(ws / "feedback" / "h-marker-text" / unit.slug / "pytorch.html")
    assert "My notes: ### BEGIN HIDDEN TESTS is where" in page and "Targets:" not in page
    for student, row in hostile_run["rows"].items():
        if row.status not in ("missing", "invalid notebook"):
            assert list((ws / "feedback" / student / unit.slug).glob("*.html")), student


def test_failure_messages_never_give_the_expected_value_away(hostile_run):
    """h-scalar-answer's dead_fraction is off by 0.25: no message, visible or hidden,
    holds an expected value (0.5, 1/3) or the error (0.25), from which with the
    student's own value the answer would follow."""
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    nb = nbformat.read(ws / "autograded" / "h-scalar-answer" / unit.slug / "pytorch.ipynb", 4)
    messages = [o["evalue"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "")
                .startswith("test_dead_fraction") for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(messages) == 2 and all("too large" in m for m in messages), messages
    # (the visible test's message also shows the student's own value, "got: [0.75]")
    said = [m.split("\n  got:")[0] for m in messages]
    numbers = [float(x) for m in said for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", m)]
    for secret in (0.5, 1 / 3, 0.25):
        assert not any(abs(abs(x) - secret) < 1e-3 for x in numbers), (secret, messages)


def test_edited_metadata_is_graded_with_the_releases(hostile_run):
    """h-edited-metadata marked its softmax answer as a graded cell worth 50 and added a
    'bonus' cell worth 100: every honest cell is graded with the release's metadata and
    the extra cell earns nothing (it is not in the gradebook at all)."""
    from nbgrader.api import Gradebook
    ws, unit = hostile_run["workspace"], hostile_run["unit"]
    nb = nbformat.read(ws / "autograded" / "h-edited-metadata" / unit.slug / "pytorch.ipynb", 4)
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells
            if "nbgrader" in c.metadata}
    assert meta["softmax"]["grade"] is False and meta["softmax"]["solution"] is True
    assert "bonus" not in meta and any(c.source == "print('bonus')" for c in nb.cells)
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        graded = gb.find_submission_notebook("pytorch", unit.slug, "h-edited-metadata")
        assert "bonus" not in {g.name for g in graded.grades} and graded.max_score == 20
