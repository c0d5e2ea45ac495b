"""Execute notebooks with nbclient, measuring time and the kernel's peak memory."""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course.frameworks import TF_QUIET

# The environment every notebook runs in when the course executes it: quiet TF,
# deterministic hashing, inline plots, no progress-bar redraws in stored outputs.
KERNEL_ENV = {
    **TF_QUIET,
    "PYTHONHASHSEED": "0",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "TQDM_DISABLE": "1",
}

# ipykernel 7 logs a TCP-encryption warning at every start: keep the grader's terminal clean.
KERNEL_ARGS = ("--IPKernelApp.log_level=ERROR",)


@dataclass
class RunStats:
    seconds: float
    peak_rss_mib: float


class NotebookFailed(RuntimeError):
    """A notebook raised in one of its cells; the message names the cell."""


def _peak_rss_mib(pid: int) -> float:
    # VmHWM is the kernel's own high-water mark of resident memory: exact, no polling.
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class _MeasuringClient(NotebookClient):
    peak_rss_mib = float("nan")

    def set_widgets_metadata(self):  # called last, while the kernel is still alive
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            self.peak_rss_mib = _peak_rss_mib(process.pid)
        super().set_widgets_metadata()


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


def kernel_env() -> dict:
    env = dict(os.environ)
    env.update(KERNEL_ENV)
    return env


def execute(nb: nbformat.NotebookNode, cwd: Path, *, timeout: int = 300,
            label: str = "notebook") -> RunStats:
    """Run every cell of ``nb`` in place (outputs stored); raise NotebookFailed on error."""
    client = _MeasuringClient(nb, timeout=timeout, kernel_name="python3",
                              resources={"metadata": {"path": str(cwd)}},
                              record_timing=False, coalesce_streams=True,
                              extra_arguments=list(KERNEL_ARGS))
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env(), cwd=str(cwd))
    except CellExecutionError as exc:
        raise NotebookFailed(f"{label}: a cell raised an error.\n{exc}") from None
    return RunStats(time.perf_counter() - start, client.peak_rss_mib)
