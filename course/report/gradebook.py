"""The gradebook read back: one row per student and unit (the better of the two notebooks:
one framework alone earns full marks), with the status and reason of the latest result;
the grades CSV; and feedback pages made again from a graded workspace.

Statuses come from the journal of ``course grade`` (course/grade/journal.py) or, for a
workspace graded by nbgrader's own ``autograde`` (formgrader, a hub), from the grader's
record kept in each autograded notebook.
"""
from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from course.execute import quiet_kernels
from course.grade import integrity
from course.grade.intake import from_folder
from course.grade.journal import Journal
from course.grade.records import GradingError, NotebookResult, Result, outcome_of
from course.grade.worker import read_record
from course.layout import NOTEBOOKS, Unit
from course.release.config import nbgrader_api


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
    if not (workspace / "gradebook.db").exists():
        return {}
    journaled = {student: (rec["status"], rec.get("reason") or "")
                 for student, rec in Journal(workspace, unit.slug).latest().items()}
    return {**statuses_from_autograded(unit, workspace, skip=set(journaled)), **journaled}


def statuses_from_autograded(unit: Unit, workspace: Path, *, skip=frozenset()) -> dict:
    """{student: (status, reason)} for a workspace graded by ``nbgrader autograde`` (the
    formgrader, a hub): from the grader's record in each autograded notebook, and for a
    notebook nbgrader could not grade, from the submitted file itself."""
    import nbformat
    submitted = workspace / "submitted"
    if not submitted.is_dir():
        return {}
    out = {}
    for sub in from_folder(unit, submitted):
        if sub.student in skip:
            continue
        result = Result("", sub.student, unit.slug, "", notes=list(sub.notes))
        graded = workspace / "autograded" / sub.student / unit.slug
        for name in NOTEBOOKS.values():
            path = sub.files.get(name)
            if path is None:
                result.notebooks[name] = NotebookResult.missing(name)
                continue
            run = read_record(graded / name) if (graded / name).exists() else None
            if run is not None:
                status, reason = outcome_of({**run, "notes": [
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
            result.notebooks[name] = NotebookResult(status=status, reason=reason, score=score)
        result.summarize()
        out[sub.student] = (result.status, result.reason)
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
    dicts = [{k: _cell(v) for k, v in r.as_dict().items()} for r in rows]
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
    (``course grade`` makes each page while grading, course/grade/coordinator.py.)"""
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


def _cell(value):
    # A spreadsheet runs a cell that starts like a formula: student text (file names in a
    # reason) must never reach the instructor's spreadsheet as one.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
