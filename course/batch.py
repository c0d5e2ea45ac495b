"""The batch engine: grade many submissions safely, in parallel or on a cluster, once each.

* :func:`grade_submission` is a pure function of one task (the student's files and a
  packed template of the assignment): it grades in a private, temporary nbgrader
  workspace (sandboxed kernel, trusted tests: course/guarded.py) and returns a result
  record. It needs no shared filesystem, so it runs in-process, in a
  ``ProcessPoolExecutor`` worker, or on a Dask worker anywhere, by the same code.
* The coordinator (:func:`grade_batch`) is the **only writer** of the real gradebook. It
  applies each result in **one** SQLite transaction that also inserts the result into a
  journal table of the same database, so a result is either fully applied and journaled,
  or not at all; then it appends the record to an fsynced JSONL journal for people.
  A re-run skips every submission whose key (student, unit, content and assignment
  digests) is journaled: a run killed at any point (even ``kill -9``) and run again ends
  with every submission applied exactly once.
* Every submission ends with a status and a reason: graded, timed out, crashed, invalid
  notebook, tampered, missing. A worker that fails turns into a "crashed" result with the
  error; nothing stops the batch.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from course.grading import GradingError
from course.layout import NOTEBOOKS, Unit

# nbgrader's Gradebook makes SQLAlchemy warn about its own session use on every submission.
warnings.filterwarnings("ignore", message=r".*not in session.*")

STATUSES = ("graded", "timed out", "crashed", "invalid notebook", "tampered", "missing")
# When two notebooks score the same, the unit's status is the first of these.
_PRIORITY = ("graded", "timed out", "crashed", "invalid notebook", "missing")
JOURNAL_TABLE = "course_grading_journal"


# ============================================================================ submissions

@dataclass
class Submission:
    """One student's work for one unit, as found by intake (course/intake.py)."""
    student: str
    unit: str
    files: dict = field(default_factory=dict)     # "pytorch.ipynb" -> Path
    timestamp: str | None = None                  # submission time (ISO 8601), if known
    notes: list = field(default_factory=list)     # intake remarks (wrong file names, ...)
    origin: str = ""

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


# ============================================================================ the template

_templates: dict = {}


def make_template(unit: Unit) -> bytes:
    """The assignment as a packed nbgrader workspace: gradebook, source/ and release/."""
    key = (str(unit.source_dir), _template_digest(unit))
    if key not in _templates:
        _templates.clear()
        _templates[key] = _make_template(unit)
    return _templates[key]


def _make_template(unit: Unit) -> bytes:
    from course import grading
    with tempfile.TemporaryDirectory(prefix="course-template-") as tmp:
        root = Path(tmp)
        grading.prepare(unit, root)
        (root / "nbgrader_config.py").unlink(missing_ok=True)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for part in ("gradebook.db", "source", "release"):
                tar.add(root / part, arcname=part)
        return buf.getvalue()


_template_dirs: dict = {}


def _unpacked(template: bytes) -> Path:
    """This process's copy of a template (unpacked once per worker)."""
    digest = hashlib.sha256(template).hexdigest()[:16]
    path = _template_dirs.get(digest)
    if path is None or not path.exists():
        path = Path(tempfile.mkdtemp(prefix=f"course-template-{os.getpid()}-", dir=_short_tmp()))
        with tarfile.open(fileobj=io.BytesIO(template), mode="r:gz") as tar:
            tar.extractall(path, filter="data")
        if not _template_dirs:
            import atexit
            atexit.register(lambda: [shutil.rmtree(p, ignore_errors=True)
                                     for p in _template_dirs.values()])
        _template_dirs[digest] = path
    return path


# ============================================================================ one submission

def _short_tmp() -> str:
    return "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()


