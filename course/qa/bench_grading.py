"""``course bench-grading``: what grading costs, and how it scales (prints a table).

Generates N submissions per framework for unit 01 from its fixtures (reference, naive,
slips, untouched, edited tests, warnings: repeated under new student ids), then times
* the floor: a kernel that only starts and imports the framework (per framework),
* bare nbclient execution of each submitted notebook (no grading, no sandbox, no tests),
* the anchor: plain ``nbgrader autograde`` (nbgrader's own preprocessors: tests in the
  student's kernel, no sandbox, no feedback),
* our grading, one worker, kernels cold (sandbox, trusted checker, feedback, journal,
  gradebook),
* 1 and 2 workers with kernels started ahead by bubblewrap, then forked from a template
  (course/grade/sandbox/forkserver.py), and a 2-worker Dask LocalCluster.
Rows give seconds per submission for each framework. Times depend on the machine and its
load: nothing is asserted.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import nbformat

from course.author import fixtures
from course.grade import intake
from course.grade.coordinator import grade_batch
from course.execute import execute
from course.layout import NOTEBOOKS, find_unit


def make_submissions(unit, folder: Path, per_framework: int) -> list:
    fxs = fixtures.load(unit)
    texts = fixtures.demo_texts(unit)
    made = []
    for fw, tag in (("pytorch", "pt"), ("tensorflow", "tf")):
        mine = [fx for fx in fxs if fx.framework == fw]
        for i in range(per_framework):
            fx = mine[i % len(mine)]
            student = f"bench-{tag}-{i:02d}"
            path = folder / student / unit.slug / NOTEBOOKS[fw]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(texts[fixtures.demo_path(unit, fx)])
            made.append(path)
    return made


def _bare(paths) -> list:
    import os
    out = []
    # ipykernel 7 prints an "Event loop is closed" traceback when a kernel is shut down:
    # keep the benchmark's terminal readable.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return _bare_run(paths, out)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _bare_run(paths, out) -> list:
    with tempfile.TemporaryDirectory(prefix="course-bench-bare-") as tmp:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            try:
                execute(nb, Path(tmp), timeout=300)
            except Exception:  # noqa: BLE001 - untouched notebooks raise: still timed
                pass
            out.append(time.perf_counter() - start)
    return out


def _floor(framework: str, times: int) -> list:
    """A kernel that starts, imports the framework and stops: what no grading can beat."""
    module = {"pytorch": "torch", "tensorflow": "tensorflow"}[framework]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"import {module}")])
    with tempfile.TemporaryDirectory(prefix="course-bench-floor-") as tmp:
        out = []
        for _ in range(times):
            start = time.perf_counter()
            execute(nb, Path(tmp), timeout=300)
            out.append(time.perf_counter() - start)
    return out


def plain_nbgrader_api(unit, root: Path):
    """nbgrader as it comes, in a workspace of ``unit`` at ``root``: tests in the
    student's own kernel, no sandbox, no feedback (the anchor; also what the hostile
    tests show would be fooled)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    from course.release.config import nbgrader_config
    from course.release.workspace import prepare
    prepare(unit, root)
    config = nbgrader_config(root)
    traits = Autograde.class_traits()
    config.Autograde.sanitize_preprocessors = traits["sanitize_preprocessors"].default()
    config.Autograde.autograde_preprocessors = traits["autograde_preprocessors"].default()
    config.Execute.timeout = 120
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _plain(unit, folder: Path, workspace: Path):
    import contextlib
    import io
    import shutil

    from course.execute import quiet_kernels
    api = plain_nbgrader_api(unit, workspace)
    per = {}
    start = time.perf_counter()
    for student_dir in sorted(folder.iterdir()):
        shutil.copytree(student_dir, workspace / "submitted" / student_dir.name)
        t = time.perf_counter()
        with quiet_kernels(), contextlib.redirect_stdout(io.StringIO()):
            api.autograde(unit.slug, student_dir.name, force=True, create=True)
        per[student_dir.name] = time.perf_counter() - t
    return time.perf_counter() - start, per


