"""A Jupyter kernel started inside the sandbox (course/grade/sandbox/box.py).

TCP ports on the host's loopback are unreachable from the sandbox's network namespace,
so the kernel talks over IPC sockets in the sandbox's private exchange folder, the one
writable folder it shares with the grader. Its stdout/stderr (C-level logs, fatal-error
reports) go to a bounded buffer the grader reads to explain a crash.
"""
from __future__ import annotations

import os
import signal
import sys

from jupyter_client.manager import AsyncKernelManager
from traitlets import Any


class SandboxKernelManager(AsyncKernelManager):
    box = Any(None, help="the course.grade.sandbox.box.Sandbox this kernel runs in")
    template = Any(None, help="a course.grade.sandbox.forkserver.Template to fork it from")

    def attach(self, box, template=None) -> None:
        self.box = box
        self.template = template
        self.transport = "ipc"
        self.ip = str(box.exchange / "k")
        self.connection_file = str(box.exchange / "kernel.json")

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.box is not None and self.box.root:
            os.chown(self.connection_file, self.box.uid, self.box.uid)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and cmd[0] in ("python", "python3"):
            cmd[0] = sys.executable
        if self.template is not None:
            return cmd            # forked, not run: see _async_launch_kernel
        from course.execute import KERNEL_ENV
        return self.box.command(cmd, env=dict(KERNEL_ENV))

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.template is not None:
            await self._fork_kernel(kernel_cmd)
            return
        w = self.box.stderr_pipe()
        kw.update(stdout=w, stderr=w, cwd=str(self.box.private),
                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            os.close(w)

    async def _fork_kernel(self, kernel_cmd) -> None:
        from course.execute import KERNEL_ENV
        from course.grade.sandbox.box import SandboxError
        if kernel_cmd[1:3] != ["-m", "ipykernel_launcher"]:
            raise SandboxError(f"not an ipykernel command, cannot fork it: {kernel_cmd[:3]}")
        w = self.box.stderr_pipe()
        try:
            process = self.template.spawn(self.box, kernel_cmd[3:], dict(KERNEL_ENV), w)
        finally:
            os.close(w)
        prov = self.provisioner
        prov.process, prov.pid, prov.pgid, prov.cwd = process, process.pid, None, str(self.box.private)
        self._reconcile_connection_info(prov.connection_info)

    async def interrupt_kernel(self):
        # bwrap runs the kernel in a new session and PID namespace: signal the kernel
        # process itself (found among the launcher's descendants), not the process group
        # (SIGINT to bwrap would end the sandbox). Overrides the public name: jupyter_client
        # binds it to the base class's implementation.
        pid = self.kernel_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    def kernel_pid(self):
        import psutil
        proc = getattr(self.provisioner, "process", None)
        if proc is None:
            return None
        if self.template is not None:
            return proc.kernel_pid()
        try:
            # bwrap's own command line names the kernel too: skip the bwrap processes.
            kernels = [c for c in psutil.Process(proc.pid).children(recursive=True)
                       if c.name() != "bwrap" and any("ipykernel" in p for p in c.cmdline())]
            pids = {c.pid for c in kernels}
            # Forked children of the kernel share its command line: take the topmost.
            top = [c.pid for c in kernels if c.ppid() not in pids]
            return min(top) if top else None
        except psutil.Error:
            return None
