"""Grading with nbgrader: release, autograde, gradebook, CSV and feedback.

One nbgrader *assignment* per unit holds both notebooks (``pytorch.ipynb`` and
``tensorflow.ipynb``). nbgrader scores a notebook the student did not submit as 0,
so a unit's grade is the better of its two notebooks: one framework alone earns
full marks (see :func:`read_grades`).

:func:`grade` takes submissions in (course/intake.py), grades them with the batch engine
(course/batch.py: sandboxed kernels, tests in the trusted checker, parallel or on Dask,
resumable, each submission applied once), then writes the CSV (a status and a reason per
student), the feedback pages and the instructor report (course/report.py).
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course import source as src
from course.execute import KERNEL_ARGS, KERNEL_ENV
from course.layout import NOTEBOOKS, Unit
from course.runtime import FRAMEWORKS


class GradingError(RuntimeError):
    """Grading could not run; the message says why and what to do."""


def nbgrader_config(root: Path, *, sandbox: bool = True, limits: dict | None = None):
    """Settings of the nbgrader workspace at ``root``; ``nbgrader autograde`` run there by
    hand also sandboxes student code and runs tests in the trusted checker."""
    from traitlets.config import Config

    c = Config()
    root = Path(root).resolve()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "open-dl-course"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.interrupt_on_timeout = True
    c.Execute.extra_arguments = list(KERNEL_ARGS)
    # Our tests signal failure only by raising; anything on stderr in a test cell is a
    # framework warning or log line, which must not cost points (nbgrader would score 0).
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"[\s\S]"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Exchange.root = str(root / "exchange")
    # Only notebooks travel: `nbgrader submit` and `collect` carry the notebooks (and
    # nbgrader's timestamp), and autograde / feedback copy no other file of a submission
    # into their folders (a unit's folder, NN-slug, is skipped whole when copying "other
    # files"; the notebooks are handled on their own). course/sanitize.py removes and
    # names anything that still arrives.
    c.CourseDirectory.include = ["*.ipynb", "timestamp.txt"]
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                                "[0-9][0-9]-*"]
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from course.feedback import (FeedbackOutputs, GradingStatus, HideHiddenTests,
                                 RedactTracebacks)
    c.GenerateFeedback.preprocessors = [GetGrades, FeedbackOutputs, HideHiddenTests,
                                        RedactTracebacks, GradingStatus,
                                        CSSHTMLHeaderPreprocessor]
    c.NbGraderAPI.log_level = logging.ERROR
    from course.guarded import nbgrader_overrides
    c.merge(nbgrader_overrides(sandbox=sandbox, limits=limits))
    return c


def _ensure_venv_on_path() -> None:
    # nbgrader runs the `alembic` executable by name: it must resolve to this environment's.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def nbgrader_api(root: Path, **kw):
    _ensure_venv_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(root, **kw)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def _run(result: dict, what: str) -> None:
    if not result.get("success"):
        detail = (result.get("error") or "") + "\n" + (result.get("log") or "")
        raise GradingError(f"{what} failed:\n{detail.strip()}")


@contextlib.contextmanager
def quiet_kernels():
    """nbgrader's kernels inherit this process's environment: quiet them while grading."""
    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare(unit: Unit, workspace: Path) -> None:
    """Copy the solutions into the workspace's source/ and register the assignment."""
    source_dir = workspace / "source" / unit.slug
    source_dir.mkdir(parents=True, exist_ok=True)
    for fw in FRAMEWORKS:
        path = unit.solution(fw)
        if not path.exists():
            raise GradingError(f"{path} is missing: run `course build {unit.slug}` first.")
        shutil.copyfile(path, source_dir / NOTEBOOKS[fw])
    (workspace / "nbgrader_config.py").write_text(
        "# Written by `course grade`; the settings live in course/grading.py.\n"
        "from course.grading import nbgrader_config\n"
        "from pathlib import Path\n"
        "c.merge(nbgrader_config(Path(__file__).resolve().parent))\n")
    with contextlib.redirect_stdout(io.StringIO()):
        _run(nbgrader_api(workspace).generate_assignment(unit.slug, force=True, create=True),
             f"nbgrader generate_assignment {unit.slug}")


def release_texts(unit: Unit) -> dict:
    """{assignments/<unit>/<fw>.ipynb: text} made by nbgrader's generate_assignment."""
    import nbformat

    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = Path(tmp)
        source_dir = root / "source" / unit.slug
        source_dir.mkdir(parents=True)
        for fw in FRAMEWORKS:
            text = src.dumps(src.build_notebook(unit, "assignment", fw))
            (source_dir / NOTEBOOKS[fw]).write_text(text)
        with contextlib.redirect_stdout(io.StringIO()):
            _run(nbgrader_api(root).generate_assignment(unit.slug, force=True, create=True),
                 f"nbgrader generate_assignment {unit.slug}")
        out = {}
        for fw in FRAMEWORKS:
            nb = nbformat.read(root / "release" / unit.slug / NOTEBOOKS[fw], as_version=4)
            out[unit.assignment(fw)] = src.dumps(nb)
        return out