def grade_submission(task: dict, template: bytes | None = None) -> dict:
    """Grade one submission in a private nbgrader workspace; return its result record.

    Never raises for anything a submission does: problems become statuses.
    """
    started = time.monotonic()
    template = template if template is not None else task["template"]
    result = {"key": task["key"], "student": task["student"], "unit": task["unit"],
              "digest": task["digest"], "timestamp": task.get("timestamp"),
              "worker": f"{socket.gethostname()}:{os.getpid()}", "notebooks": {},
              "notes": list(task.get("notes", []))}
    try:
        _grade_into(result, task, template)
    except Exception:  # noqa: BLE001 - a grading bug must not stop the batch
        result["error"] = traceback.format_exc(limit=8)
        for name in NOTEBOOKS.values():
            nb = result["notebooks"].get(name)
            if task["files"].get(name) is not None and (nb is None or nb.get("status") is None):
                result["notebooks"][name] = {"status": "crashed", "score": 0.0, "grades": {},
                                             "reason": "grading error (not the student's): "
                                                       + traceback.format_exc(limit=1).strip()[-300:]}
    result["seconds"] = round(time.monotonic() - started, 3)
    summarize(result)
    return result


def _grade_into(result: dict, task: dict, template: bytes) -> None:
    import nbformat
    from course import grading, integrity

    unit, student = task["unit"], task["student"]
    base = _unpacked(template)
    work = Path(tempfile.mkdtemp(prefix=f"course-grade-{os.getpid()}-", dir=_short_tmp()))
    try:
        for part in ("source", "release"):
            shutil.copytree(base / part, work / part)
        shutil.copyfile(base / "gradebook.db", work / "gradebook.db")
        dest = work / "submitted" / student / unit
        dest.mkdir(parents=True)
        if task.get("timestamp"):
            (dest / "timestamp.txt").write_text(task["timestamp"])
        to_grade = []
        for name in NOTEBOOKS.values():
            data = task["files"].get(name)
            if data is None:
                result["notebooks"][name] = {"status": "missing", "score": 0.0, "grades": {},
                                             "reason": f"{name} was not submitted"}
                continue
            released = nbformat.read(work / "release" / unit / name, as_version=4)
            try:
                nb = integrity.read_notebook(data, name)
                integrity.check_is_assignment(nb, released, name)
            except integrity.InvalidNotebook as exc:
                result["notebooks"][name] = {"status": "invalid notebook", "score": 0.0,
                                             "grades": {}, "reason": str(exc)}
                continue
            result["notebooks"][name] = {}
            # Only the notebooks enter the grading folder (intake named any other file).
            (dest / name).write_bytes(data)
            to_grade.append(name)
        if not to_grade:
            return
        api = grading.nbgrader_api(work, sandbox=task.get("sandbox", True),
                                   limits=task.get("limits"))
        with grading.quiet_kernels(), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*not in session.*")
            outcome = api.autograde(unit, student, force=True, create=True)
            _read_back(result, work, unit, student, to_grade, outcome)
            _write_feedback(result, api, work, unit, student, to_grade,
                            zero=task.get("on_tamper") == "zero")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def outcome_of(run: dict) -> tuple[str, str]:
    """A notebook's status and reason from the grader's record of it (the autograded
    notebook's metadata, course/guarded.py): tampering first, then how the run ended,
    then the notes (files left out, a pasted test cell)."""
    findings, reasons = list(run.get("findings") or []), list(run.get("reasons") or [])
    notes, status = list(run.get("notes") or []), run.get("status") or "crashed"
    if findings:
        also = [f"also {status}"] if status != "graded" else []
        return "tampered", "; ".join(findings + reasons + also + notes)
    return status, "; ".join(reasons + notes)


def read_record(path: Path) -> dict | None:
    """The grader's record kept in an autograded notebook, or None (not graded by us)."""
    import nbformat
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: not ours
        return None
    run = (nb.metadata.get("course") or {}).get("grading") if isinstance(
        nb.metadata.get("course"), dict) else None
    return run if isinstance(run, dict) and run.get("status") in STATUSES else None


