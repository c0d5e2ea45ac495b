"""The batch engine: the same grades with 1 worker, 2 workers and a Dask LocalCluster; a
run killed with SIGKILL and run again ends with the same gradebook, every submission
applied exactly once; a result is applied whole or not at all; one run per workspace;
no sandbox, no grading (unless asked)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from nbgrader.api import Gradebook, MissingEntry

from course.grade import apply as applying
from course.grade import coordinator, intake, records, template, worker
from course.grade.journal import Journal
from course.grade.sandbox import warm
from course.report import gradebook
from course.layout import NOTEBOOKS

from . import _hostile as H

DEMO = ("reference-pytorch", "naive-pytorch", "slips-tensorflow")
HOSTILE = ("h-patch-numpy", "h-os-exit", "h-empty-file", "h-wrong-file-name")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, unit01):
    """Seven submissions, one of each status and both frameworks, graded serially."""
    base = tmp_path_factory.mktemp("mixed")
    folder = base / "submissions"
    for student in DEMO:
        shutil.copytree(unit01.layout.demo / "submitted" / student / unit01.slug,
                        folder / student / unit01.slug)
    H.write_all(unit01, folder, [h for h in H.load() if h.student in HOSTILE])
    subs = intake.find_submissions(unit01, submissions=folder, workspace=base / "serial")
    done = coordinator.grade_batch(unit01, subs, base / "serial", workers=1, progress=False,
                             log=lambda line: None)
    return {"base": base, "folder": folder, "subs": subs, "serial": done}


def snapshot(unit, workspace) -> dict:
    """Everything a grade is: status, reason, score and every cell's score, per student."""
    statuses = gradebook.read_statuses(unit, workspace)
    out = {}
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
        for student in sorted(s.id for s in gb.students):
            cells = {}
            for name in NOTEBOOKS.values():
                nb = gb.find_submission_notebook(name.removesuffix(".ipynb"), unit.slug, student)
                cells.update({f"{name}:{g.name}": float(g.score) for g in nb.grades})
            out[student] = (statuses[student], cells)
    return out


def test_the_mixed_batch_has_every_status(mixed, unit01):
    statuses = {s for s, _ in gradebook.read_statuses(unit01, mixed["base"] / "serial").values()}
    assert statuses == {"graded", "tampered", "crashed", "invalid notebook", "missing"}


def test_two_workers_and_dask_give_identical_grades(mixed, unit01):
    serial = snapshot(unit01, mixed["base"] / "serial")
    for name, kw in (("pool", {"workers": 2}), ("dask", {"dask": "local", "workers": 2})):
        ws = mixed["base"] / name
        done = coordinator.grade_batch(unit01, mixed["subs"], ws, progress=False, log=lambda l: None, **kw)
        assert len(done.applied) == len(mixed["subs"])
        assert snapshot(unit01, ws) == serial, name
        # the work was really spread: results came from two worker processes, not this one
        workers = {r["worker"].rsplit(":", 1)[1] for r in done.applied
                   if r["status"] not in ("missing",)}
        assert len(workers) == 2 and str(os.getpid()) not in workers, name


