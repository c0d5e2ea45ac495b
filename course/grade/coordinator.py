"""The coordinator: grade a unit's submissions safely, in parallel or on a cluster, once each.

* :func:`grade_batch` makes the tasks (skipping every submission whose key, the student,
  unit, content and assignment digests, is journaled), hands them to an executor
  (course/grade/executors.py) and is the **only writer** of the real gradebook: it
  applies each result as it comes (course/grade/apply.py). A run killed at any point
  (even ``kill -9``) and run again ends with every submission applied exactly once.
* :func:`grade` is ``course grade``: take submissions in (course/grade/intake.py), grade
  them, then write the CSV and the instructor report (course/report/).
  :func:`grade_batches` / :func:`grade_units` do the same for several units as one batch
  over the same workers (``course demo``, the test suite); a unit's CSV and report are
  written as soon as its last result is applied, while the others are still graded. Each feedback
  page is made by the worker that graded its notebook, so one student's page can never
  stop another's, and a failure on the grader's side is named in ``failures``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from course.grade import scratch
from course.grade.apply import apply_result
from course.grade.executors import make_executor
from course.grade.intake import find_submissions
from course.grade.journal import Journal
from course.grade.records import GRADER_FAULT, GradingError, Task, submission_key
from course.grade.template import make_template, template_digest
from course.layout import Unit


@dataclass
class BatchResult:
    applied: list          # journal records applied by this run
    skipped: list          # journal records of submissions applied by an earlier run
    records: dict          # student -> latest journal record (this run or earlier)
    seconds: float
    executor: str


@contextlib.contextmanager
def workspace_lock(workspace: Path):
    workspace.mkdir(parents=True, exist_ok=True)
    fh = (workspace / ".grading.lock").open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise GradingError(f"another grading run is using {workspace}; wait for it to finish "
                           f"(the lock is released when it exits, even if killed)") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def default_workers(sandbox: bool = True) -> int:
    """Workers for this machine. Where kernels are forked from templates (sandboxed, as
    root: sandbox/forkserver.py) a kernel costs no framework import: one worker per core
    (measured on 2 cores, unit 01's 40 bench notebooks: 1 worker 82 s, 2 workers 51 s).
    Elsewhere a worker grades on one core while the next kernel boots and imports its
    framework on another (sandbox/warm.py): one per two cores (1 worker 34 s, 2 workers
    39 s for unit 01's 12 notebooks)."""
    from course.grade.sandbox import forkserver
    cores = os.cpu_count() or 1
    return cores if sandbox and forkserver.possible() else max(1, cores // 2)


@dataclass
class UnitBatch:
    """One unit's share of a grading run: its submissions and the workspace they go to."""
    unit: Unit
    submissions: list           # course/grade/intake.py Submission records
    workspace: Path


def grade_batch(unit: Unit, submissions: list, workspace: Path, **kw) -> BatchResult:
    """Grade ``submissions`` (course/grade/intake.py) into ``workspace``'s gradebook."""
    return grade_batches([UnitBatch(unit, submissions, Path(workspace))], **kw)[unit.slug]


def grade_batches(batches: list, *, workers: int = 1, dask: str | None = None, executor=None,
                  sandbox: bool = True, limits: dict | None = None, regrade: bool = False,
                  on_tamper: str = "flag", warm_kernels: bool = True, progress: bool = True,
                  log=print, on_unit_done=None) -> dict:
    """Grade several units' submissions as **one** batch over the same workers.

    Returns {unit slug: BatchResult}. ``on_unit_done(batch, result)`` is called as soon
    as a unit's last result is applied, while the workers go on with the other units
    (``course grade`` writes its CSV and report there).
    """
    from nbgrader.api import Gradebook
    from tqdm.auto import tqdm

    from course.grade.sandbox.box import SandboxError, check_sandbox
    from course.grade.sandbox.limits import load_limits
    from course.release.workspace import prepare

    if on_tamper not in ("flag", "zero"):
        raise GradingError("on_tamper must be 'flag' (keep the honest scores, report) or 'zero'")
    if len({b.unit.slug for b in batches}) != len(batches):
        raise GradingError("each unit may appear once in a grading run")
    start = time.monotonic()
    unit_limits = {b.unit.slug: load_limits(b.unit.source_dir, limits) for b in batches}
    if sandbox:
        try:
            for line in dict.fromkeys(check_sandbox(lim) for lim in unit_limits.values()):
                log(line)
        except SandboxError as exc:
            raise GradingError(str(exc)) from None
    else:
        log("WARNING: --no-sandbox: student code runs unconfined, with your permissions")
    workspaces = list(dict.fromkeys(Path(b.workspace) for b in batches))
    with contextlib.ExitStack() as stack:
        for ws in workspaces:
            stack.enter_context(workspace_lock(ws))
        scratch.clean_stale()
        gradebooks = {ws: stack.enter_context(Gradebook(f"sqlite:///{ws / 'gradebook.db'}"))
                      for ws in workspaces}
        templates, units, tasks, by_key = {}, {}, [], {}
        for b in batches:
            slug, ws = b.unit.slug, Path(b.workspace)
            prepare(b.unit, ws)
            templates[slug] = make_template(b.unit)
            # What a grade depends on besides the files: tests, limits, sandbox. Change one
            # and the next run grades everything again.
            digest_of_grading = hashlib.sha256(json.dumps(
                [template_digest(b.unit), unit_limits[slug].as_dict(), sandbox], sort_keys=True
            ).encode()).hexdigest()
            journal = Journal(ws, slug)
            Journal.ensure_table(gradebooks[ws].db)
            applied = journal.applied()
            journal.repair(applied)
            state = units[slug] = _UnitState(b, journal, gradebooks[ws])
            for sub in b.submissions:
                data = sub.read()
                digest = sub.digest(data)
                key = submission_key(slug, sub.student, digest, digest_of_grading)
                if key in applied and not regrade:
                    state.skipped.append(applied[key])
                    continue
                by_key[key] = sub
                state.todo += 1
                tasks.append(Task(key, slug, sub.student, digest, data, sub.timestamp,
                                  list(sub.notes), sandbox, on_tamper,
                                  unit_limits[slug].as_dict(), warm_kernels))
            if state.skipped:
                log(f"{slug}: {len(state.skipped)} submission(s) already graded by an earlier "
                    f"run: skipped")
        ex = executor or make_executor(workers, dask)
        results = {}

        def finish(state):
            results[state.batch.unit.slug] = done = BatchResult(
                state.done, state.skipped, state.journal.latest(), time.monotonic() - start,
                getattr(ex, "name", "serial"))
            if on_unit_done is not None:
                on_unit_done(state.batch, done)

        for state in units.values():
            if state.todo == 0:
                finish(state)
        try:
            desc = f"grade {batches[0].unit.slug}" if len(batches) == 1 else \
                f"grade {len(batches)} units"
            bar = tqdm(total=len(tasks), desc=desc, unit="submission",
                       disable=not progress or not tasks)
            for task, result in ex.run(tasks, {t.unit: templates[t.unit] for t in tasks}):
                state = units[task.unit]
                state.done.append(apply_result(state.gradebook, state.journal,
                                               Path(state.batch.workspace), result,
                                               by_key[task.key], on_tamper=on_tamper))
                bar.update(1)
                state.todo -= 1
                if state.todo == 0:
                    finish(state)
            bar.close()
        finally:
            if executor is None:
                ex.close()
    return {b.unit.slug: results[b.unit.slug] for b in batches}


@dataclass
class _UnitState:
    batch: UnitBatch
    journal: Journal
    gradebook: object
    todo: int = 0
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


@dataclass
class GradeResult:
    rows: list
    csv: Path
    feedback_dir: Path
    problems: dict           # student -> "status: reason", for every student not simply graded
    report: dict | None = None
    batch: BatchResult | None = None
    failures: list = field(default_factory=list)   # what went wrong on the grader's side


def grade(unit: Unit, *, submissions: Path | None = None, workspace: Path,
          progress: bool = True, workers: int = 1, dask: str | None = None,
          sandbox: bool = True, limits: dict | None = None, regrade: bool = False,
          on_tamper: str = "flag", exchange: Path | None = None, lms_zip: Path | None = None,
          report: bool = True, log=print) -> GradeResult:
    """Take submissions in, grade them, export the CSV and the instructor report."""
    workspace = Path(workspace)
    subs = find_submissions(unit, submissions=submissions, workspace=workspace,
                            exchange=exchange, lms_zip=lms_zip)
    return grade_units([UnitBatch(unit, subs, workspace)], progress=progress, workers=workers,
                       dask=dask, sandbox=sandbox, limits=limits, regrade=regrade,
                       on_tamper=on_tamper, report=report, log=log)[unit.slug]


def grade_units(batches: list, *, report: bool = True, **kw) -> dict:
    """:func:`grade` for several units in one batch: {unit slug: GradeResult}. Each unit's
    CSV and report are written as soon as its last submission is graded, while the
    workers go on with the others."""
    for b in batches:
        if not b.submissions:
            raise GradingError(f"no submissions for {b.unit.slug} "
                               f"(expected <student>/{b.unit.slug}/<framework>.ipynb)")
    results = {}

    def export(batch: UnitBatch, done: BatchResult) -> None:
        results[batch.unit.slug] = _export(batch, done, report=report)

    grade_batches(batches, on_unit_done=export, **kw)
    return {b.unit.slug: results[b.unit.slug] for b in batches}


def _export(batch: UnitBatch, done: BatchResult, *, report: bool) -> GradeResult:
    from course.report.gradebook import read_grades, write_csv
    unit, workspace = batch.unit, Path(batch.workspace)
    students = {s.student for s in batch.submissions}
    rows = [r for r in read_grades(unit, workspace) if r.student in students]
    out = write_csv(rows, workspace / f"grades-{unit.slug}.csv")
    problems = {r.student: f"{r.status}: {r.reason}" for r in rows if r.status != "graded"}
    failures = [f"{r.student}: {r.reason}" for r in rows if GRADER_FAULT in r.reason]
    paths = None
    if report:
        from course.report.instructor import write_report
        try:
            paths = write_report(unit, workspace, rows, done.records)
        except Exception as exc:  # noqa: BLE001 - the grades and the CSV stand without it
            failures.append(f"the instructor report could not be written: {exc!r}"[:400])
    return GradeResult(rows, out, workspace / "feedback", problems, paths, done, failures)
