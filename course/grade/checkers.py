"""The grader's side of the trusted checker (the process itself: course/checker/).

:class:`Checker` starts the process and speaks its protocol; :func:`take_checker` and
:func:`give_back_checker` keep the last ones of a worker for the next notebook of the same
assignment. The checker must never import a file a student can write: nbgrader copies a
submission's other files beside the notebook, and ``python -m`` would put that folder
first on the import path. So it starts with no script folder or working folder on the
path (-P), no user site-packages (-s), PYTHONPATH replaced by an explicit list, and a
working folder of its own (course/grade/autograde.py gives it an empty one).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from course.execute import KERNEL_ENV
from course.grade.sandbox.limits import MiB, Limits

_BOOT = "import sys; from course.checker.runner import main; sys.exit(main(sys.argv[1:]))"

_KEPT_PYTHON_VARS = {"PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONUNBUFFERED",
                     "PYTHONDONTWRITEBYTECODE", "PYTHONFAULTHANDLER", "PYTHONIOENCODING",
                     "PYTHONUTF8", "PYTHONHOME"}


def trusted_python() -> list[str]:
    return [sys.executable, "-P", "-s"]


def trusted_path() -> list[str]:
    """Where a trusted process imports from besides the interpreter's own site-packages:
    the folder holding the ``course`` package, and absolute PYTHONPATH entries outside
    temporary folders (where grading folders live)."""
    import tempfile
    import course
    here = str(Path(course.__file__).resolve().parent.parent)
    temp = {Path(tempfile.gettempdir()).resolve(), Path("/tmp").resolve()}
    out = [here]
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if not entry or not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        resolved = Path(entry).resolve()
        if any(resolved == t or resolved.is_relative_to(t) for t in temp):
            continue
        if str(resolved) not in out:
            out.append(str(resolved))
    return out


def trusted_env(env: dict) -> dict:
    """``env`` for a trusted process: Python's own variables only where they cannot widen
    what it imports, and the explicit import path."""
    clean = {k: v for k, v in env.items()
             if not k.startswith("PYTHON") or k in _KEPT_PYTHON_VARS}
    clean["PYTHONPATH"] = os.pathsep.join(trusted_path())
    return clean


class CheckerError(RuntimeError):
    """The trusted checker itself failed (a grading problem, not the student's)."""


class Checker:
    """The grader's handle on a trusted checker process."""

    def __init__(self, xdir: Path, cwd: Path, *, env: dict, max_output: int, max_bytes: int):
        self.xdir = Path(xdir)
        self._stderr = deque(maxlen=100)
        self.proc = subprocess.Popen(
            [*trusted_python(), "-c", _BOOT, str(xdir), str(max_output), str(max_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(cwd), env=trusted_env(env), text=True, bufsize=1)
        # A thread reads the protocol: select() on a buffered pipe misses lines already read.
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()
        self.pending = 0
        self.notebook_deadline = time.monotonic() + 3600
        self.readonly_errors: list[str] = []

    def _drain(self):
        for line in self.proc.stderr:
            self._stderr.append(line[:500])

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _send(self, msg: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise CheckerError(self._died()) from None

    def _recv(self, deadline: float | None) -> dict:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = self._lines.get(timeout=wait)
            except queue.Empty:
                raise CheckerError("the trusted checker did not answer in time") from None
            if not line:
                raise CheckerError(self._died())
            msg = json.loads(line)
            if msg.get("op") == "done" and msg.get("kind") == "readonly":
                self.pending -= 1
                errors = [o for o in msg["outputs"] if o["output_type"] == "error"]
                if errors:
                    self.readonly_errors.append(f"{errors[0]['ename']}: {errors[0]['evalue']}"[:300])
                continue
            return msg

    def _died(self) -> str:
        self.proc.poll()
        tail = "".join(self._stderr)[-1500:]
        return f"the trusted checker stopped (exit {self.proc.returncode}):\n{tail}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def reset(self, xdir: Path, cwd: Path, *, max_output: int, max_bytes: int) -> None:
        """Make a used checker ready for another notebook (modules stay imported)."""
        while self.pending:
            self._recv(time.monotonic() + 600)  # a read-only cell still running
        self.xdir = Path(xdir)
        self.readonly_errors = []
        self._send({"op": "reset", "xdir": str(xdir), "cwd": str(cwd),
                    "max_output": max_output, "max_bytes": max_bytes})
        if self._recv(time.monotonic() + 60).get("op") != "ready":
            raise CheckerError("the trusted checker did not reset")

    def exec_readonly(self, code: str, label: str) -> None:
        """Queue a read-only cell (answered later: the checker works while the kernel does)."""
        self._send({"op": "exec", "kind": "readonly", "code": code, "label": label})
        self.pending += 1

    def run_test(self, code: str, label: str, *, serve, deadline: float) -> tuple[list, list]:
        """Run a test cell: (its outputs, the student's view of them, without what the
        hidden tests printed or raised). ``serve(request_id)`` answers its requests to the
        kernel."""
        self._send({"op": "exec", "kind": "test", "code": code, "label": label})
        while True:
            # The instructor's read-only cells may still be running (imports): more time then.
            msg = self._recv(max(deadline, self.notebook_deadline) + 60 if self.pending
                             else deadline + 60)
            if msg.get("op") == "call":
                status, stdout = serve(msg["id"])
                self._send({"op": "reply", "status": status, "stdout": stdout})
            elif msg.get("op") == "done":
                return msg["outputs"], msg["student_view"]
            else:
                raise CheckerError(f"unexpected message from the checker: {msg!r}")

    def reserve(self, names) -> None:
        """Names the instructor's read-only cells bind: never looked up in the student's kernel."""
        self._send({"op": "reserve", "names": sorted(names)})

    def modules_outside_path(self, timeout: float = 60) -> list[str]:
        """Modules the checker loaded from outside its import path (must be none)."""
        self._send({"op": "audit"})
        return list(self._recv(time.monotonic() + timeout).get("outside", ["(no answer)"]))

    def fingerprint(self, timeout: float = 120) -> dict:
        self._send({"op": "fingerprint"})
        msg = self._recv(time.monotonic() + timeout)
        return msg

    def close(self) -> None:
        # Nothing to save in the checker: kill it rather than wait for a framework's teardown.
        self.proc.kill()
        self.proc.wait()


# A checker runs only the instructor's code, on data: after a notebook it can serve the
# next notebook of the same assignment with a fresh namespace (each notebook's setup cell
# seeds again), which saves importing the framework twice per submission.
_IDLE: dict = {}

MAX_CHECKER_USES = 50

MAX_IDLE_CHECKERS = 2


def take_checker(key, xdir: Path, cwd: Path, limits: Limits):
    idle = _IDLE.pop(key, None)
    if idle is not None and idle.alive() and idle.uses < MAX_CHECKER_USES:
        try:
            idle.reset(xdir, cwd, max_output=limits.output_kb * 1024,
                       max_bytes=limits.transfer_mb * MiB)
            idle.uses += 1
            return idle
        except CheckerError:
            idle.close()
    elif idle is not None:
        idle.close()
    env = {**os.environ, **KERNEL_ENV, "MPLBACKEND": "Agg"}
    checker = Checker(xdir, cwd, env=env, max_output=limits.output_kb * 1024,
                      max_bytes=limits.transfer_mb * MiB)
    checker.uses = 1
    return checker


def give_back_checker(key, checker, *, ok: bool) -> None:
    if not ok or not checker.alive():
        checker.close()
        return
    try:  # a checker that ever loaded a module from elsewhere is never used again
        clean = checker.modules_outside_path() == []
    except Exception:  # noqa: BLE001 - CheckerError, a broken answer
        clean = False
    if not clean:
        checker.close()
        return
    old = _IDLE.pop(key, None)
    if old is not None:
        old.close()
    if not _IDLE:
        import atexit
        atexit.register(lambda: [c.close() for c in list(_IDLE.values())])
    _IDLE[key] = checker
    while len(_IDLE) > MAX_IDLE_CHECKERS:  # each holds a framework in memory
        _IDLE.pop(next(iter(_IDLE))).close()
