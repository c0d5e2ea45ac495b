"""nbgrader's Execute step, guarded: sandboxed kernel, trusted tests, limits, a record.

Replaces nbgrader's ``Execute`` preprocessor in ``autograde`` (course/release/config.py):

* the student's cells (and the read-only cells) run in a kernel inside the sandbox
  (course/grade/sandbox/), or an ordinary kernel with ``--no-sandbox``;
* test cells run in the trusted checker (course/checker/, started by
  course/grade/checkers.py); their outputs, which nbgrader scores (an error output = 0
  points), are written by the checker alone, with the student's view of them beside;
* every cell has a wall-time limit, the notebook has one too; a timed-out cell is
  interrupted, and a kernel that ignores the interrupt is stopped; output per cell is cut
  at a size; a dead kernel does not stop grading: later tests fail with a clear message;
* after the last cell, a probe compares the kernel's library functions and hooks with
  the checker's (course/inkernel/probe.py): tampering is reported, never rewarded.

Each notebook's record (status, reasons, findings, notes, seconds, peak memory) is kept
in the autograded notebook's own metadata (``nb.metadata["course"]["grading"]``, see
course/grade/sanitize.py), where the worker, the feedback and the status readers find it,
also after a plain ``nbgrader autograde``. A worker keeps its last checkers and reuses
one for the next notebook of the same assignment (course/grade/checkers.py). One
notebook at a time per process: run Dask workers with one thread.
"""
from __future__ import annotations

import time
import uuid

import nbformat
from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict

from course import mailbox, wire
from course.author import cells
from course.checker.cells import bound_names
from course.grade import scratch
from course.grade.checkers import give_back_checker, take_checker
from course.grade.sandbox import warm
from course.grade.sandbox.limits import MiB, Limits, load_limits
from course.grade.sanitize import grading_meta, sanitize_preprocessors
from course.inkernel import probe


_TIMED_OUT = "timed out"


_CRASHED = "crashed"


