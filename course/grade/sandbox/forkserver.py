"""Kernels forked from a template that has imported the framework (the grader's side).

A kernel started ahead (course/grade/sandbox/warm.py) moves the framework's import off
the critical path but still pays it, in CPU, once per notebook: with as many workers as
cores, that CPU is back on the critical path. A template pays it once per worker: one
process per framework that imports it inside a template sandbox and forks each kernel
from there (course/grade/sandbox/template_server.py). Every forked kernel is still a
fresh process in a sandbox of its own, built after the fork: its own uid, ``/tmp``,
``/proc``, cgroup and namespaces, the same read-only view of the system and the same
rlimits as a kernel that bubblewrap starts; and nothing of any submission exists in the
template it came from.

Templates need root (they build each sandbox's namespaces and user) and are used only
for the frameworks in ``COURSE_FORK_FRAMEWORKS`` (default: both). Where a template cannot
start or a fork fails, kernels are started by bubblewrap as before.
"""
from __future__ import annotations

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from course.grade import scratch
from course.grade.sandbox.box import INSIDE_HOME, INSIDE_WORK, Sandbox, SandboxError, find_bwrap
from course.grade.sandbox.limits import MiB, Limits
from course.grade.sandbox.template_server import EXIT_FILE

START_TIMEOUT = 180     # s for a template to import its framework
_templates: dict = {}   # framework -> Template, in this process
_failed: dict = {}      # framework -> why its template could not start


def frameworks() -> set:
    return {f.strip() for f in os.environ.get("COURSE_FORK_FRAMEWORKS", "pytorch,tensorflow")
            .split(",") if f.strip()}


def possible() -> bool:
    """Whether kernels can be forked from templates here (root, Linux, bubblewrap)."""
    return bool(frameworks()) and os.geteuid() == 0 and sys.platform == "linux" \
        and bool(find_bwrap())


def get(framework: str | None) -> "Template | None":
    """This process's template for ``framework`` (started on first use), or None."""
    if not framework or framework not in frameworks() or framework in _failed or not possible():
        return None
    tpl = _templates.get(framework)
    if tpl is not None and not tpl.alive():
        tpl.close()
        tpl = None
    if tpl is None:
        try:
            tpl = _templates[framework] = Template(framework)
        except (OSError, SandboxError, ValueError) as exc:
            _failed[framework] = str(exc)
            return None
    return tpl


def close_all() -> None:
    while _templates:
        _templates.popitem()[1].close()


class ForkedProcess:
    """A forked kernel's PID 1 (``R``) as jupyter_client's provisioner uses a Popen.

    It is not our child: a pidfd says when it ends, its exchange folder holds the exit
    status, and signals other than SIGKILL go to the kernel process itself."""
    stdin = stdout = stderr = None

    def __init__(self, pid: int, exchange: Path):
        self.pid = pid
        self.returncode = None
        self._exit = Path(exchange) / EXIT_FILE
        self._pidfd = os.pidfd_open(pid)

    def poll(self):
        return self.wait(0, raising=False)

    def wait(self, timeout=None, *, raising=True):
        if self.returncode is None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                if raising:
                    raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
                return None
            try:
                self.returncode = int(self._exit.read_text())
            except (OSError, ValueError):
                self.returncode = -signal.SIGKILL     # killed: it wrote no status
            os.close(self._pidfd)
        return self.returncode

    def kernel_pid(self) -> int | None:
        import psutil
        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            return None
        return min(c.pid for c in children) if children else None

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        if sig == signal.SIGKILL:      # PID 1's end is the whole namespace's
            signal.pidfd_send_signal(self._pidfd, sig)
            return
        pid = self.kernel_pid()
        if pid is not None:
            os.kill(pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Template:
    """One framework's template process in its template sandbox."""

    def __init__(self, framework: str):
        from course.execute import KERNEL_ENV
        self.framework = framework
        self.folder = scratch.private_dir("forkserver")
        self._count = itertools.count()
        self._lock = threading.Lock()
        self.proc = None
        try:
            self.box = Sandbox(Limits(), self.folder / "box", cgroup=False)
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            cmd = self.box.template_command(
                [sys.executable, "-m", "course.grade.sandbox.template_server",
                 str(theirs.fileno()), framework], env=dict(KERNEL_ENV))
            w = self.box.stderr_pipe()
            try:
                self.proc = subprocess.Popen(
                    cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=w,
                    stderr=w, cwd=str(self.box.private),
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            finally:
                os.close(w)
                theirs.close()
            self.sock = mine
            self.sock.settimeout(START_TIMEOUT)
            ready = json.loads(self.sock.recv(65536) or b"{}")
            if not ready.get("ready"):
                raise SandboxError(f"the {framework} template did not start: "
                                   f"{self.box.stderr_tail()[-800:]}")
            self.threads = ready.get("threads")
            self.sock.settimeout(60)
        except BaseException:
            self.close()
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def new_folder(self) -> Path:
        """A kernel's scratch folder, inside the one folder the template may write."""
        path = self.box.private / f"k-{next(self._count)}"
        path.mkdir(mode=0o700)
        return path

    def spawn(self, box: Sandbox, argv: list[str], env: dict, stderr_w: int) -> ForkedProcess:
        """Fork a kernel into ``box``: ``argv`` is what follows ``-m ipykernel_launcher``."""
        box.identity_files()
        request = {
            "private": str(box.private), "exchange": str(box.exchange), "uid": box.uid,
            "tmp_bytes": box.limits.tmp_mb * MiB, "dirs": [INSIDE_HOME, INSIDE_WORK],
            "rlimits": {k: list(v) for k, v in box.rlimits().items()},
            "env": box.env(env), "cwd": INSIDE_WORK, "argv": list(argv),
        }
        with self._lock:
            try:
                socket.send_fds(self.sock, [json.dumps(request).encode()], [stderr_w])
                child = json.loads(self.sock.recv(65536))["pid"]
                joined = True
                try:   # into the kernel's cgroup before it runs anything
                    for procs in (box.group.procs_files() if box.group else []):
                        Path(procs).write_text(str(child))
                except OSError:
                    joined = False
                self.sock.send(json.dumps({"go": joined}).encode())
                reply = json.loads(self.sock.recv(65536))
            except (OSError, ValueError, KeyError) as exc:
                self.close()
                raise SandboxError(f"the {self.framework} template stopped answering: {exc}") from None
        if not joined:
            raise SandboxError("a forked kernel could not join its cgroup")
        if not reply.get("ok"):
            raise SandboxError(f"a forked kernel's sandbox did not start: {reply.get('error')}")
        return ForkedProcess(reply["pid"], box.exchange)

    def close(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if _templates.get(self.framework) is self:
            del _templates[self.framework]
        scratch.release(self.folder)
