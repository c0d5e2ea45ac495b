"""The coordinator: grade a unit's submissions safely, in parallel or on a cluster, once each.

* :func:`grade_batch` makes the tasks (skipping every submission whose key, the student,
  unit, content and assignment digests, is journaled), hands them to an executor
  (course/grade/executors.py) and is the **only writer** of the real gradebook: it
  applies each result as it comes (course/grade/apply.py). A run killed at any point
  (even ``kill -9``) and run again ends with every submission applied exactly once.
* :func:`grade` is ``course grade``: take submissions in (course/grade/intake.py), grade
  them, then write the CSV and the instructor report (course/report/). Each feedback
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


def grade_batch(unit: Unit, submissions: list, workspace: Path, *, workers: int = 1,
                dask: str | None = None, executor=None, sandbox: bool = True,
                limits: dict | None = None, regrade: bool = False, on_tamper: str = "flag",
                warm_kernels: bool = True, progress: bool = True, log=print) -> BatchResult:
    """Grade ``submissions`` (course/grade/intake.py) into ``workspace``'s gradebook."""
    from nbgrader.api import Gradebook
    from tqdm.auto import tqdm

    from course.grade.sandbox.box import SandboxError, check_sandbox
    from course.grade.sandbox.limits import load_limits
    from course.release.workspace import prepare

    if on_tamper not in ("flag", "zero"):
        raise GradingError("on_tamper must be 'flag' (keep the honest scores, report) or 'zero'")
    start = time.monotonic()
    unit_limits = load_limits(unit.source_dir, limits)
    if sandbox:
        try:
            log(check_sandbox(unit_limits))
        except SandboxError as exc:
            raise GradingError(str(exc)) from None
    else:
        log("WARNING: --no-sandbox: student code runs unconfined, with your permissions")
    with workspace_lock(workspace):
        scratch.clean_stale()
        prepare(unit, workspace)
        template = make_template(unit)
        # What a grade depends on besides the files: tests, limits, sandbox. Change one and
        # the next run grades everything again.
        digest_of_grading = hashlib.sha256(json.dumps(
            [template_digest(unit), unit_limits.as_dict(), sandbox], sort_keys=True).encode()
        ).hexdigest()
        journal = Journal(workspace, unit.slug)
        with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
            Journal.ensure_table(gb.db)
            applied = journal.applied()
            journal.repair(applied)
            tasks, skipped, by_key = [], [], {}
            for sub in submissions:
                data = sub.read()
                digest = sub.digest(data)
                key = submission_key(unit.slug, sub.student, digest, digest_of_grading)
                if key in applied and not regrade:
                    skipped.append(applied[key])
                    continue
                by_key[key] = sub
                tasks.append(Task(key, unit.slug, sub.student, digest, data, sub.timestamp,
                                  list(sub.notes), sandbox, on_tamper, unit_limits.as_dict(),
                                  warm_kernels))
            if skipped:
                log(f"{len(skipped)} submission(s) already graded by an earlier run: skipped")
            ex = executor or make_executor(workers, dask)
            done = []
            try:
                bar = tqdm(total=len(tasks), desc=f"grade {unit.slug}", unit="submission",
                           disable=not progress or not tasks)
                for task, result in ex.run(tasks, template):
                    done.append(apply_result(gb, journal, workspace, result, by_key[task.key],
                                             on_tamper=on_tamper))
                    bar.update(1)
                bar.close()
            finally:
                if executor is None:
                    ex.close()
        records = journal.latest()
    return BatchResult(done, skipped, records, time.monotonic() - start,
                       getattr(ex, "name", "serial"))


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
    from course.report.gradebook import read_grades, write_csv
    workspace = Path(workspace)
    subs = find_submissions(unit, submissions=submissions, workspace=workspace,
                            exchange=exchange, lms_zip=lms_zip)
    if not subs:
        raise GradingError(f"no submissions for {unit.slug} "
                           f"(expected <student>/{unit.slug}/<framework>.ipynb)")
    done = grade_batch(unit, subs, workspace, workers=workers, dask=dask, sandbox=sandbox,
                       limits=limits, regrade=regrade, on_tamper=on_tamper,
                       progress=progress, log=log)
    students = {s.student for s in subs}
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