def _read_back(result, work: Path, unit: str, student: str, graded: list, outcome) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    autograded = work / "autograded" / student / unit
    log = ((outcome.get("error") or "") + "\n" + (outcome.get("log") or "")).strip()
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for name in graded:
            entry = result["notebooks"][name]
            stem = Path(name).stem
            path = autograded / name
            run = read_record(path) if path.exists() else None
            if run is None:
                entry.update(status="invalid notebook", score=0.0, grades={},
                             reason=_nbgrader_reason(log, name))
                continue
            try:
                nb = gb.find_submission_notebook(stem, unit, student)
            except MissingEntry:
                entry.update(status="crashed", score=0.0, grades={},
                             reason="grading error (not the student's): no grades were recorded")
                continue
            entry["grades"] = {g.name: {"auto_score": _num(g.auto_score),
                                        "max_score": float(g.max_score),
                                        "needs_manual_grade": bool(g.needs_manual_grade)}
                               for g in nb.grades}
            entry["comments"] = {c.name: c.auto_comment for c in nb.comments}
            entry["late_penalty"] = _num(nb.late_submission_penalty)
            entry["score"] = float(nb.score)
            entry["max_score"] = float(nb.max_score)
            entry["run"] = {k: run.get(k) for k in ("seconds", "peak_mb", "cell_seconds",
                                                     "checker_errors", "sandboxed")}
            entry["autograded"] = path.read_text()
            entry["findings"] = list(run.get("findings") or [])
            entry["metadata_only"] = bool(run.get("metadata_only", True))
            entry["status"], entry["reason"] = outcome_of(run)


def _write_feedback(result, api, work: Path, unit: str, student: str, graded: list, *,
                    zero: bool) -> None:
    """The student's feedback pages, made here in the worker from its private gradebook
    (scores as the coordinator will apply them). A page that cannot be made is that
    notebook's problem alone: its status says so, the rest of the class is unaffected."""
    from nbgrader.api import Gradebook
    if zero:
        with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
            for name in graded:
                if _zeroed(result["notebooks"][name], "zero"):
                    nb = gb.find_submission_notebook(Path(name).stem, unit, student)
                    for grade in nb.grades:
                        grade.auto_score = 0.0
                    gb.db.commit()
    if not any(result["notebooks"][n].get("autograded") for n in graded):
        return
    outcome = api.generate_feedback(unit, student, force=True)
    log = ((outcome.get("error") or "") + "\n" + (outcome.get("log") or "")).strip()
    for name in graded:
        entry = result["notebooks"][name]
        if not entry.get("autograded"):
            continue
        page = work / "feedback" / student / unit / f"{Path(name).stem}.html"
        if page.is_file():
            entry["feedback"] = page.read_text()
            continue
        why = _nbgrader_reason(log, name).replace("could not be graded", "got no feedback page")
        entry["status"] = "crashed"
        entry["reason"] = "; ".join(r for r in (entry.get("reason"), f"grading error (not the "
                                    f"student's): {why}") if r)


def _zeroed(entry: dict, on_tamper: str) -> bool:
    """--on-tamper zero gives a tampered notebook 0, unless metadata edits were all it did."""
    return on_tamper == "zero" and entry.get("status") == "tampered" \
        and not entry.get("metadata_only", False)


def _nbgrader_reason(log: str, name: str) -> str:
    import re
    errors = [ln.strip() for ln in log.splitlines()
              if re.match(r"^\s*[\w.]*(Error|Exception)\b.*:", ln) and "NbGraderException" not in ln]
    detail = errors[-1][:300] if errors else (log.strip().splitlines() or ["no details"])[-1][:300]
    return f"{name} could not be graded by nbgrader: {detail}"


def _num(value):
    return None if value is None else float(value)


def summarize(result: dict) -> dict:
    """The unit's status, reason and score from its notebooks (the better notebook counts)."""
    notebooks = result["notebooks"]
    submitted = {n: e for n, e in notebooks.items() if e.get("status") != "missing"}
    rank = {s: i for i, s in enumerate(_PRIORITY)}
    best = max(notebooks.items(), default=(None, {}),
               key=lambda kv: (kv[1].get("score") or 0.0, -rank.get(kv[1].get("status"), 9)))
    result["framework"] = Path(best[0]).stem if best[0] and (best[1].get("score") or 0) > 0 else "-"
    result["score"] = float(best[1].get("score") or 0.0)
    if not submitted:
        result["status"] = "missing"
        notes = result.get("notes") or []
        result["reason"] = "; ".join(notes) if notes else "no notebook submitted"
        return result
    if any(e.get("status") == "tampered" for e in submitted.values()):
        result["status"] = "tampered"
    else:
        result["status"] = best[1].get("status", "crashed") if best[0] in submitted \
            else next(iter(submitted.values())).get("status", "crashed")
    parts = [f"{n}: {e['reason']}" for n, e in sorted(submitted.items()) if e.get("reason")]
    result["reason"] = "; ".join(parts + list(result.get("notes") or []))
    return result


