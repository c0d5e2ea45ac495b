"""Grading with nbgrader: release, autograde, gradebook, CSV and feedback.

One nbgrader *assignment* per unit holds both notebooks (``pytorch.ipynb`` and
``tensorflow.ipynb``). nbgrader scores a notebook the student did not submit as 0,
so a unit's grade is the better of its two notebooks: one framework alone earns
full marks (see :func:`read_grades`).
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
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from course import source as src
from course.execute import KERNEL_ARGS, KERNEL_ENV
from course.layout import NOTEBOOKS, Unit
from course.runtime import FRAMEWORKS

DEFAULT_CELL_TIMEOUT = 300  # seconds; training cells need more than nbgrader's 30


class GradingError(RuntimeError):
    """Grading could not run; the message says why and what to do."""


def nbgrader_config(root: Path, *, cell_timeout: int = DEFAULT_CELL_TIMEOUT):
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "open-dl-course"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.Execute.extra_arguments = list(KERNEL_ARGS)
    # Our tests signal failure only by raising; anything on stderr in a test cell is a
    # framework warning or log line, which must not cost points (nbgrader would score 0).
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"[\s\S]"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Exchange.root = str(root / "exchange")
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from course.feedback import HideHiddenTests, RedactTracebacks
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, RedactTracebacks,
                                        CSSHTMLHeaderPreprocessor]
    c.NbGraderAPI.log_level = logging.ERROR
    return c


def _ensure_venv_on_path() -> None:
    # nbgrader runs the `alembic` executable by name: it must resolve to this environment's.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _api(root: Path, **kw):
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
def _kernel_env():
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
        _run(_api(workspace).generate_assignment(unit.slug, force=True, create=True),
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
            _run(_api(root).generate_assignment(unit.slug, force=True, create=True),
                 f"nbgrader generate_assignment {unit.slug}")
        out = {}
        for fw in FRAMEWORKS:
            nb = nbformat.read(root / "release" / unit.slug / NOTEBOOKS[fw], as_version=4)
            out[unit.assignment(fw)] = src.dumps(nb)
        return out


def intake(unit: Unit, submissions: Path, workspace: Path) -> list[str]:
    """Copy ``<student>/<unit>/*.ipynb`` into the workspace (submissions stay untouched)."""
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist")
    students = []
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        found = student_dir / unit.slug
        notebooks = [found / n for n in NOTEBOOKS.values() if (found / n).is_file()]
        if not notebooks:
            continue
        dest = workspace / "submitted" / student_dir.name / unit.slug
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for nb in notebooks:
            shutil.copyfile(nb, dest / nb.name)
        students.append(student_dir.name)
    return students


def submitted_students(unit: Unit, workspace: Path) -> list[str]:
    base = workspace / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / unit.slug).is_dir())


def autograde(unit: Unit, workspace: Path, students: list[str], *, progress: bool = True,
              cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> dict:
    """Autograde each student's submission; returns {student: error text or None}."""
    api = _api(workspace, cell_timeout=cell_timeout)
    problems = {}
    with _kernel_env():
        for student in tqdm(students, desc=f"autograde {unit.slug}", unit="submission",
                            disable=not progress):
            with contextlib.redirect_stdout(io.StringIO()):
                result = api.autograde(unit.slug, student, force=True, create=True)
            problems[student] = None if result.get("success") else (
                result.get("error") or result.get("log") or "autograde failed")
    return problems


@dataclass
class GradeRow:
    student: str
    unit: str
    framework: str           # the notebook that earned the grade ("-" if none)
    score: float
    max_score: float
    parts: dict              # grade_id -> score, from that notebook

    def as_dict(self) -> dict:
        row = {"student": self.student, "unit": self.unit, "framework": self.framework,
               "score": self.score, "max_score": self.max_score}
        row.update({f"part:{k}": v for k, v in self.parts.items()})
        return row


def read_grades(unit: Unit, workspace: Path) -> list[GradeRow]:
    """The unit grade of every student: the better of the two notebooks."""
    from nbgrader.api import Gradebook, MissingEntry

    db = workspace / "gradebook.db"
    if not db.exists():
        raise GradingError(f"no gradebook at {db}: run `course grade {unit.slug}` first")
    rows = []
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
                rows.append(GradeRow(student, unit.slug, best[1] if best[0] > 0 else "-",
                                     best[0], best[2], best[3]))
    return rows


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
                   "score": f"{r.score:g} / {r.max_score:g}"} for r in rows])


def write_feedback(unit: Unit, workspace: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        _run(_api(workspace).generate_feedback(unit.slug, force=True),
             f"nbgrader generate_feedback {unit.slug}")
    return workspace / "feedback"


@dataclass
class GradeResult:
    rows: list
    csv: Path
    feedback_dir: Path
    problems: dict


def grade(unit: Unit, *, submissions: Path | None = None, workspace: Path,
          progress: bool = True) -> GradeResult:
    """Prepare, take in submissions, autograde, export CSV and write feedback."""
    workspace.mkdir(parents=True, exist_ok=True)
    prepare(unit, workspace)
    students = intake(unit, submissions, workspace) if submissions else \
        submitted_students(unit, workspace)
    if not students:
        raise GradingError(f"no submissions for {unit.slug} "
                           f"(expected <student>/{unit.slug}/<framework>.ipynb)")
    problems = autograde(unit, workspace, students, progress=progress)
    rows = [r for r in read_grades(unit, workspace) if r.student in students]
    out = write_csv(rows, workspace / f"grades-{unit.slug}.csv")
    feedback = write_feedback(unit, workspace)
    return GradeResult(rows, out, feedback, problems)