@dataclass
class GradeRow:
    student: str
    unit: str
    framework: str           # the notebook that earned the grade ("-" if none)
    score: float
    max_score: float
    parts: dict              # grade_id -> score, from that notebook
    status: str = "graded"   # graded | timed out | crashed | invalid notebook | tampered | missing
    reason: str = ""

    def as_dict(self) -> dict:
        row = {"student": self.student, "unit": self.unit, "framework": self.framework,
               "score": self.score, "max_score": self.max_score, "status": self.status}
        row.update({f"part:{k}": v for k, v in self.parts.items()})
        row["reason"] = self.reason
        return row


def read_grades(unit: Unit, workspace: Path) -> list[GradeRow]:
    """The unit grade of every student: the better of the two notebooks."""
    from nbgrader.api import Gradebook, MissingEntry

    db = workspace / "gradebook.db"
    if not db.exists():
        raise GradingError(f"no gradebook at {db}: run `course grade {unit.slug}` first")
    rows = []
    statuses = read_statuses(unit, workspace)
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in sorted(s.id for s in gb.students):
            best = None
            for fw, nb_name in NOTEBOOKS.items():
                try:
                    nb = gb.find_submission_notebook(Path(nb_name).stem, unit.slug, student)
                except MissingEntry:
                    continue
                parts = {g.name: float(g.score) for g in sorted(nb.grades, key=lambda g: g.name)}
                cand = (float(nb.score), fw, float(nb.max_score), parts)
                if best is None or cand[0] > best[0]:
                    best = cand
            if best is not None:
                status, reason = statuses.get(student, ("graded", ""))
                rows.append(GradeRow(student, unit.slug, best[1] if best[0] > 0 else "-",
                                     best[0], best[2], best[3], status, reason))
    return rows


def read_statuses(unit: Unit, workspace: Path) -> dict:
    """{student: (status, reason)}: each student's latest result applied by ``course grade``
    (the journal), else what nbgrader's own ``autograde`` left in the workspace."""
    import sqlite3
    from course.batch import JOURNAL_TABLE
    db = workspace / "gradebook.db"
    if not db.exists():
        return {}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        try:
            rows = con.execute(f"SELECT student, status, reason FROM {JOURNAL_TABLE} "
                               f"WHERE unit = ? ORDER BY applied_at, rowid", (unit.slug,)).fetchall()
        except sqlite3.OperationalError:  # graded by nbgrader alone, or before the journal
            rows = []
    journaled = {student: (status, reason or "") for student, status, reason in rows}
    return {**statuses_from_autograded(unit, workspace, skip=set(journaled)), **journaled}


def statuses_from_autograded(unit: Unit, workspace: Path, *, skip=frozenset()) -> dict:
    """{student: (status, reason)} for a workspace graded by ``nbgrader autograde`` (the
    formgrader, a hub): from the grader's record in each autograded notebook, and for a
    notebook nbgrader could not grade, from the submitted file itself."""
    import nbformat
    from course import batch, integrity, intake
    submitted = workspace / "submitted"
    if not submitted.is_dir():
        return {}
    out = {}
    for sub in intake.from_folder(unit, submitted):
        if sub.student in skip:
            continue
        result = {"notebooks": {}, "notes": list(sub.notes)}
        graded = workspace / "autograded" / sub.student / unit.slug
        for name in NOTEBOOKS.values():
            path = sub.files.get(name)
            if path is None:
                result["notebooks"][name] = {"status": "missing", "score": 0.0,
                                             "reason": f"{name} was not submitted"}
                continue
            run = batch.read_record(graded / name) if (graded / name).exists() else None
            if run is not None:
                status, reason = batch.outcome_of({**run, "notes": [
                    n for n in run.get("notes") or [] if n not in sub.notes]})
                score = _notebook_score(workspace, unit, sub.student, name)
            else:
                status, reason, score = "crashed", "nbgrader did not grade it (see its log)", 0.0
                try:
                    released = nbformat.read(workspace / "release" / unit.slug / name, 4)
                    integrity.check_is_assignment(integrity.read_notebook(
                        Path(path).read_bytes(), name), released, name)
                except integrity.InvalidNotebook as exc:
                    status, reason = "invalid notebook", str(exc)
                except OSError:
                    pass
            result["notebooks"][name] = {"status": status, "reason": reason, "score": score}
        batch.summarize(result)
        out[sub.student] = (result["status"], result["reason"])
    return out