def test_a_killed_run_resumes_and_applies_each_submission_once(mixed, unit01):
    ws = mixed["base"] / "killed"
    journal = Journal(ws, unit01.slug)
    cmd = [sys.executable, "-m", "course", "grade", unit01.slug, "--submissions",
           str(mixed["folder"]), "--workspace", str(ws), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while len(journal.keys_in_file()) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and everything it started
    proc.wait()
    applied_at_kill = len(journal.applied())
    assert 2 <= applied_at_kill < len(mixed["subs"])

    done = coordinator.grade_batch(unit01, intake.find_submissions(
        unit01, submissions=mixed["folder"], workspace=ws), ws, progress=False,
        log=lambda line: None)
    assert len(done.skipped) == applied_at_kill
    assert len(done.applied) == len(mixed["subs"]) - applied_at_kill
    lines = journal.path.read_text().splitlines()
    assert len(lines) == len(journal.keys_in_file()) == len(mixed["subs"])
    assert snapshot(unit01, ws) == snapshot(unit01, mixed["base"] / "serial")


def test_a_rerun_grades_nothing_twice(mixed, unit01):
    ws = mixed["base"] / "serial"
    again = coordinator.grade_batch(unit01, mixed["subs"], ws, progress=False, log=lambda l: None)
    assert again.applied == [] and len(again.skipped) == len(mixed["subs"])


def test_a_result_is_applied_whole_or_not_at_all(mixed, unit01, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    shutil.copytree(mixed["base"] / "serial", ws)
    task = records.Task("01-activations/ghost/x", unit01.slug, "ghost", "x",
                        {"pytorch.ipynb": b"{}"})
    result = records.failed_result(task, "a test")
    sub = records.Submission("ghost", unit01.slug)

    def broken_insert(db, record):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(Journal, "insert", staticmethod(broken_insert))
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        with pytest.raises(RuntimeError, match="simulated"):
            applying.apply_result(gb, Journal(ws, unit01.slug), ws, result, sub)
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        with pytest.raises(MissingEntry):
            gb.find_student("ghost")  # created inside the transaction: rolled back
        assert "01-activations/ghost/x" not in Journal(ws, unit01.slug).applied()


def test_one_grading_run_per_workspace(mixed, unit01):
    ws = mixed["base"] / "serial"
    with coordinator.workspace_lock(ws):
        with pytest.raises(records.GradingError, match="another grading run"):
            coordinator.grade_batch(unit01, mixed["subs"], ws, progress=False, log=lambda l: None)


def test_no_sandbox_no_grading_unless_asked(mixed, unit01, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BWRAP", "/bin/false")
    with pytest.raises(records.GradingError, match="--no-sandbox"):
        coordinator.grade_batch(unit01, mixed["subs"], tmp_path / "ws", progress=False,
                          log=lambda line: None)
    assert not (tmp_path / "ws" / "gradebook.db").exists()


def test_a_grading_failure_never_hands_out_points(unit01, monkeypatch):
    """If the checker fails mid-notebook (a grading bug, not the student's), the tests it
    did not run score 0: nbgrader would give full points to a test cell with no output."""
    from course.grade.checkers import Checker, CheckerError
    real, calls = Checker.run_test, []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise CheckerError("simulated checker failure")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Checker, "run_test", flaky)
    data = (unit01.layout.demo / "submitted" / "reference-pytorch" / unit01.slug /
            "pytorch.ipynb").read_bytes()
    task = records.Task("k", unit01.slug, "reference-pytorch", "d", {"pytorch.ipynb": data},
                        sandbox=True, limits={})
    try:
        result = worker.grade_submission(task, template.make_template(unit01))
    finally:   # graded in this process: its kernel started ahead and template end here
        warm.close_all()
    nb = result.notebooks["pytorch.ipynb"]
    assert result.status == "crashed" and "simulated checker failure" in result.reason
    scored = {gid: g["auto_score"] for gid, g in nb.grades.items()}
    assert scored["test_activations"] == 2 and scored["test_activations_hidden"] == 2
    assert result.score == 4 and sum(scored.values()) == 4


def test_tampering_can_cost_the_notebook_when_the_instructor_says_so(mixed, unit01, tmp_path):
    """--on-tamper zero: patching NumPy costs the notebook; metadata edits alone never do."""
    H.write_all(unit01, tmp_path / "more", [h for h in H.load() if h.student == "h-edited-metadata"])
    subs = [s for s in mixed["subs"] if s.student in ("h-patch-numpy", "reference-pytorch")]
    subs += intake.from_folder(unit01, tmp_path / "more")
    done = coordinator.grade_batch(unit01, subs, tmp_path / "ws", workers=2, on_tamper="zero",
                             progress=False, log=lambda line: None)
    scores = {r["student"]: (r["status"], r["score"]) for r in done.applied}
    assert scores == {"h-patch-numpy": ("tampered", 0.0), "reference-pytorch": ("graded", 20.0),
                      "h-edited-metadata": ("tampered", 20.0)}
    rows = {r.student: r for r in gradebook.read_grades(unit01, tmp_path / "ws")}
    assert rows["h-patch-numpy"].score == 0 and set(rows["h-patch-numpy"].parts.values()) == {0.0}
    assert rows["h-edited-metadata"].score == 20


def test_a_feedback_failure_is_that_notebooks_alone(mixed, unit01, tmp_path, monkeypatch, capsys):
    """If one student's feedback page cannot be made, that notebook says so (status and
    reason), everyone else is graded and gets feedback, the CSV and report are written,
    and `course grade` (and `course feedback`) exit 1 naming what failed."""
    from course import cli
    from course.report import feedback
    real = feedback.GradingStatus.preprocess

    def broken(self, nb, resources):
        if resources["nbgrader"]["student"] == "naive-pytorch":
            raise RuntimeError("simulated feedback failure")
        return real(self, nb, resources)

    monkeypatch.setattr(feedback.GradingStatus, "preprocess", broken)
    ws = tmp_path / "ws"
    code = cli.main(["grade", unit01.slug, "--submissions", str(mixed["folder"]),
                     "--workspace", str(ws), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "1 problem(s) on the grader's side" in err and "naive-pytorch" in err
    serial = snapshot(unit01, mixed["base"] / "serial")
    now = snapshot(unit01, ws)
    status, cells = now.pop("naive-pytorch")
    assert status[0] == "crashed" and "got no feedback page" in status[1]
    assert cells == serial.pop("naive-pytorch")[1]          # the grade itself stands
    assert now == serial
    pages = {p.parent.parent.name for p in (ws / "feedback").glob(f"*/{unit01.slug}/*.html")}
    graded = {s for s, (st, _) in serial.items() if st[0] not in ("missing", "invalid notebook")}
    assert pages == graded and (ws / f"report-{unit01.slug}.html").is_file()
    assert (ws / f"grades-{unit01.slug}.csv").is_file()
    code = cli.main(["feedback", unit01.slug, "--workspace", str(ws)])
    assert code == 1 and "naive-pytorch: no feedback page" in capsys.readouterr().err
