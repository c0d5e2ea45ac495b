"""The trusted checker: test cells run here, never in the student's kernel.

nbgrader runs hidden tests in the student's kernel, where the student's earlier cells can
have replaced ``numpy.isclose``, ``check.assert_close``, ``AssertionError``, IPython's
error display, or the names the tests use; a test then passes whatever the answer.
Here the grader executes each notebook twice over:

* student cells (and read-only cells) in the student's sandboxed kernel;
* read-only cells and test cells in this separate process, which student code never
  enters. Its names come from the instructor's cells (those names are never taken from
  the student); a name it lacks is looked up in the student's kernel through
  course/inkernel/agent.py, and calls, attributes and iteration on student objects are
  forwarded there (course/checker/remote.py). Only data comes back (course/wire.py).

So the reference values, the comparison (``course.check``), NumPy/PyTorch/TensorFlow
and the names the tests use are pristine by construction; hidden test code never
reaches the student's process either. What a notebook run would also do is kept:

* arrays, tensors and variables are mirrored (one object per side, equal after every
  call): in-place changes and kept references behave as in one process;
* a test that assigns a student's name (swapping in a reference to test another part)
  assigns it in the kernel too; a test's own functions passed to student code go by
  value (cloudpickle) and run there;
* differentiating through a student's function works (course/checker/remote.py).

What a hidden test prints, or makes the student's code print or raise, is kept apart from
the rest (the student's view of a cell's outputs leaves it out: course/report/feedback.py).

Protocol with the grader (course/grade/checkers.py): JSON lines on stdin/stdout.
  grader -> checker: {"op": "exec", "kind": "readonly"|"test", "code", "label"}
                     {"op": "reply", "status": "ok"|"timeout"|"dead", "stdout": str}
                     {"op": "reserve", "names"}, {"op": "fingerprint"}, {"op": "audit"},
                     {"op": "reset", "xdir", "cwd", ...}, {"op": "quit"}
  checker -> grader: {"op": "call", "id"}   (answer the request file ``<id>.req``)
                     {"op": "done", "kind", "outputs": [...], "student_view": [...]},
                     {"op": "fingerprint", ...}, {"op": "audit", "outside"}, {"op": "ready"}
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import sys
import types
import uuid
from pathlib import Path

from course import mailbox, wire
from course.checker.cells import hidden_test_lines, transform_cell
from course.checker.errors import (
    KernelNotRunning, StudentCodeTimeout, error_output, hidden_failure_message, safe_repr,
    student_exception,
)
from course.checker.remote import Remote
from course.lifetime import die_with_parent


class _Checker:
    def __init__(self, xdir: Path, proto, max_output: int, max_bytes: int):
        self.xdir = xdir
        self.proto = proto
        self.max_output = max_output
        self.max_bytes = max_bytes
        self.ns = _Namespace(self)
        self.ns.update({"__name__": "__main__", "__builtins__": builtins,
                        "get_ipython": lambda: _NoMagics()})
        self.readonly_names: set = set()
        # Objects shared with the student's code (ours get positive ids: id(obj)).
        self.mirrors = wire.Mirrors(id)
        self.reserved: set = set()      # bound by the instructor's cells: never the student's
        self.student_names: set = set()
        self.remote_allowed = False
        self.outputs: list = []         # what the cell printed: graded, shown to the instructor
        self.student_view: list = []    # the same, less what a hidden test made appear
        self.hidden_lines: dict = {}    # cell label -> line numbers inside hidden-test regions
        self.out_size = 0
        self.truncated = False

    # -- outputs, in the order they happen
    def write(self, text: str, name: str = "stdout") -> None:
        if not text:
            return
        room = self.max_output - self.out_size
        if room <= 0:
            self.truncated = True
            return
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.out_size += len(text)
        hidden = self._in_hidden_region()
        for outputs, skip in ((self.outputs, False), (self.student_view, hidden)):
            if skip:
                continue
            last = outputs[-1] if outputs else None
            if last is not None and last.get("name") == name and last.get("_hidden") == hidden:
                last["text"] += text
            else:
                outputs.append({"output_type": "stream", "name": name, "text": text,
                                "_hidden": hidden})

    # What a hidden test prints, or makes student code print (its inputs, say), is for the
    # instructor only: it is told apart by the line of the instructor's cell now running.
    def _in_hidden_region(self, frame=None) -> bool:
        frame = frame or sys._getframe(1)
        while frame is not None:
            lines = self.hidden_lines.get(frame.f_code.co_filename)
            if lines and frame.f_lineno in lines:
                return True
            frame = frame.f_back
        return False

    def _raised_in_hidden_region(self, exc: BaseException) -> bool:
        tb = exc.__traceback__
        while tb is not None:
            lines = self.hidden_lines.get(tb.tb_frame.f_code.co_filename)
            if lines and tb.tb_lineno in lines:
                return True
            tb = tb.tb_next
        return False

    # -- requests to the student's kernel
    def request(self, req: dict):
        if not self.remote_allowed:
            raise NameError("names defined by the student are not available in read-only cells")
        rid = uuid.uuid4().hex
        mailbox.post(self.xdir, rid, wire.dumps(req, ref=self._ref, track=self.mirrors.track,
                                                 max_bytes=self.max_bytes))
        _send(self.proto, {"op": "call", "id": rid})
        reply = _recv_line()
        if reply.get("op") != "reply":
            raise RuntimeError(f"grader protocol error: {reply!r}")
        self.write(reply.get("stdout", ""))
        status = reply.get("status")
        data = mailbox.collect(self.xdir, rid)
        if status == "timeout":
            raise StudentCodeTimeout("the student's code ran past the cell's time limit "
                                     "and was interrupted")
        if status == "dead":
            raise KernelNotRunning("the notebook's kernel is not running (it crashed or was "
                                   "stopped earlier), so its functions cannot be called")
        if data is None:
            raise KernelNotRunning("the notebook's kernel did not answer the grader (its "
                                   "state was altered or it is stuck)")
        answer = wire.loads(data, deref=self._deref, mirror=self.mirrors.sync,
                            max_bytes=self.max_bytes)
        if type(answer) is not dict:
            raise KernelNotRunning("the notebook's kernel sent a malformed answer")
        if "error" in answer:
            ename, evalue = (list(answer["error"]) + ["", ""])[:2]
            raise student_exception(str(ename), str(evalue))
        ok = answer.get("ok")
        if req["op"] != "call" or type(ok) is not dict:
            return ok
        # Arguments changed in place come back through the mirrors (decoding did it);
        # lists and dicts appended to or updated are written back here.
        for where, key, new in ok.get("containers") or []:
            orig = (req.get("args") or [])[key] if where == "arg" and type(key) is int \
                and key < len(req.get("args") or []) else (req.get("kwargs") or {}).get(key)
            if type(orig) is list and type(new) is list:
                orig[:] = new
            elif type(orig) is dict and type(new) is dict:
                orig.clear()
                orig.update(new)
        return ok.get("value")

    def _ref(self, obj):
        if isinstance(obj, Remote):
            return {"t": "ref", "h": object.__getattribute__(obj, "_h")}
        for name in self.readonly_names:
            if self.ns.get(name) is obj:
                return {"t": "ns", "n": name}
        if isinstance(obj, types.ModuleType):
            return {"t": "import", "m": obj.__name__, "q": ""}
        mod = getattr(obj, "__module__", None)
        qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if isinstance(mod, str) and isinstance(qual, str) and "<" not in qual \
                and mod != "__main__" and mod in sys.modules:
            target = sys.modules[mod]
            for part in qual.split("."):
                target = getattr(target, part, None)
            if target is obj:
                return {"t": "import", "m": mod, "q": qual}
        if callable(obj):  # a test's own function or lambda: sent by value, runs there
            import base64
            import cloudpickle
            return {"t": "pickled", "b": base64.b64encode(cloudpickle.dumps(obj)).decode()}
        return None

    def _deref(self, node):
        if node.get("t") == "ref":
            return Remote(self, int(node["h"]), str(node.get("type", "object"))[:200],
                          bool(node.get("callable")))
        raise wire.WireError("the student's kernel may only send data and references")

    # -- running a cell like IPython would (last expression's value is the result)
    def run(self, code: str, kind: str, label: str) -> tuple[list, list]:
        """Run a cell: (its outputs, the student's view of them)."""
        self.outputs, self.student_view, self.out_size, self.truncated = [], [], 0, False
        self.remote_allowed = kind == "test"
        before = set(self.ns)
        try:
            code = transform_cell(code)
            self.hidden_lines[label] = hidden_test_lines(code)
            tree = ast.parse(code, filename=label)
            if kind == "test":
                self._import_student_names(tree)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            with contextlib.redirect_stdout(_Writer(self, "stdout")), \
                    contextlib.redirect_stderr(_Writer(self, "stderr")):
                exec(compile(tree, label, "exec"), self.ns)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), label, "eval"), self.ns)
                    if value is not None:
                        result = {"output_type": "execute_result", "metadata": {},
                                  "execution_count": None,
                                  "data": {"text/plain": safe_repr(value)}}
                        self.outputs.append(result)
                        if not self.hidden_lines[label]:
                            self.student_view.append(result)
        except BaseException as exc:  # noqa: BLE001 - a test's failure is its result
            error = error_output(exc)
            self.outputs.append(error)
            if self._raised_in_hidden_region(exc):
                error = {**error, "evalue": hidden_failure_message(exc), "traceback": []}
            self.student_view.append(error)
        if kind == "readonly":
            self.readonly_names |= {k for k in set(self.ns) - before if not k.startswith("__")}
        if self.truncated:
            note = {"output_type": "stream", "name": "stdout",
                    "text": f"\n[output cut at {self.max_output // 1024} KiB]\n"}
            self.outputs.append(note)
            self.student_view.append(note)
        strip = lambda outs: [{k: v for k, v in o.items() if k != "_hidden"} for o in outs]  # noqa: E731
        return strip(self.outputs), strip(self.student_view)

    def _import_student_names(self, tree) -> None:
        # Names the instructor's cells define always win: the student cannot redefine them.
        for name in list(self.student_names):
            dict.pop(self.ns, name, None)
        self.student_names = set()
        wanted = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
                        - set(self.ns) - set(dir(builtins)) - self.reserved)
        if wanted:
            found = self.request({"op": "lookup", "names": wanted})
            if type(found) is dict:
                for name, value in found.items():
                    if name in wanted:
                        dict.__setitem__(self.ns, name, value)
                        self.student_names.add(name)


