"""Kernels started ahead: the next notebook's sandboxed kernel boots while this one is graded.

A cold kernel costs its start-up plus the framework's import (about 1.3 s for PyTorch and
4 s for TensorFlow here), most of what grading a small notebook costs. So a worker keeps,
for each (limits, framework), one kernel started ahead, in a sandbox of its own, that has
already imported the framework (into ``sys.modules`` only, course/inkernel/preload.py).
When a notebook of that framework comes, it takes that kernel and the next one starts.

Isolation is unchanged: each kernel is a fresh process in a fresh sandbox (its own uid,
``/tmp``, cgroup and namespaces), made before any submission is known and used for one
notebook only; nothing of another submission exists in it. What changes is when the
kernel boots: off the critical path, on a core the grader is not using.

Where a template can run (as root), the kernel started ahead is forked from a template
that imported the framework once for the worker (course/grade/sandbox/forkserver.py):
the import's CPU is then paid once per worker, not once per notebook, and each forked
kernel builds its own sandbox after the fork. Elsewhere bubblewrap starts it.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from pathlib import Path

from jupyter_core.utils import run_sync

from course.grade import scratch
from course.grade.sandbox.box import Sandbox, SandboxError
from course.grade.sandbox.limits import Limits
from course.inkernel import preload

# One kernel waits per key; a worker alternating PyTorch and TensorFlow notebooks keeps
# two, each holding its framework in memory (a few hundred MiB).
MAX_READY = 2
# nbclient's default: no history file for a grading kernel.
_HISTORY = "--HistoryManager.hist_file=:memory:"


@dataclass
class Kernel:
    """A started, sandboxed kernel and what it owns."""
    key: tuple
    box: Sandbox
    km: object                 # course.grade.sandbox.kernel.SandboxKernelManager
    folder: Path               # the scratch folder holding the sandbox's private folder
    warm: bool = False         # started ahead (True) or just now (False)

    @property
    def forked(self) -> bool:
        """Forked from a template (course/grade/sandbox/forkserver.py), not run by bubblewrap."""
        return self.km.template is not None

    def alive(self) -> bool:
        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:  # noqa: BLE001 - a manager whose process is gone
            return False

    def close(self) -> None:
        """Stop the kernel (if still running), remove its cgroup and its folder."""
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.box.close()
        scratch.release(self.folder)


_ready: dict = {}
_registered = False


def enabled() -> bool:
    return os.environ.get("COURSE_WARM_KERNELS", "1") not in ("0", "false", "no")


def key_of(limits: Limits, framework: str | None, kernel_name: str, arguments) -> tuple:
    return (tuple(sorted(limits.as_dict().items())), framework, kernel_name, tuple(arguments))


def take(limits: Limits, framework: str | None, kernel_name: str, arguments: list,
         config=None, *, ahead: bool = True) -> Kernel:
    """A started kernel for one notebook: the one waiting for this key, else a new one.
    With ``ahead``, the next one starts now, while this notebook is graded."""
    key = key_of(limits, framework, kernel_name, arguments)
    kernel = _ready.pop(key, None)
    if kernel is not None and not kernel.alive():
        kernel.close()
        kernel = None
    if kernel is None:   # cold: as without warm kernels, the notebook imports its framework
        kernel = _start(key, limits, framework if ahead else None, kernel_name, arguments, config)
    else:
        kernel.warm = True
    if ahead:
        try:
            _ready[key] = _start(key, limits, framework, kernel_name, arguments, config)
        except Exception:  # noqa: BLE001 - the next notebook starts its own, cold
            pass
        while len(_ready) > MAX_READY:
            _ready.pop(next(iter(_ready))).close()
    return kernel


def close_all() -> None:
    from course.grade.sandbox import forkserver
    while _ready:
        _ready.popitem()[1].close()
    forkserver.close_all()


def _start(key, limits: Limits, framework, kernel_name: str, arguments, config) -> Kernel:
    """A kernel forked from the framework's template where there is one, else started by
    bubblewrap (importing the framework itself when ``framework`` is given)."""
    from course.grade.sandbox import forkserver
    global _registered
    if not _registered:
        atexit.register(close_all)
        _registered = True
    template = forkserver.get(framework)
    if template is not None:
        try:
            return _launch(key, limits, framework, kernel_name, arguments, config, template)
        except SandboxError:   # this kernel as if without one; get() restarts a dead template
            pass
    return _launch(key, limits, framework, kernel_name, arguments, config, None)


def _launch(key, limits: Limits, framework, kernel_name: str, arguments, config, template) -> Kernel:
    from course.grade.sandbox.kernel import SandboxKernelManager
    folder = template.new_folder() if template is not None else scratch.private_dir("kernel")
    box = None
    try:
        box = Sandbox(limits, folder / "box")
        km = SandboxKernelManager(kernel_name=kernel_name, **({"config": config} if config else {}))
        km.attach(box, template)
        args = [*arguments, _HISTORY]
        if framework:
            args.append(f"--IPKernelApp.exec_lines={preload.exec_line(framework)}")
        # Returns once the process is launched: the kernel boots (and imports) on its own.
        run_sync(km.start_kernel)(extra_arguments=args)
    except BaseException:
        if box is not None:
            box.close()
        scratch.release(folder)
        raise
    return Kernel(key, box, km, folder)
