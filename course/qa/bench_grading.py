"""``course bench-grading``: what grading costs, and how it scales (prints a table).

Generates N submissions per framework for unit 01 from its fixtures (reference, naive,
slips, untouched, edited tests, warnings: repeated under new student ids), then times
* bare nbclient execution of each submitted notebook (no grading, no sandbox, no tests),
* our grading, one worker (sandbox, trusted checker, journal, gradebook),
* our grading with 2 worker processes, and with a 2-worker Dask LocalCluster.
Times depend on the machine and its load: nothing is asserted.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

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


def _graded(unit, folder: Path, workspace: Path, **kw):
    subs = intake.from_folder(unit, folder)
    start = time.perf_counter()
    result = grade_batch(unit, subs, workspace, progress=False, log=lambda line: None, **kw)
    wall = time.perf_counter() - start
    per = [r["seconds"] for r in result.applied]
    scores = {r["student"]: (r["status"], r["score"]) for r in result.applied}
    return wall, per, scores


def run_bench(per_framework: int = 20, dask: bool = True, workspace: Path | None = None) -> int:
    from course.plot import table
    unit = find_unit("01")
    base = Path(workspace or tempfile.mkdtemp(prefix="course-bench-"))
    folder = base / "submissions"
    paths = make_submissions(unit, folder, per_framework)
    n = len(paths)
    print(f"{n} submissions ({per_framework} per framework) in {folder}")
    rows, grades = [], {}
    bare = _bare(paths)
    rows.append({"mode": "bare nbclient execution (no grading)", "submissions": n,
                 "wall s": f"{sum(bare):.0f}", "s/submission": f"{statistics.mean(bare):.1f}",
                 "submissions/min": f"{60 * n / sum(bare):.1f}"})
    print(table(rows[-1:]))
    runs = [("graded, sandboxed, 1 worker", {"workers": 1}),
            ("graded, sandboxed, 2 workers", {"workers": 2})]
    if dask:
        runs.append(("graded, sandboxed, Dask LocalCluster (2 workers)", {"dask": "local", "workers": 2}))
    for label, kw in runs:
        ws = base / label.split(",")[-1].strip().replace(" ", "-").replace("(", "").replace(")", "")
        wall, per, scores = _graded(unit, folder, ws, **kw)
        grades[label] = scores
        rows.append({"mode": label, "submissions": n, "wall s": f"{wall:.0f}",
                     "s/submission": f"{statistics.mean(per):.1f}",
                     "submissions/min": f"{60 * n / wall:.1f}"})
        print(table(rows[-1:]))
    print()
    print(table(rows))
    same = len({tuple(sorted(g.items())) for g in grades.values()}) == 1
    print(f"\nidentical grades in every graded run: {'yes' if same else 'NO'}")
    print("s/submission: mean time of one submission (graded runs: inside its worker, "
          "sandbox and checker included); wall s: the whole batch, setup included.")
    return 0 if same else 1
