"""The grader's records: a submission, the task of grading it, and its result.

A :class:`Task` goes to a worker (in this process, another one, or a Dask worker
anywhere: everything in it is plain data); a :class:`Result` comes back, one
:class:`NotebookResult` per notebook; :meth:`Result.journal_record` is what the
gradebook's journal keeps (course/grade/journal.py). Every notebook and every result
ends with one of :data:`STATUSES` and a reason.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

from course.layout import NOTEBOOKS

Status = Literal["graded", "timed out", "crashed", "invalid notebook", "tampered", "missing"]
STATUSES: tuple = get_args(Status)
# When two notebooks score the same, the unit's status is the first of these.
PRIORITY = ("graded", "timed out", "crashed", "invalid notebook", "missing")
# How a reason marks a failure of the grader (not of the student's work).
GRADER_FAULT = "grading error (not the student's)"


class GradingError(RuntimeError):
    """Grading could not run; the message says why and what to do."""


@dataclass
class Submission:
    """One student's work for one unit, as found by intake (course/grade/intake.py)."""
    student: str
    unit: str
    files: dict = field(default_factory=dict)     # "pytorch.ipynb" -> Path
    timestamp: str | None = None                  # submission time (ISO 8601), if known
    notes: list = field(default_factory=list)     # intake remarks (wrong file names, ...)
    origin: str = ""
    secret: str | None = None                     # nbgrader's submission secret (feedback)

    def read(self) -> dict:
        return {name: Path(p).read_bytes() for name, p in sorted(self.files.items())}

    def digest(self, data: dict | None = None) -> str:
        h = hashlib.sha256()
        for name, content in sorted((data or self.read()).items()):
            h.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        h.update(f"\0{self.timestamp or ''}\0{sorted(self.notes)}".encode())
        return h.hexdigest()


def submission_key(unit: str, student: str, digest: str, template_digest: str) -> str:
    combined = hashlib.sha256(f"{digest}:{template_digest}".encode()).hexdigest()[:20]
    return f"{unit}/{student}/{combined}"


@dataclass
class Task:
    """Everything a worker needs to grade one submission (no shared filesystem)."""
    key: str
    unit: str
    student: str
    digest: str
    files: dict                                   # "pytorch.ipynb" -> the notebook's bytes
    timestamp: str | None = None
    notes: list = field(default_factory=list)
    sandbox: bool = True
    on_tamper: str = "flag"                       # "flag" | "zero"
    limits: dict | None = None                    # all of them: a worker need not have units/
    warm_kernels: bool = True                     # kernels started ahead (sandbox/warm.py)


@dataclass
class NotebookResult:
    """How one notebook of a submission was graded."""
    status: Status | None = None
    score: float = 0.0
    reason: str = ""
    grades: dict = field(default_factory=dict)    # grade id -> auto_score, max_score, ...
    comments: dict = field(default_factory=dict)
    late_penalty: float | None = None
    max_score: float | None = None
    findings: list = field(default_factory=list)  # tampering, for the instructor
    metadata_only: bool = True                    # every finding is a metadata edit
    run: dict | None = None                       # seconds, peak memory, per-cell times
    autograded: str | None = None                 # the autograded notebook (text)
    feedback: str | None = None                   # the student's feedback page (HTML)

    @classmethod
    def missing(cls, name: str) -> "NotebookResult":
        return cls(status="missing", reason=f"{name} was not submitted")

    @classmethod
    def failed(cls, status: Status, reason: str) -> "NotebookResult":
        return cls(status=status, reason=reason)

    def zeroed(self, on_tamper: str) -> bool:
        """--on-tamper zero gives a tampered notebook 0, unless metadata edits were all."""
        return on_tamper == "zero" and self.status == "tampered" and not self.metadata_only

    def summary(self) -> dict:
        """The journal's view: everything but the notebook's and the page's full text."""
        return {k: v for k, v in asdict(self).items() if k not in ("autograded", "feedback")}


@dataclass
class Result:
    """The result of one task: per notebook, and for the unit (the better notebook)."""
    key: str
    student: str
    unit: str
    digest: str
    timestamp: str | None = None
    worker: str = "?"
    notebooks: dict = field(default_factory=dict)  # "pytorch.ipynb" -> NotebookResult
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    status: Status = "crashed"
    reason: str = ""
    score: float = 0.0
    framework: str = "-"

    @classmethod
    def of(cls, task: Task, worker: str = "?") -> "Result":
        return cls(task.key, task.student, task.unit, task.digest, task.timestamp, worker,
                   notes=list(task.notes))

    def summarize(self) -> "Result":
        """The unit's status, reason and score from its notebooks (the better one counts)."""
        submitted = {n: e for n, e in self.notebooks.items() if e.status != "missing"}
        rank = {s: i for i, s in enumerate(PRIORITY)}
        best_name, best = max(self.notebooks.items(), default=(None, NotebookResult()),
                              key=lambda kv: (kv[1].score or 0.0, -rank.get(kv[1].status, 9)))
        self.framework = Path(best_name).stem if best_name and (best.score or 0) > 0 else "-"
        self.score = float(best.score or 0.0)
        if not submitted:
            self.status = "missing"
            self.reason = "; ".join(self.notes) if self.notes else "no notebook submitted"
            return self
        if any(e.status == "tampered" for e in submitted.values()):
            self.status = "tampered"
        else:
            self.status = (best.status if best_name in submitted
                           else next(iter(submitted.values())).status) or "crashed"
        parts = [f"{n}: {e.reason}" for n, e in sorted(submitted.items()) if e.reason]
        self.reason = "; ".join(parts + list(self.notes))
        return self

    def journal_record(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "notebooks"}
        out["notebooks"] = {n: e.summary() for n, e in self.notebooks.items()}
        return out


def failed_result(task: Task, why: str) -> Result:
    """A task whose worker failed: crashed (the grader's fault), never any points."""
    result = Result.of(task)
    for name in NOTEBOOKS.values():
        result.notebooks[name] = (NotebookResult.failed("crashed", f"{GRADER_FAULT}: {why}")
                                  if name in task.files else NotebookResult.missing(name))
    return result.summarize()


def outcome_of(run: dict) -> tuple[str, str]:
    """A notebook's status and reason from the grader's record of it (the autograded
    notebook's metadata, course/grade/autograde.py): tampering first, then how the run
    ended, then the notes (files left out, a pasted test cell)."""
    findings, reasons = list(run.get("findings") or []), list(run.get("reasons") or [])
    notes, status = list(run.get("notes") or []), run.get("status") or "crashed"
    if findings:
        also = [f"also {status}"] if status != "graded" else []
        return "tampered", "; ".join(findings + reasons + also + notes)
    return status, "; ".join(reasons + notes)
