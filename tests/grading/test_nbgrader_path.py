"""The same hostile batch, graded by nbgrader's own tools in a workspace set up by the
course (its nbgrader_config.py): `nbgrader autograde` and `nbgrader generate_feedback`,
as the formgrader or a JupyterHub course runs them. Every submission ends with the
status and score it gets through `course grade` (tests/grading/test_hostile.py), no
planted module runs, and feedback is written for everyone without hidden outputs."""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.release.workspace import prepare
from course.report import gradebook

from . import _hostile as H
from .conftest import CONTROLS, HOSTILE_LIMITS, AnswerServer

NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def nbgrader(*args, cwd, timeout=1800) -> subprocess.CompletedProcess:
    return subprocess.run([NBGRADER, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def nbgrader_run(hostile_run, tmp_path_factory):
    unit = hostile_run["unit"]
    base = tmp_path_factory.mktemp("nbgrader-path")
    ws, trace = base / "workspace", base / "trace"
    trace.mkdir()
    prepare(unit, ws)  # the workspace and config `course grade` sets up
    with (ws / "nbgrader_config.py").open("a") as fh:  # the same limits as the other run
        fh.write(f"c.GuardedExecute.limit_overrides = {HOSTILE_LIMITS!r}\n")
    H.write_all(unit, ws / "submitted", hostile_run["hostiles"], trace)
    for student in CONTROLS:
        shutil.copytree(unit.layout.demo / "submitted" / student / unit.slug,
                        ws / "submitted" / student / unit.slug)
    server = AnswerServer(H.reference_softmax(unit).encode())
    try:
        autograde = nbgrader("autograde", unit.slug, cwd=ws)
    finally:
        server.close()
    feedback = nbgrader("generate_feedback", unit.slug, cwd=ws, timeout=600)
    return {"unit": unit, "workspace": ws, "autograde": autograde, "feedback": feedback,
            "rows": {r.student: r for r in gradebook.read_grades(unit, ws)},
            "traces": sorted(p.name for p in trace.iterdir()), "connections": server.connections}


@pytest.mark.parametrize("h", H.load(), ids=lambda h: h.student)
def test_nbgrader_autograde_gives_the_same_status_and_score(nbgrader_run, hostile_run, h):
    mine, theirs = nbgrader_run["rows"][h.student], hostile_run["rows"][h.student]
    assert (mine.status, mine.score) == (theirs.status, theirs.score), mine.reason
    if mine.status not in ("missing", "invalid notebook"):
        assert mine.parts == theirs.parts
    want = H.expected_for(h, hostile_run["backend"])
    if want.get("reason"):
        assert re.search(want["reason"], mine.reason), mine.reason


def test_the_honest_controls_score_as_usual(nbgrader_run, hostile_run):
    for student in CONTROLS:
        mine, theirs = nbgrader_run["rows"][student], hostile_run["rows"][student]
        assert (mine.status, mine.score, mine.parts) == ("graded", theirs.score, theirs.parts)


def test_no_planted_module_runs_and_only_notebooks_are_graded(nbgrader_run):
    assert nbgrader_run["traces"] == [] and nbgrader_run["connections"] == 0
    ws, unit = nbgrader_run["workspace"], nbgrader_run["unit"]
    graded = ws / "autograded" / "h-planted-modules" / unit.slug
    assert sorted(p.name for p in graded.rglob("*")) == ["pytorch.ipynb"]
    # nbgrader itself copied none of the modules into autograded/ (CourseDirectory.ignore);
    # the data file it did copy was removed before anything ran, and named.
    copied = re.findall(r"Copying (\S+) -> ", nbgrader_run["autograde"].stderr)
    assert [Path(p).name for p in copied if "h-planted-modules" in p] == ["notes.txt"]


def test_generate_feedback_works_for_everyone_without_hidden_outputs(nbgrader_run):
    ws, unit = nbgrader_run["workspace"], nbgrader_run["unit"]
    assert nbgrader_run["feedback"].returncode == 0, nbgrader_run["feedback"].stderr[-2000:]
    for graded in (ws / "autograded").glob(f"*/{unit.slug}"):
        student = graded.parent.name
        assert list((ws / "feedback" / student / unit.slug).glob("*.html")), student
    page = html.unescape(re.sub(r"<[^>]+>", "", (
        ws / "feedback" / "h-hidden-prints" / unit.slug / "pytorch.html").read_text()))
    assert page.count("SEEN torch.Size") == 1 and "LEAKED (" not in page
    marker = html.unescape(re.sub(r"<[^>]+>", "", (
        ws / "feedback" / "h-marker-text" / unit.slug / "pytorch.html").read_text()))
    assert "My notes: ### BEGIN HIDDEN TESTS is where" in marker


def test_the_exchange_collect_flow_brings_in_only_notebooks(unit01, tmp_path):
    """A hub course: a submission lands in the exchange's inbound folder (here with a
    planted numpy.py, as a modified client could leave it), the instructor runs `nbgrader
    collect` and `nbgrader autograde`: only the notebook and nbgrader's timestamp are
    collected, the notebook is graded and the planted module never runs."""
    from course.grade import worker
    ws, trace = tmp_path / "workspace", tmp_path / "trace"
    trace.mkdir()
    prepare(unit01, ws)
    h = next(h for h in H.load() if h.student == "h-planted-modules")
    H.write_all(unit01, tmp_path / "subs", [h], trace)
    stamp = "2026-12-01 10:00:00.000000 UTC"
    inbound = ws / "exchange" / "open-dl-course" / "inbound" / f"alice+{unit01.slug}+{stamp}+r4nd"
    shutil.copytree(tmp_path / "subs" / h.student / unit01.slug, inbound)
    (inbound / "timestamp.txt").write_text(stamp)
    collect = nbgrader("collect", unit01.slug, cwd=ws, timeout=120)
    assert collect.returncode == 0, collect.stderr[-1500:]
    submitted = ws / "submitted" / "alice" / unit01.slug
    # (nbgrader's include filter is for files: the planted package's folder comes empty)
    files = sorted(p.relative_to(submitted).as_posix() for p in submitted.rglob("*") if p.is_file())
    assert files == ["pytorch.ipynb", "timestamp.txt"]
    autograde = nbgrader("autograde", unit01.slug, cwd=ws, timeout=600)
    assert autograde.returncode == 0, autograde.stderr[-1500:]
    run = worker.read_record(ws / "autograded" / "alice" / unit01.slug / "pytorch.ipynb")
    assert run["status"] == "graded" and list(trace.iterdir()) == []
    status, _ = gradebook.read_statuses(unit01, ws)["alice"]
    assert status == "graded" and gradebook.read_grades(unit01, ws)[0].score == 20


def test_a_workspace_prepared_before_the_move_still_loads_its_config(tmp_path):
    """Older workspaces' nbgrader_config.py imports course.grading: nbgrader's own
    loader still gets the course's settings from it (with a deprecation warning)."""
    config = tmp_path / "nbgrader_config.py"
    config.write_text("# Written by `course grade`; the settings live in course/grading.py.\n"
                      "from course.grading import nbgrader_config\n"
                      "from pathlib import Path\n"
                      "c.merge(nbgrader_config(Path(__file__).resolve().parent))\n")
    code = ("import warnings; warnings.simplefilter('always')\n"
            "from traitlets.config.loader import PyFileConfigLoader\n"
            f"c = PyFileConfigLoader('nbgrader_config.py', path={str(tmp_path)!r}).load_config()\n"
            "print(c.GuardedExecute.sandbox, c.CourseDirectory.include,"
            " c.Autograde.sanitize_preprocessors[0].__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "['*.ipynb',", "'timestamp.txt',", "'submission_secret.txt']",
                                  "LeaveOutFiles"]
    assert "deprecated" in out.stderr