class GuardedExecute(Execute):
    sandbox = Bool(True, help="run student code in the bubblewrap sandbox").tag(config=True)
    limit_overrides = Dict({}, help="grading limits over the unit's grading.toml").tag(config=True)
    warm_kernels = Bool(False, help="start each notebook's sandboxed kernel ahead, framework "
                                   "imported (course/grade/sandbox/warm.py)").tag(config=True)

    def _unit_limits(self, assignment: str | None) -> Limits:
        from course.layout import Layout
        unit_dir = Layout.default().units / assignment if assignment else None
        return load_limits(unit_dir if unit_dir and unit_dir.is_dir() else None,
                           dict(self.limit_overrides))

    # ------------------------------------------------------------------ kernel
    def create_kernel_manager(self):
        if self._box is None:
            return super().create_kernel_manager()
        from course.grade.sandbox.kernel import SandboxKernelManager
        self.kernel_manager_class = SandboxKernelManager
        km = super().create_kernel_manager()
        km.attach(self._box)
        return km

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        await self.km.interrupt_kernel()
        # The interrupted cell gets a few seconds to stop; a kernel that ignores the
        # interrupt (or is stuck in C code) is stopped, and the notebook ends there.
        try:
            await self.kc.shell_channel.get_msg(timeout=self._limits.interrupt_grace)
        except Exception:  # noqa: BLE001 - queue.Empty: no reply
            self._gone = (_TIMED_OUT, f"ignored the interrupt for {self._limits.interrupt_grace} s, "
                                      f"so the kernel was stopped")
            await self.km.shutdown_kernel(now=True)
        return {"content": {**self.error_on_timeout, "status": "error",
                            "evalue": f"the cell ran longer than {timeout} s"}}

    def output(self, outs, msg, display_id, cell_index):
        size = _content_size(msg.get("content", {}))
        used = self._out_used.get(cell_index, 0) + size
        self._out_used[cell_index] = used
        if used > self._limits.output_kb * 1024:
            if cell_index not in self._truncated:
                self._truncated.add(cell_index)
                note = nbformat.v4.new_output("stream", name="stdout", text=(
                    f"\n[grader: output cut at {self._limits.output_kb} KiB]\n"))
                outs.append(note)
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _take_kernel(self, nb, info: dict, limits: Limits) -> warm.Kernel:
        from course.layout import NOTEBOOKS
        names = {v: k for k, v in NOTEBOOKS.items()}
        framework = names.get(f"{info.get('notebook')}.ipynb")
        kernel_name = (nb.metadata.get("kernelspec") or {}).get("name") or self.kernel_name \
            or "python3"
        ahead = self.warm_kernels and warm.enabled() and framework is not None
        return warm.take(limits, framework, kernel_name, list(self.extra_arguments),
                         self.config, ahead=ahead)

    # ------------------------------------------------------------------ running code
    def _run_in_kernel(self, cell, index: int, timeout: float) -> str:
        """Execute one cell in the kernel: 'ok', 'timeout' or 'dead'."""
        if self._gone is not None:
            return "dead"
        self.timeout = max(1, int(timeout))
        self._timed_out = False
        # nbclient stores the executed cell at nb.cells[index]: for the grader's own cells
        # (index -1) that would replace the notebook's last cell, a test cell included
        last = self.nb.cells[-1] if index < 0 and self.nb.cells else None
        try:
            self.execute_cell(cell, index, store_history=index >= 0)
        except DeadKernelError:
            self._gone = (_CRASHED, self._crash_reason())
            return "dead"
        finally:
            if last is not None:
                self.nb.cells[-1] = last
        if self._timed_out:
            return "timeout"
        return "ok"

    def _crash_reason(self) -> str:
        box = self._box
        if box is not None and box.oom_killed():
            return f"ran out of memory (limit {self._limits.memory_mb} MiB) and was killed"
        tail = box.stderr_tail() if box is not None else ""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = proc.poll() if proc is not None else None
        if "Segmentation fault" in tail or code in (139, -11):
            return "crashed with a segmentation fault"
        if code in (152, -24):
            return f"used more than {self._limits.cpu_seconds} s of CPU time and was stopped"
        if code in (153, -25):
            return f"wrote a file larger than {self._limits.file_mb} MiB and was stopped"
        if code in (137, -9):
            return "was killed (SIGKILL)"
        if code is not None:
            return f"exited (exit code {code}: os._exit, a fatal error or a signal)"
        return "died"

    def _agent_code(self, rid: str) -> str:
        return (f"__import__('course.inkernel.agent').inkernel.agent.serve({str(self._xdir)!r}, {rid!r}, "
                f"{self._limits.transfer_mb * MiB})")

    def _serve(self, rid: str, deadline: float):
        """Answer one checker request in the kernel: (status, the code's stdout)."""
        cell = nbformat.v4.new_code_cell(self._agent_code(rid))
        self._out_used[-1] = 0
        self._truncated.discard(-1)
        status = self._run_in_kernel(cell, -1, deadline - time.monotonic())
        text = "".join(o.get("text", "") for o in cell.outputs
                       if o.output_type == "stream" and o.name == "stdout")
        if status == "timeout":
            self._timeouts.append("a test's call into the notebook's code ran past the cell's "
                                  "time limit and was interrupted")
        return status, text[: self._limits.output_kb * 1024]

    def _ask_kernel(self, request: dict, timeout: float = 60):
        """A request from the grader itself (hook baseline, probe); None if no answer."""
        rid = uuid.uuid4().hex
        mailbox.post(self._xdir, rid, wire.dumps(request))
        status, _ = self._serve(rid, time.monotonic() + timeout)
        data = mailbox.collect(self._xdir, rid)
        try:
            return wire.loads(data).get("ok") if status == "ok" and data else None
        except (wire.WireError, AttributeError):
            return None

    def _run_test(self, cell, label: str, cell_deadline: float) -> list:
        def serve(rid):
            if self._gone is not None or time.monotonic() > cell_deadline:
                return ("dead" if self._gone is not None else "timeout"), ""
            return self._serve(rid, cell_deadline)
        outputs, student_view = self._checker.run_test(cell.source, label, serve=serve,
                                                       deadline=cell_deadline)
        course_meta = cell.metadata.get("course")
        if isinstance(course_meta, dict):
            course_meta.pop("feedback_outputs", None)
        if student_view != outputs:  # what the feedback shows instead (course/report/feedback.py)
            cell.metadata.setdefault("course", {})["feedback_outputs"] = student_view
        return [nbformat.from_dict(o) for o in outputs]

    # ------------------------------------------------------------------ the notebook
    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        info = resources.get("nbgrader", {})
        self._limits = limits = self._unit_limits(info.get("assignment"))
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.interrupt_on_timeout = True
        self.raise_on_iopub_timeout = False
        self.iopub_timeout = 4
        self.allow_errors = True
        self.shutdown_kernel = "immediate"  # nothing to save in the kernel either
        self._gone = None
        self._timed_out = False
        self._out_used, self._truncated, self._events, self._timeouts = {}, set(), [], []
        self._answered = set()
        before = grading_meta(nb)   # from the sanitize step (course/grade/sanitize.py)
        record = {"status": "graded", "reasons": [], "findings": list(before.get("findings") or []),
                  "metadata_only": bool(before.get("metadata_only", True)),
                  "notes": list(before.get("notes") or []), "checker_errors": [],
                  "cell_seconds": {}, "peak_mb": None, "sandboxed": bool(self.sandbox)}
        for cell in nb.cells:  # only the grader writes these (a submission's are dropped)
            if isinstance(cell.metadata.get("course"), dict):
                cell.metadata["course"].pop("feedback_outputs", None)
        start = time.monotonic()
        deadline = start + limits.notebook_timeout
        private = scratch.private_dir("nb")
        # The checker's working folder: empty, and nothing a student wrote is near it.
        checker_cwd = private / "checker"
        checker_cwd.mkdir()
        self._box = self._checker = self._kernel = None
        key = None
        try:
            no_fd_capture = "--IPKernelApp.capture_fd_output=False"
            if self.sandbox and no_fd_capture not in self.extra_arguments:
                # C-level output goes to the grader's crash log, not into cells
                self.extra_arguments = [*self.extra_arguments, no_fd_capture]
            if self.sandbox:
                self._kernel = self._take_kernel(nb, info, limits)
                self._box = self._kernel.box
                self._xdir = self._box.exchange
            else:
                self._xdir = private / "x"
                self._xdir.mkdir()
            reserved, readonly = set(), []
            for cell in nb.cells:
                if cells.is_readonly_code(cell):
                    reserved |= bound_names(cell.source)
                    readonly.append(cell.source)
            key = (info.get("assignment"), info.get("notebook"), hash(tuple(readonly)))
            self._checker = take_checker(key, self._xdir, checker_cwd, limits)
            self._checker.reserve(reserved)
            self._checker.notebook_deadline = deadline
            # Read-only cells before the first test go to the checker now: it imports the
            # frameworks while the kernel starts. Later ones follow the kernel, in order.
            self._sent = set()
            for index, cell in enumerate(nb.cells):
                if cells.is_test(cell):
                    break
                if cells.is_readonly_code(cell):
                    self._checker.exec_readonly(cell.source, cells.label(cell, index))
                    self._sent.add(index)
            if self._kernel is not None:
                self.km = self._kernel.km   # started already: setup_kernel only connects
            with self.setup_kernel():
                reply = self.wait_for_reply(self.kc.kernel_info())
                if reply:
                    nb.metadata["language_info"] = reply["content"]["language_info"]
                baseline = self._ask_kernel({"op": "hooks"})
                self._run_cells(nb, record, deadline)
                if self._gone is None:
                    probed = self._probe(baseline)
                    record["findings"] += probed
                    record["metadata_only"] = record["metadata_only"] and not probed
        except Exception as exc:  # noqa: BLE001 - the checker or the kernel machinery
            record["status"] = _CRASHED
            what = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            record["reasons"].append(f"grading error (not the student's): {what}")
        finally:
            if self._checker is not None:
                record["checker_errors"] = list(self._checker.readonly_errors)
                record["checker_reused"] = self._checker.uses > 1
                give_back_checker(key, self._checker, ok=record["status"] != _CRASHED)
            if self._box is not None:
                record["peak_mb"] = self._box.peak_mb()
                if self._gone is None and self._box.oom_killed():
                    self._gone = (_CRASHED, "ran out of memory")
            if self._kernel is not None:
                record["warm_kernel"] = self._kernel.warm
                record["forked_kernel"] = self._kernel.forked
                self._kernel.close()
            scratch.release(private)
        for index, cell in enumerate(nb.cells):
            # A test the checker did not answer must fail: nbgrader gives full points to a
            # test cell without an error output.
            if cells.is_test(cell) and index not in self._answered:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="NotGraded", evalue="grading stopped before this test ran",
                    traceback=[])]
        self._finish(nb, record, start)
        nb.metadata.setdefault("course", {})["grading"] = record
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _run_cells(self, nb, record: dict, deadline: float) -> None:
        limits = self._limits
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            label = cells.label(cell, index)
            t0 = time.monotonic()
            remaining = deadline - t0
            if remaining <= 0 and self._gone is None:
                self._gone = (_TIMED_OUT, f"ran past the notebook's {limits.notebook_timeout} s "
                                          f"limit; cells from {label} on were not run")
                self._events.append(f"the notebook {self._gone[1]}")
                run_sync(self.km.shutdown_kernel)(now=True)
            if cells.is_test(cell):
                cell.outputs = self._run_test(cell, label, t0 + min(limits.cell_timeout,
                                                                   max(remaining, 1)))
                cell.execution_count = None
                self._answered.add(index)
            else:
                before = self._gone
                status = self._run_in_kernel(cell, index, min(limits.cell_timeout, max(remaining, 1)))
                if status == "timeout":
                    self._timeouts.append(f"{label} ran longer than {int(self.timeout)} s and was "
                                          f"interrupted")
                    if before is None and self._gone is not None:
                        self._events.append(f"{label} {self._gone[1]}; the cells after it did not run")
                elif status == "dead":
                    why = self._gone[1] if self._gone else "is not running"
                    if before is None:
                        self._events.append(f"the kernel {why} in {label}; the cells after it "
                                            f"did not run")
                    cell.outputs = list(cell.get("outputs", [])) + [nbformat.v4.new_output(
                        "error", ename="KernelNotRunning",
                        evalue=f"not run: the notebook's kernel {why}", traceback=[])]
                if cells.is_readonly_code(cell) and index not in self._sent:
                    self._checker.exec_readonly(cell.source, label)
            record["cell_seconds"][label] = round(time.monotonic() - t0, 3)

    def _probe(self, baseline) -> list[str]:
        trusted = self._checker.fingerprint()
        names = sorted(trusted.get("names", {}))
        seen = self._ask_kernel({"op": "probe", "names": names})
        if not isinstance(seen, dict) or baseline is None:
            return ["the grader's integrity probe got no answer from the kernel "
                    "(IPython or the import system was altered)"]
        try:
            return (probe.compare_modules(trusted.get("modules", {}), seen.get("modules", {}))
                    + probe.compare_names(trusted.get("names", {}), seen.get("names", {}))
                    + probe.compare_hooks(baseline, seen.get("hooks", {})))
        except (AttributeError, TypeError):
            return ["the kernel's answer to the integrity probe was malformed"]

    def _finish(self, nb, record: dict, start: float) -> None:
        record["seconds"] = round(time.monotonic() - start, 3)
        reasons = self._timeouts[:3] + self._events
        if len(self._timeouts) > 3:
            reasons.insert(3, f"and {len(self._timeouts) - 3} more timeouts")
        labels = [cells.label(nb.cells[i], i) for i in sorted(self._truncated) if i >= 0]
        if labels:
            reasons.append(f"output cut at {self._limits.output_kb} KiB in {', '.join(labels[:5])}")
        if record["status"] == "graded":  # a grading error (crashed) stays
            if self._gone is not None:
                record["status"] = self._gone[0]
            elif self._timeouts:
                record["status"] = _TIMED_OUT
        record["reasons"] = reasons + record["reasons"]


def _content_size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    size = 0
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += sum(len(line) for line in content.get("traceback", []) or [])
    return size


def nbgrader_overrides(*, sandbox: bool = True, limits: dict | None = None,
                       warm_kernels: bool = False):
    """nbgrader configuration that makes ``autograde`` use the guarded execution."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader import preprocessors as pp
    from traitlets.config import Config

    c = Config()
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.Autograde.autograde_preprocessors = [GuardedExecute, pp.IgnorePattern,
                                           ClearMetadataPreprocessor, pp.LimitOutput,
                                           pp.SaveAutoGrades, pp.AssignLatePenalties,
                                           pp.CheckCellMetadata]
    c.GuardedExecute.sandbox = sandbox
    c.GuardedExecute.warm_kernels = warm_kernels
    c.GuardedExecute.limit_overrides = dict(limits or {})
    return c
