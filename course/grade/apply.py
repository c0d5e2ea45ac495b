"""Applying a result to the real gradebook, whole or not at all (the coordinator alone).

Files first (each written atomically: the submission's copy, the autograded notebook,
the feedback pages), then the grades and the journal row in **one** SQLite transaction,
then the JSONL line for people. A run killed at any point leaves the gradebook either
with the result or without it, never half of it.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

from course.grade.journal import Journal
from course.grade.records import GradingError, NotebookResult, Result, Submission
from course.layout import NOTEBOOKS


@contextlib.contextmanager
def one_transaction(gb):
    """nbgrader's Gradebook commits after each change; inside this block its commits
    only flush, and the one real commit happens at the end (or everything rolls back)."""
    db = gb.db
    real_commit, real_rollback = db.commit, db.rollback

    def no_rollback():
        raise GradingError("the gradebook refused a change (rolled back)")

    db.commit, db.rollback = db.flush, no_rollback
    try:
        yield db
        db.commit = real_commit
        real_commit()
    except BaseException:
        db.commit, db.rollback = real_commit, real_rollback
        real_rollback()
        raise
    finally:
        db.commit, db.rollback = real_commit, real_rollback


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_files(workspace: Path, result: Result, submission: Submission) -> None:
    unit, student = result.unit, result.student
    submitted = workspace / "submitted" / student / unit
    if submission.files and Path(next(iter(submission.files.values()))).parent.resolve() \
            != submitted.resolve():
        for old in submitted.glob("*.ipynb") if submitted.is_dir() else []:
            if old.name not in submission.files:
                old.unlink()
        for name, src in submission.files.items():
            write_atomic(submitted / name, Path(src).read_bytes())
        if submission.timestamp:
            write_atomic(submitted / "timestamp.txt", submission.timestamp.encode())
        if submission.secret:
            write_atomic(submitted / "submission_secret.txt", submission.secret.encode())
    autograded = workspace / "autograded" / student / unit
    feedback = workspace / "feedback" / student / unit
    for name in NOTEBOOKS.values():
        entry = result.notebooks.get(name, NotebookResult())
        page = feedback / f"{Path(name).stem}.html"
        for path, text in ((autograded / name, entry.autograded), (page, entry.feedback)):
            if text is not None:
                write_atomic(path, text.encode())
            elif path.exists():
                path.unlink()  # from an earlier submission: no longer graded
    # What `nbgrader release_feedback` needs beside the pages (as generate_feedback leaves it)
    for name, value in (("timestamp.txt", submission.timestamp), ("submission_secret.txt", submission.secret)):
        if value and any(feedback.glob("*.html")):
            write_atomic(feedback / name, value.encode())


def apply_result(gb, journal: Journal, workspace: Path, result: Result, submission: Submission,
                 *, on_tamper: str = "flag") -> dict:
    """Apply ``result``; returns its journal record."""
    _write_files(workspace, result, submission)
    record = result.journal_record()
    record["applied_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["on_tamper"] = on_tamper
    with warnings.catch_warnings(), one_transaction(gb) as db:
        warnings.filterwarnings("ignore", message=r".*not in session.*")
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
        sub = gb.update_or_create_submission(result.unit, result.student, **kwargs)
        max_total = 0.0
        for nb in sub.notebooks:
            entry = result.notebooks.get(f"{nb.name}.ipynb", NotebookResult())
            zero = entry.zeroed(on_tamper)
            for grade in nb.grades:
                g = entry.grades.get(grade.name)
                if g is None or zero:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
                else:
                    grade.auto_score = g["auto_score"]
                    grade.needs_manual_grade = bool(g["needs_manual_grade"]) \
                        or grade.manual_score is not None
            for comment in nb.comments:
                comment.auto_comment = entry.comments.get(comment.name)
            nb.late_submission_penalty = entry.late_penalty
            max_total = max(max_total, float(nb.max_score))
        if any(e.zeroed(on_tamper) for e in result.notebooks.values()):
            record["score"] = max((0.0 if e.zeroed(on_tamper) else float(e.score or 0.0))
                                  for e in result.notebooks.values())
        record["max_score"] = max_total
        Journal.insert(db, record)
    journal.append([record])
    return record