# ============================================================================ the journal

class Journal:
    """Which results were applied: a table in the gradebook (the truth, written in the
    same transaction as the grades) mirrored to an fsynced JSONL file for people."""

    def __init__(self, workspace: Path, unit: str):
        self.path = workspace / "grading-journal" / f"{unit}.jsonl"
        self.unit = unit

    @staticmethod
    def ensure_table(db) -> None:
        from sqlalchemy import text
        db.execute(text(f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ("
                        "key TEXT PRIMARY KEY, unit TEXT, student TEXT, digest TEXT, "
                        "status TEXT, reason TEXT, score REAL, max_score REAL, seconds REAL, "
                        "worker TEXT, applied_at TEXT, record TEXT)"))
        db.commit()

    def applied(self, db) -> dict:
        from sqlalchemy import text
        rows = db.execute(text(f"SELECT key, record FROM {JOURNAL_TABLE} WHERE unit = :u"),
                          {"u": self.unit}).fetchall()
        return {k: json.loads(r) for k, r in rows}

    def latest(self, db) -> dict:
        """{student: their most recently applied record}."""
        records = {}
        for rec in sorted(self.applied(db).values(), key=lambda r: r["applied_at"]):
            records[rec["student"]] = rec
        return records

    @staticmethod
    def insert(db, record: dict) -> None:
        from sqlalchemy import text
        db.execute(text(f"INSERT OR REPLACE INTO {JOURNAL_TABLE} VALUES (:key, :unit, :student, "
                        ":digest, :status, :reason, :score, :max_score, :seconds, :worker, "
                        ":applied_at, :record)"),
                   {k: record.get(k) for k in ("key", "unit", "student", "digest", "status",
                                               "reason", "score", "max_score", "seconds",
                                               "worker", "applied_at")}
                   | {"record": json.dumps(record)})

    def append(self, records: list) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a") as fh:
            for record in records:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def keys_in_file(self) -> set:
        if not self.path.exists():
            return set()
        keys = set()
        for line in self.path.read_text().splitlines():
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue  # a line cut by a crash
        return keys

    def repair(self, applied: dict) -> None:
        """Records committed to the database but not yet in the file (a crash between)."""
        missing = [applied[k] for k in sorted(applied) if k not in self.keys_in_file()]
        if self.path.exists():
            text = self.path.read_bytes()
            if text and not text.endswith(b"\n"):  # drop a half-written last line
                self.path.write_bytes(text[:text.rfind(b"\n") + 1])
        self.append(missing)


def journal_summary(result: dict) -> dict:
    """The journal's record of a result: everything but the notebooks' full text."""
    out = {k: v for k, v in result.items() if k != "notebooks"}
    out["notebooks"] = {n: {k: v for k, v in e.items() if k not in ("autograded", "feedback")}
                        for n, e in result["notebooks"].items()}
    return out


# ============================================================================ applying

@contextlib.contextmanager
def _one_transaction(gb):
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


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def apply_result(gb, journal: Journal, workspace: Path, result: dict, submission: Submission,
                 *, on_tamper: str = "flag") -> dict:
    """Files first (atomic), then grades + journal row in one transaction, then the JSONL."""
    unit, student = result["unit"], result["student"]
    submitted = workspace / "submitted" / student / unit
    autograded = workspace / "autograded" / student / unit
    if submission.files and Path(next(iter(submission.files.values()))).parent.resolve() \
            != submitted.resolve():
        for old in submitted.glob("*.ipynb") if submitted.is_dir() else []:
            if old.name not in submission.files:
                old.unlink()
        for name, src in submission.files.items():
            _write_atomic(submitted / name, Path(src).read_bytes())
        if submission.timestamp:
            _write_atomic(submitted / "timestamp.txt", submission.timestamp.encode())
    feedback = workspace / "feedback" / student / unit
    for name in NOTEBOOKS.values():
        entry = result["notebooks"].get(name, {})
        page = feedback / f"{Path(name).stem}.html"
        for path, text in ((autograded / name, entry.get("autograded")), (page, entry.get("feedback"))):
            if text is not None:
                _write_atomic(path, text.encode())
            elif path.exists():
                path.unlink()  # from an earlier submission: no longer graded
    record = journal_summary(result)
    record["applied_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["on_tamper"] = on_tamper
    with warnings.catch_warnings(), _one_transaction(gb) as db:
        warnings.filterwarnings("ignore", message=r".*not in session.*")
        gb.update_or_create_student(student)
        kwargs = {"timestamp": result["timestamp"]} if result.get("timestamp") else {}
        sub = gb.update_or_create_submission(unit, student, **kwargs)
        max_total = 0.0
        for nb in sub.notebooks:
            entry = result["notebooks"].get(f"{nb.name}.ipynb", {})
            grades = entry.get("grades") or {}
            zero = _zeroed(entry, on_tamper)
            for grade in nb.grades:
                g = grades.get(grade.name)
                if g is None or zero:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
                else:
                    grade.auto_score = g["auto_score"]
                    grade.needs_manual_grade = bool(g["needs_manual_grade"]) \
                        or grade.manual_score is not None
            for comment in nb.comments:
                comment.auto_comment = (entry.get("comments") or {}).get(comment.name)
            nb.late_submission_penalty = entry.get("late_penalty")
            max_total = max(max_total, float(nb.max_score))
        if any(_zeroed(e, on_tamper) for e in result["notebooks"].values()):
            record["score"] = max((0.0 if _zeroed(e, on_tamper) else float(e.get("score") or 0.0))
                                  for e in result["notebooks"].values())
        record["max_score"] = max_total
        Journal.insert(db, record)
    journal.append([record])
    return record


# ============================================================================ executors

class SerialExecutor:
    name = "serial"

    def run(self, tasks, template):
        for task in tasks:
            yield task, grade_submission(task, template)

    def close(self):
        pass


def _worker_init():
    # A worker dies with its coordinator (kill -9 included), and its kernels with it.
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class PoolExecutor:
    """N worker processes on this machine (``concurrent.futures``)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.name = f"{workers} worker process(es)"

    def run(self, tasks, template):
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")
        attempts = {t["key"]: 0 for t in tasks}
        todo = list(tasks)
        while todo:
            pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init)
            futures = {pool.submit(grade_submission, t, template): t for t in todo}
            todo = []
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = futures[fut]
                        try:
                            yield task, fut.result()
                        except BrokenProcessPool:
                            attempts[task["key"]] += 1
                            if attempts[task["key"]] < 2:
                                todo.append(task)  # the pool broke: retry on a fresh one
                            else:
                                yield task, failed_result(task, "the grading worker process died")
                        except Exception as exc:  # noqa: BLE001
                            yield task, failed_result(task, f"the grading worker failed: {exc!r}")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self):
        pass


class DaskExecutor:
    """A Dask cluster: ``"local"`` starts a LocalCluster of N workers, else an address."""

    def __init__(self, address: str, workers: int = 2):
        from distributed import Client, LocalCluster
        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, memory_limit=0)
            self.client = Client(self.cluster)
            self.name = f"Dask LocalCluster ({workers} workers)"
        else:
            self.client = Client(address)
            self.name = f"Dask cluster at {address}"

    def run(self, tasks, template):
        from distributed import as_completed
        shared = self.client.scatter(template, broadcast=True)
        futures = {self.client.submit(grade_submission, t, shared, key=f"grade-{t['key']}",
                                      pure=False): t for t in tasks}
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                yield task, fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a serialisation error
                yield task, failed_result(task, f"the Dask task failed: {exc!r}")

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def failed_result(task: dict, why: str) -> dict:
    result = {"key": task["key"], "student": task["student"], "unit": task["unit"],
              "digest": task["digest"], "timestamp": task.get("timestamp"), "worker": "?",
              "notes": list(task.get("notes", [])), "seconds": 0.0, "notebooks": {}}
    for name in NOTEBOOKS.values():
        result["notebooks"][name] = ({"status": "crashed", "score": 0.0, "grades": {},
                                      "reason": f"grading error (not the student's): {why}"}
                                     if name in task["files"] else
                                     {"status": "missing", "score": 0.0, "grades": {},
                                      "reason": f"{name} was not submitted"})
    return summarize(result)


def make_executor(workers: int = 1, dask: str | None = None):
    if dask:
        return DaskExecutor(dask, max(1, workers))
    return SerialExecutor() if workers <= 1 else PoolExecutor(workers)


# ============================================================================ the coordinator

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


def _clean_stale_tmp() -> None:
    """Private folders and cgroups left by killed runs (named by a pid that is gone)."""
    from course.sandbox import remove_stale_groups
    base = Path(_short_tmp())
    for pattern in ("course-template-*", "course-grade-*", "course-nb-*"):
        for path in base.glob(pattern):
            try:
                pid = int(path.name.split("-")[2])
            except (ValueError, IndexError):
                continue
            if not Path(f"/proc/{pid}").exists():
                shutil.rmtree(path, ignore_errors=True)
    remove_stale_groups()


def grade_batch(unit: Unit, submissions: list, workspace: Path, *, workers: int = 1,
                dask: str | None = None, executor=None, sandbox: bool = True,
                limits: dict | None = None, regrade: bool = False, on_tamper: str = "flag",
                progress: bool = True, log=print) -> BatchResult:
    """Grade ``submissions`` (course/intake.py) into ``workspace``'s gradebook."""
    from nbgrader.api import Gradebook
    from tqdm.auto import tqdm

    from course import grading
    from course.sandbox import SandboxError, check_sandbox, load_limits

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
        _clean_stale_tmp()
        grading.prepare(unit, workspace)
        template = make_template(unit)
        # What a grade depends on besides the files: tests, limits, sandbox. Change one and
        # the next run grades everything again.
        template_digest = hashlib.sha256(json.dumps(
            [_template_digest(unit), unit_limits.as_dict(), sandbox], sort_keys=True).encode()
        ).hexdigest()
        journal = Journal(workspace, unit.slug)
        with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
            Journal.ensure_table(gb.db)
            applied = journal.applied(gb.db)
            journal.repair(applied)
            tasks, skipped, by_key = [], [], {}
            for sub in submissions:
                data = sub.read()
                digest = sub.digest(data)
                key = submission_key(unit.slug, sub.student, digest, template_digest)
                if key in applied and not regrade:
                    skipped.append(applied[key])
                    continue
                by_key[key] = sub
                tasks.append({"key": key, "unit": unit.slug, "student": sub.student,
                              "digest": digest, "timestamp": sub.timestamp,
                              "notes": list(sub.notes), "files": data, "sandbox": sandbox,
                              "on_tamper": on_tamper,
                              # all of them: a worker elsewhere need not have units/
                              "limits": unit_limits.as_dict()})
            if skipped:
                log(f"{len(skipped)} submission(s) already graded by an earlier run: skipped")
            ex = executor or make_executor(workers, dask)
            done = []
            try:
                bar = tqdm(total=len(tasks), desc=f"grade {unit.slug}", unit="submission",
                           disable=not progress or not tasks)
                for task, result in ex.run(tasks, template):
                    done.append(apply_result(gb, journal, workspace, result, by_key[task["key"]],
                                             on_tamper=on_tamper))
                    bar.update(1)
                bar.close()
            finally:
                if executor is None:
                    ex.close()
            records = journal.latest(gb.db)
    return BatchResult(done, skipped, records, time.monotonic() - start,
                       getattr(ex, "name", "serial"))


def _template_digest(unit: Unit) -> str:
    h = hashlib.sha256()
    for fw in sorted(NOTEBOOKS):
        path = unit.solution(fw)
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()
