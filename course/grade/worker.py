"""Grading one submission: a pure function of a :class:`~course.grade.records.Task` and the
packed template, so that it runs in-process, in a worker process or on a Dask worker.

It grades in a private nbgrader workspace (sandboxed kernel, trusted tests:
course/grade/autograde.py), reads back the grades and the grader's record, makes the
student's feedback pages, and returns a :class:`~course.grade.records.Result`. It never
raises for anything a submission does: problems become statuses.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import time
import traceback
import warnings
from pathlib import Path

from course.grade import scratch
from course.grade.records import (
    GRADER_FAULT, STATUSES, NotebookResult, Result, Task, outcome_of,
)
from course.grade.template import unpacked
from course.layout import NOTEBOOKS


def grade_submission(task: Task, template: bytes) -> Result:
    started = time.monotonic()
    result = Result.of(task, worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        _grade_into(result, task, template)
    except Exception:  # noqa: BLE001 - a grading bug must not stop the batch
        result.error = traceback.format_exc(limit=8)
        why = traceback.format_exc(limit=1).strip()[-300:]
        for name in NOTEBOOKS.values():
            nb = result.notebooks.get(name)
            if task.files.get(name) is not None and (nb is None or nb.status is None):
                result.notebooks[name] = NotebookResult.failed("crashed", f"{GRADER_FAULT}: {why}")
    result.seconds = round(time.monotonic() - started, 3)
    return result.summarize()


def _grade_into(result: Result, task: Task, template: bytes) -> None:
    import nbformat
    from course.grade import integrity
    from course.release.config import nbgrader_api
    from course.execute import quiet_kernels

    unit, student = task.unit, task.student
    base = unpacked(template)
    work = scratch.private_dir("grade")
    try:
        for part in ("source", "release"):
            shutil.copytree(base / part, work / part)
        shutil.copyfile(base / "gradebook.db", work / "gradebook.db")
        dest = work / "submitted" / student / unit
        dest.mkdir(parents=True)
        if task.timestamp:
            (dest / "timestamp.txt").write_text(task.timestamp)
        to_grade = []
        for name in NOTEBOOKS.values():
            data = task.files.get(name)
            if data is None:
                result.notebooks[name] = NotebookResult.missing(name)
                continue
            released = nbformat.read(work / "release" / unit / name, as_version=4)
            try:
                nb = integrity.read_notebook(data, name)
                integrity.check_is_assignment(nb, released, name)
            except integrity.InvalidNotebook as exc:
                result.notebooks[name] = NotebookResult.failed("invalid notebook", str(exc))
                continue
            result.notebooks[name] = NotebookResult()
            # Only the notebooks enter the grading folder (intake named any other file).
            (dest / name).write_bytes(data)
            to_grade.append(name)
        if not to_grade:
            return
        api = nbgrader_api(work, sandbox=task.sandbox, limits=task.limits,
                          warm_kernels=task.warm_kernels)
        with quiet_kernels(), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*not in session.*")
            outcome = api.autograde(unit, student, force=True, create=True)
            _read_back(result, work, unit, student, to_grade, outcome)
            _write_feedback(result, api, work, unit, student, to_grade, task.on_tamper)
    finally:
        scratch.release(work)


def read_record(path: Path) -> dict | None:
    """The grader's record kept in an autograded notebook, or None (not graded by us)."""
    import nbformat
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: not ours
        return None
    course = nb.metadata.get("course")
    run = course.get("grading") if isinstance(course, dict) else None
    return run if isinstance(run, dict) and run.get("status") in STATUSES else None


def _log(outcome: dict) -> str:
    return ((outcome.get("error") or "") + "\n" + (outcome.get("log") or "")).strip()


def _read_back(result: Result, work: Path, unit: str, student: str, graded: list,
               outcome: dict) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    autograded = work / "autograded" / student / unit
    log = _log(outcome)
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for name in graded:
            entry = result.notebooks[name]
            path = autograded / name
            run = read_record(path) if path.exists() else None
            if run is None:
                entry.status, entry.reason = "invalid notebook", nbgrader_reason(log, name)
                continue
            try:
                nb = gb.find_submission_notebook(Path(name).stem, unit, student)
            except MissingEntry:
                entry.status = "crashed"
                entry.reason = f"{GRADER_FAULT}: no grades were recorded"
                continue
            entry.grades = {g.name: {"auto_score": _num(g.auto_score),
                                     "max_score": float(g.max_score),
                                     "needs_manual_grade": bool(g.needs_manual_grade)}
                            for g in nb.grades}
            entry.comments = {c.name: c.auto_comment for c in nb.comments}
            entry.late_penalty = _num(nb.late_submission_penalty)
            entry.score = float(nb.score)
            entry.max_score = float(nb.max_score)
            entry.run = {k: run.get(k) for k in ("seconds", "peak_mb", "cell_seconds",
                                                  "checker_errors", "sandboxed", "warm_kernel",
                                                  "forked_kernel", "checker_reused")}
            entry.autograded = path.read_text()
            entry.findings = list(run.get("findings") or [])
            entry.metadata_only = bool(run.get("metadata_only", True))
            entry.status, entry.reason = outcome_of(run)


def _write_feedback(result: Result, api, work: Path, unit: str, student: str, graded: list,
                    on_tamper: str) -> None:
    """The student's feedback pages, made here from the private gradebook (scores as the
    coordinator will apply them). A page that cannot be made is that notebook's problem
    alone: its status says so, and the rest of the class is unaffected."""
    from nbgrader.api import Gradebook
    zeroed = [n for n in graded if result.notebooks[n].zeroed(on_tamper)]
    if zeroed:
        with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
            for name in zeroed:
                for grade in gb.find_submission_notebook(Path(name).stem, unit, student).grades:
                    grade.auto_score = 0.0
            gb.db.commit()
    made = [n for n in graded if result.notebooks[n].autograded]
    if not made:
        return
    log = _log(api.generate_feedback(unit, student, force=True))
    for name in made:
        entry = result.notebooks[name]
        page = work / "feedback" / student / unit / f"{Path(name).stem}.html"
        if page.is_file():
            entry.feedback = page.read_text()
            continue
        why = nbgrader_reason(log, name).replace("could not be graded", "got no feedback page")
        entry.status = "crashed"
        entry.reason = "; ".join(r for r in (entry.reason, f"{GRADER_FAULT}: {why}") if r)


def nbgrader_reason(log: str, name: str) -> str:
    """The last error line of nbgrader's log, as a reason."""
    errors = [ln.strip() for ln in log.splitlines()
              if re.match(r"^\s*[\w.]*(Error|Exception)\b.*:", ln) and "NbGraderException" not in ln]
    detail = errors[-1][:300] if errors else (log.strip().splitlines() or ["no details"])[-1][:300]
    return f"{name} could not be graded by nbgrader: {detail}"


def _num(value):
    return None if value is None else float(value)
