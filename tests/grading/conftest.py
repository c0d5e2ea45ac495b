"""One real, sandboxed grading run of the hostile submissions, shared by the tests.

The batch is every fixture of tests/grading/hostile/fixtures.yml plus three honest demo
submissions (to show the rest of a batch is graded correctly), graded by `course grade`'s
code path with 2 workers and tight limits. Around it: hashes of everything a hostile
notebook tries to read or write, and an answer server on the grader's loopback.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from course.grade import coordinator
from course.grade.sandbox import box
from course.layout import Layout, find_unit

from . import _hostile as H

HOSTILE_LIMITS = dict(cell_timeout=20, interrupt_grace=3, memory_mb=1536, processes=128,
                      output_kb=256)
CONTROLS = ("reference-pytorch", "naive-pytorch", "reference-tensorflow")


def digest_paths(paths) -> dict:
    """{path: hash of its files (a folder: every file, with names)} for what exists."""
    out = {}
    for path in paths:
        path = Path(path)
        h = hashlib.sha256()
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                h.update(str(f.relative_to(path)).encode() + b"\0" + f.read_bytes())
        elif path.is_file():
            h.update(path.read_bytes())
        else:
            h.update(b"<absent>")
        out[str(path)] = h.hexdigest()
    return out


def watched_paths(layout: Layout, extra) -> list:
    unit = "01-activations"
    root = layout.root
    demo = sorted((root / "autograder" / "demo" / "submitted").glob(f"*/{unit}"))
    home = Path(os.path.expanduser("~"))
    return [root / "course" / "check.py", root / "course" / "__init__.py", root / "hacked.txt",
            root / "solutions" / unit, root / "assignments" / unit, root / "units" / unit,
            home / ".bashrc", Path("/etc/hosts"), *demo, *extra]


class AnswerServer:
    """Serves the reference softmax on the grader's loopback: a notebook that could reach
    it would score the softmax part (h-network)."""

    def __init__(self, code: bytes):
        self.code, self.connections = code, 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", H.ANSWER_PORT))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.code)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() and frees the port
        except OSError:
            pass
        self.sock.close()


@pytest.fixture(scope="session")
def unit01():
    return find_unit("01")


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory, unit01):
    base = tmp_path_factory.mktemp("hostile")
    folder, workspace, canary = base / "submissions", base / "workspace", base / "canary"
    trace = base / "trace"   # where a planted module, imported outside the sandbox, writes
    trace.mkdir()
    hostiles = H.load()
    H.write_all(unit01, folder, hostiles, trace)
    for student in CONTROLS:
        src = unit01.layout.demo / "submitted" / student
        shutil.copytree(src / unit01.slug, folder / student / unit01.slug)
    canary.mkdir()  # what a notebook outside the sandbox would find and change
    (canary / "gradebook.db").write_bytes(b"SQLite format 3\0canary")
    shutil.copy(unit01.solution("pytorch"), canary / "pytorch.ipynb")
    watched = watched_paths(unit01.layout, [folder, canary])
    before = digest_paths(watched)
    server = AnswerServer(H.reference_softmax(unit01).encode())
    try:
        result = coordinator.grade(unit01, submissions=folder, workspace=workspace, workers=2,
                               limits=HOSTILE_LIMITS, progress=False, log=lambda line: None)
    finally:
        server.close()
    return {"unit": unit01, "hostiles": hostiles, "result": result, "folder": folder,
            "trace": trace, "traces": sorted(p.name for p in trace.iterdir()),
            "workspace": workspace, "rows": {r.student: r for r in result.rows},
            "records": result.batch.records, "before": before, "after": digest_paths(watched),
            "connections": server.connections, "backend": "rlimit"
            if box.memory_backend() == "rlimit" else "cgroup"}


def pytest_configure(config):
    # nbgrader's Gradebook makes SQLAlchemy warn about its own session use: noise here.
    config.addinivalue_line("filterwarnings", "ignore:.*not in session:Warning")