def _notebook_score(workspace: Path, unit: Unit, student: str, name: str) -> float:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
        try:
            return float(gb.find_submission_notebook(Path(name).stem, unit.slug, student).score)
        except MissingEntry:
            return 0.0


def write_csv(rows: list[GradeRow], path: Path) -> Path:
    """One row per student and unit, one column per graded part."""
    dicts = [r.as_dict() for r in rows]
    columns = []
    for d in dicts:
        columns += [k for k in d if k not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(dicts)
    tmp.replace(path)
    return path


def format_table(rows: list[GradeRow]) -> str:
    from course.plot import table
    return table([{"student": r.student, "unit": r.unit, "framework": r.framework,
                   "score": f"{r.score:g} / {r.max_score:g}", "status": r.status} for r in rows])


def write_feedback(unit: Unit, workspace: Path) -> tuple[Path, list[str]]:
    """Feedback pages again for every graded student of ``unit``, one student at a time:
    a page that cannot be made is named in the returned list and stops no one else.
    (``course grade`` makes each page while grading, course/batch.py.)"""
    graded = sorted(p.parent.name for p in (workspace / "autograded").glob(f"*/{unit.slug}")
                    if p.is_dir())
    failures = []
    api = nbgrader_api(workspace)
    for student in graded:
        with contextlib.redirect_stdout(io.StringIO()), quiet_kernels():
            result = api.generate_feedback(unit.slug, student, force=True)
        if not result.get("success"):
            detail = ((result.get("error") or "") + "\n" + (result.get("log") or "")).strip()
            failures.append(f"{student}: no feedback page ({detail.splitlines()[-1][:200] if detail else 'no details'})")
    return workspace / "feedback", failures


@dataclass
class GradeResult:
    rows: list
    csv: Path
    feedback_dir: Path
    problems: dict           # student -> "status: reason", for every student not simply graded
    report: dict | None = None
    batch: object = None
    failures: list = field(default_factory=list)   # what went wrong on the grader's side


def find_submissions(unit: Unit, *, submissions: Path | None = None, workspace: Path,
                     exchange: Path | None = None, lms_zip: Path | None = None) -> list:
    """The submissions to grade, from one source (default: the workspace's submitted/)."""
    from course import intake
    if lms_zip is not None:
        subs, roster, skipped = intake.from_lms_zip(unit, lms_zip, workspace / "intake" / unit.slug)
        intake.save_roster(workspace, roster)
        for line in skipped:
            print(f"intake: {line}")
        return subs
    if exchange is not None:
        return intake.from_exchange(unit, exchange)
    folder = submissions if submissions is not None else workspace / "submitted"
    if submissions is None and not folder.is_dir():
        return []
    return intake.from_folder(unit, folder)


def grade(unit: Unit, *, submissions: Path | None = None, workspace: Path,
          progress: bool = True, workers: int = 1, dask: str | None = None,
          sandbox: bool = True, limits: dict | None = None, regrade: bool = False,
          on_tamper: str = "flag", exchange: Path | None = None, lms_zip: Path | None = None,
          report: bool = True, log=print) -> GradeResult:
    """Take submissions in, grade them (course/batch.py), export CSV, feedback and report."""
    from course import batch
    workspace = Path(workspace)
    subs = find_submissions(unit, submissions=submissions, workspace=workspace,
                            exchange=exchange, lms_zip=lms_zip)
    if not subs:
        raise GradingError(f"no submissions for {unit.slug} "
                           f"(expected <student>/{unit.slug}/<framework>.ipynb)")
    done = batch.grade_batch(unit, subs, workspace, workers=workers, dask=dask, sandbox=sandbox,
                             limits=limits, regrade=regrade, on_tamper=on_tamper,
                             progress=progress, log=log)
    students = {s.student for s in subs}
    rows = [r for r in read_grades(unit, workspace) if r.student in students]
    out = write_csv(rows, workspace / f"grades-{unit.slug}.csv")
    problems = {r.student: f"{r.status}: {r.reason}" for r in rows if r.status != "graded"}
    failures = [f"{r.student}: {r.reason}" for r in rows if GRADER_FAULT in r.reason]
    paths = None
    if report:
        from course.report import write_report
        try:
            paths = write_report(unit, workspace, rows, done.records)
        except Exception as exc:  # noqa: BLE001 - the grades and the CSV stand without it
            failures.append(f"the instructor report could not be written: {exc!r}"[:400])
    return GradeResult(rows, out, workspace / "feedback", problems, paths, done, failures)


# How a reason marks a failure of the grader (not of the student's work).
GRADER_FAULT = "grading error (not the student's)"