class _Namespace(dict):
    """The checker's globals. A test that assigns to one of the student's names (to swap a
    student's function for a reference while testing another one) assigns it in the
    student's kernel too, as it would have there."""

    def __init__(self, checker):
        super().__init__()
        self.checker = checker

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if key in self.checker.student_names and self.checker.remote_allowed:
            self.checker.request({"op": "setglobal", "name": key, "value": value})


class _Writer(io.TextIOBase):
    def __init__(self, checker, name):
        self.checker, self.name = checker, name

    def writable(self):
        return True

    def write(self, text):
        if self.name == "stdout":  # stderr (framework warnings) never reaches a test's outputs
            self.checker.write(str(text))
        return len(text)


class _NoMagics:
    """``get_ipython()`` for read-only and test cells: magics do nothing in the checker."""

    def run_line_magic(self, *args, **kwargs):
        return None

    run_cell_magic = system = run_line_magic


_stdin_lines = None


def _recv_line() -> dict:
    line = _stdin_lines.readline()
    if not line:
        raise SystemExit(0)  # the grader is gone
    return json.loads(line)


def _send(proto, msg: dict) -> None:
    proto.write(json.dumps(msg) + "\n")
    proto.flush()


def _modules_outside_path() -> list[str]:
    import sysconfig
    roots = {Path(p).resolve() for p in sys.path if p and os.path.isdir(p)}
    roots |= {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")}
    roots |= {Path(os.path.abspath(r)) for r in roots}
    outside = []
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        # Only absolute entries are on the path (main() makes sure), so a module read from
        # a file has an absolute __file__; a relative one (torch.ops: "_ops.py") was made
        # in memory by a trusted module.
        if not isinstance(file, str) or not os.path.isabs(file):
            continue
        # Where it was found, or where that link leads (Debian's sitecustomize.py in the
        # standard library is a link into /etc/python3.x): either inside is inside.
        places = (Path(os.path.abspath(file)), Path(file).resolve())
        if not any(p.is_relative_to(r) for p in places for r in roots):
            outside.append(f"{name} ({file})")
    return sorted(outside)


def main(argv=None) -> int:
    global _stdin_lines
    argv = argv if argv is not None else sys.argv[1:]
    xdir, max_output, max_bytes = Path(argv[0]), int(argv[1]), int(argv[2])
    die_with_parent()
    # The protocol gets fd 1 to itself; anything else printed goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    _stdin_lines = sys.stdin
    # Belt and braces: nothing relative, and not the working folder, on the import path.
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p) and p != cwd]
    checker = _Checker(xdir, proto, max_output, max_bytes)
    while True:
        msg = _recv_line()
        op = msg.get("op")
        if op == "exec":
            outputs, student_view = checker.run(msg["code"], msg["kind"], msg.get("label", "<cell>"))
            _send(proto, {"op": "done", "kind": msg["kind"], "outputs": outputs,
                          "student_view": student_view})
        elif op == "reserve":
            checker.reserved |= set(msg["names"])
        elif op == "reset":  # the next notebook: a fresh namespace, no shared objects
            os.chdir(msg["cwd"])
            checker = _Checker(Path(msg["xdir"]), proto, int(msg["max_output"]),
                               int(msg["max_bytes"]))
            _send(proto, {"op": "ready"})
        elif op == "fingerprint":
            from course.inkernel import probe   # the same probe as in the kernel
            _send(proto, {"op": "fingerprint", "modules": probe.modules(),
                          "names": probe.namespace(checker.ns, sorted(checker.readonly_names))})
        elif op == "audit":  # modules from outside the trusted import path: must be none
            _send(proto, {"op": "audit", "outside": _modules_outside_path()})
        elif op == "quit":
            return 0