def _graded(unit, folder: Path, workspace: Path, **kw):
    subs = intake.from_folder(unit, folder)
    start = time.perf_counter()
    result = grade_batch(unit, subs, workspace, progress=False, log=lambda line: None, **kw)
    wall = time.perf_counter() - start
    per = {r["student"]: r["seconds"] for r in result.applied}
    scores = {r["student"]: (r["status"], r["score"]) for r in result.applied}
    return wall, per, scores


def _by_framework(per: dict) -> dict:
    """Mean seconds per submission of each framework ({student: s}; bench-pt-*, bench-tf-*)."""
    out = {}
    for tag, fw in (("pt", "PyTorch"), ("tf", "TensorFlow")):
        mine = [s for student, s in per.items() if student.startswith(f"bench-{tag}-")]
        out[f"s/{fw}"] = f"{statistics.mean(mine):.2f}" if mine else "-"
    return out


def run_bench(per_framework: int = 20, dask: bool = True, workspace: Path | None = None) -> int:
    from course.plot import table
    unit = find_unit("01")
    base = Path(workspace or tempfile.mkdtemp(prefix="course-bench-"))
    folder = base / "submissions"
    paths = make_submissions(unit, folder, per_framework)
    n = len(paths)
    print(f"{n} submissions ({per_framework} per framework) in {folder}")
    rows, grades = [], {}

    def row(mode, wall, per, runs=None):
        rows.append({"mode": mode, "submissions": runs or n, "wall s": f"{wall:.0f}",
                     **_by_framework(per), "submissions/min": f"{60 * (runs or n) / wall:.1f}"})
        print(table(rows[-1:]), flush=True)

    floor = {f"bench-{tag}-{i:02d}": s for fw, tag in (("pytorch", "pt"), ("tensorflow", "tf"))
             for i, s in enumerate(_floor(fw, 3))}
    row("floor: kernel start + framework import (3 per framework)", sum(floor.values()), floor,
        len(floor))
    bare = dict(zip((p.parent.parent.name for p in paths), _bare(paths)))
    row("bare nbclient execution (no grading)", sum(bare.values()), bare)
    wall, per = _plain(unit, folder, base / "plain-nbgrader")
    row("plain nbgrader autograde (no sandbox, tests in the student's kernel, no feedback)",
        wall, per)
    # (label, grading options, environment): bubblewrap's kernels started ahead against
    # kernels forked from a template (course/grade/sandbox/forkserver.py, root only).
    bwrap_only = {"COURSE_FORK_FRAMEWORKS": ""}
    runs = [("graded, sandboxed, 1 worker, cold kernels", {"workers": 1, "warm_kernels": False}, {}),
            ("graded, sandboxed, 1 worker, started ahead by bubblewrap", {"workers": 1}, bwrap_only),
            ("graded, sandboxed, 2 workers, started ahead by bubblewrap", {"workers": 2}, bwrap_only),
            ("graded, sandboxed, 1 worker, forked from a template", {"workers": 1}, {}),
            ("graded, sandboxed, 2 workers, forked from a template", {"workers": 2}, {})]
    if dask:
        runs.append(("graded, sandboxed, Dask LocalCluster (2 workers), forked",
                     {"dask": "local", "workers": 2}, {}))
    walls = {}
    for i, (label, kw, env) in enumerate(runs):
        with mock.patch.dict(os.environ, env):
            wall, per, scores = _graded(unit, folder, base / f"graded-{i}", **kw)
        grades[label], walls[label] = scores, wall
        row(label, wall, per)
    print()
    print(table(rows))
    same = len({tuple(sorted(g.items())) for g in grades.values()}) == 1
    print(f"\nidentical grades in every graded run: {'yes' if same else 'NO'}")
    for how, one, two in (("started ahead by bubblewrap", 1, 2), ("forked from a template", 3, 4)):
        print(f"2 workers vs 1, {how}: {walls[runs[one][0]] / walls[runs[two][0]]:.2f}x")
    print("s/<framework>: mean seconds of one submission (graded runs: inside its worker, "
          "sandbox, checker and feedback included); wall s: the whole batch, setup included.")
    return 0 if same else 1
