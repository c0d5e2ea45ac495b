"""The trusted checker: test cells run here, never in the student's kernel.

nbgrader runs hidden tests in the student's kernel, where the student's earlier cells can
have replaced ``numpy.isclose``, ``check.assert_close``, ``AssertionError``, IPython's
error display, or the names the tests use; a test then passes whatever the answer.
Here the grader executes each notebook twice over:

* student cells (and read-only cells) in the student's sandboxed kernel;
* read-only cells and test cells in this separate process, which student code never
  enters. Its names come from the instructor's cells (those names are never taken from
  the student); a name it lacks is looked up in the student's kernel through
  course/agent.py, and calls, attributes and iteration on student objects are forwarded
  there. Only data comes back (course/wire.py).

So the reference values, the comparison (``course.check``), NumPy/PyTorch/TensorFlow
and the names the tests use are pristine by construction; hidden test code never
reaches the student's process either. The student's kernel can only return values, the
way an honest function would. What a notebook run would also do is kept:

* arrays, tensors and variables are mirrored (one object per side, equal after every
  call): in-place changes and kept references behave as in one process;
* a test that assigns a student's name (swapping in a reference to test another part)
  assigns it in the kernel too; a test's own functions passed to student code go by
  value (cloudpickle) and run there;
* differentiating through a student's function works: the call is recorded in the
  kernel (autograd graph or GradientTape) and the test's backward pass asks for the
  input gradients (``_bridge``).

Protocol with the grader (course/guarded.py): JSON lines on stdin/stdout.
  grader -> checker: {"op": "exec", "kind": "readonly"|"test", "code", "label"}
                     {"op": "reply", "status": "ok"|"timeout"|"dead", "stdout": str}
                     {"op": "reserve", "names"}, {"op": "fingerprint"},
                     {"op": "reset", "xdir", "cwd", ...}, {"op": "quit"}
  checker -> grader: {"op": "call", "id"}   (answer the request file ``<id>.req``)
                     {"op": "done", "kind", "outputs": [...]}, {"op": "fingerprint", ...},
                     {"op": "ready"}
A checker is reused for the next notebook of the same assignment with a fresh namespace
(course/guarded.py): it only ever ran the instructor's code.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
import types
import uuid
from collections import deque
from pathlib import Path

from course import wire


class StudentCodeTimeout(Exception):
    """The student's code did not return within the cell's time limit."""


class KernelNotRunning(Exception):
    """The student's kernel is not running any more (it crashed or was stopped)."""


class StudentError(Exception):
    """Base of the exceptions re-raised from the student's code under their own name."""


# ============================================================================ checker side

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
        self.tracked: dict = {}         # mirror id -> object shared with the student's code
        self.tracked_ids: dict = {}     # id(object) -> mirror id
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
        base = self.xdir / rid
        tmp = base.with_suffix(".part")
        tmp.write_bytes(wire.dumps(req, ref=self._ref, track=self._track, max_bytes=self.max_bytes))
        os.chmod(tmp, 0o644)
        os.replace(tmp, base.with_suffix(".req"))
        _send(self.proto, {"op": "call", "id": rid})
        reply = _recv_line()
        if reply.get("op") != "reply":
            raise RuntimeError(f"grader protocol error: {reply!r}")
        self.write(reply.get("stdout", ""))
        status = reply.get("status")
        res = base.with_suffix(".res")
        try:
            if status == "timeout":
                raise StudentCodeTimeout("the student's code ran past the cell's time limit "
                                         "and was interrupted")
            if status == "dead":
                raise KernelNotRunning("the notebook's kernel is not running (it crashed or was "
                                       "stopped earlier), so its functions cannot be called")
            try:
                data = res.read_bytes()
            except FileNotFoundError:
                raise KernelNotRunning("the notebook's kernel did not answer the grader (its "
                                       "state was altered or it is stuck)") from None
            answer = wire.loads(data, deref=self._deref, mirror=self._sync,
                                max_bytes=self.max_bytes)
        finally:
            for p in (base.with_suffix(".req"), res):
                with contextlib.suppress(OSError):
                    p.unlink()
        if type(answer) is not dict:
            raise KernelNotRunning("the notebook's kernel sent a malformed answer")
        if "error" in answer:
            ename, evalue = (list(answer["error"]) + ["", ""])[:2]
            raise _student_exception(str(ename), str(evalue))
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

    # Arrays, tensors and variables are mirrored: one object on each side per value, kept
    # equal after every call, so that references kept by either side stay meaningful.
    def _track(self, obj):
        if not wire.is_mutable_leaf(obj):
            return None
        oid = self.tracked_ids.get(id(obj))
        if oid is None:
            oid = id(obj)  # positive: ours; the kernel numbers its own objects below 0
            self._remember(oid, obj)
        return oid

    def _remember(self, oid, obj):
        old = self.tracked.pop(oid, None)
        if old is not None:
            self.tracked_ids.pop(id(old), None)
        self.tracked[oid] = obj
        self.tracked_ids[id(obj)] = oid
        while len(self.tracked) > 5000:
            first = next(iter(self.tracked))
            self.tracked_ids.pop(id(self.tracked.pop(first)), None)

    def _sync(self, oid, value):
        orig = self.tracked.get(oid)
        if orig is not None and type(orig) is type(value):
            if wire.digest(orig) == wire.digest(value) or wire.assign(orig, value):
                return orig
        self._remember(oid, value)
        return value

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
                                  "data": {"text/plain": _safe_repr(value)}}
                        self.outputs.append(result)
                        if not self.hidden_lines[label]:
                            self.student_view.append(result)
        except BaseException as exc:  # noqa: BLE001 - a test's failure is its result
            error = _error_output(exc)
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


def transform_cell(code: str) -> str:
    """A cell's code as IPython would run it (magics become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - plain Python is fine without IPython
        return code


def hidden_test_lines(code: str) -> frozenset:
    """Line numbers (1-based) inside ``### BEGIN/END HIDDEN TESTS`` regions; an unclosed
    region runs to the end of the cell."""
    lines, inside = set(), False
    for number, line in enumerate(code.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            lines.add(number)
        if HIDDEN_END in line:
            inside = False
    return frozenset(lines)


HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def hidden_failure_message(exc: BaseException) -> str:
    """What the student is told of a hidden test's failure: the test's own message (it
    names the mistake, never the inputs or expected values), else only what kind of error
    it was. Whatever the student's code raised, printed or said stays with the instructor."""
    if getattr(exc, "from_student", False):
        return (f"your code raised {type(exc).__name__} when a hidden test called it (the "
                f"message is not shown: it could give away the test's inputs)")
    if isinstance(exc, (AssertionError, NameError, StudentCodeTimeout, KernelNotRunning)):
        try:
            return str(exc)
        except Exception:  # noqa: BLE001
            return type(exc).__name__
    return (f"{type(exc).__name__} while a hidden test checked your code's result (the "
            f"details are for the instructor)")


def _safe_repr(value) -> str:
    try:
        return repr(value)[:10_000]
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__}>"


def _error_output(exc: BaseException) -> dict:
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = ""
    lines = traceback.format_exception(exc)[-12:]
    return {"output_type": "error", "ename": name, "evalue": message,
            "traceback": [line.rstrip("\n") for line in lines]}


def _student_exception(ename: str, evalue: str) -> BaseException:
    if ename == "KeyboardInterrupt":
        return StudentCodeTimeout("the student's code ran past the cell's time limit and was "
                                  "interrupted")
    cls = getattr(builtins, ename, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        exc = cls(evalue)
    else:
        safe = "".join(c for c in ename if c.isalnum() or c == "_")[:60] or "StudentError"
        if safe[0].isdigit():
            safe = "E" + safe
        exc = type(safe, (StudentError,), {})(evalue)
    exc.from_student = True  # its message is the student's text
    return exc


class Remote:
    """A student object that stays in the student's kernel; operations are forwarded."""

    __slots__ = ("_checker", "_h", "_type", "_callable")

    def __init__(self, checker, h, type_name, is_callable):
        object.__setattr__(self, "_checker", checker)
        object.__setattr__(self, "_h", h)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)

    def _ask(self, op, **kw):
        return object.__getattribute__(self, "_checker").request({"op": op, "obj": self, **kw})

    def __call__(self, *args, **kwargs):
        bridged = _bridge(self, list(args), kwargs)
        if bridged is not _NO_BRIDGE:
            return bridged
        return self._ask("call", args=list(args), kwargs=kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __getitem__(self, key):
        return self._ask("getitem", key=key)

    def __iter__(self):
        return iter(self._ask("iter"))

    def __len__(self):
        return self._ask("len")

    def __contains__(self, item):
        return self._ask("contains", item=item)

    def __bool__(self):
        return bool(self._ask("bool"))

    def __str__(self):
        return str(self._ask("str"))

    def __repr__(self):
        return str(self._ask("repr"))

    def __reduce__(self):  # inside a test's lambda sent to the kernel: the student's object
        return (_agent_handle, (object.__getattribute__(self, "_h"),))


_NO_BRIDGE = object()


def _flat(v, out):
    if type(v) in (list, tuple):
        for x in v:
            _flat(x, out)
    elif type(v) is dict:
        for x in v.values():
            _flat(x, out)
    else:
        out.append(v)
    return out


def _replace(v, it):
    """``v`` with its leaves replaced, in order, by the items of iterator ``it`` (tensors)."""
    if type(v) in (list, tuple):
        return type(v)(_replace(x, it) for x in v)
    if type(v) is dict:
        return {k: _replace(x, it) for k, x in v.items()}
    return next(it)


def _bridge(remote, args, kwargs):
    """Differentiate through a student's function: the call is recorded in the kernel and a
    test's backward pass asks the kernel for the input gradients (course/agent.py)."""
    leaves = _flat([args, kwargs], [])
    torch = sys.modules.get("torch")
    if torch is not None and torch.is_grad_enabled() and any(
            isinstance(x, torch.Tensor) and x.requires_grad for x in leaves):
        return _bridge_torch(remote, args, kwargs, leaves, torch)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        from tensorflow.python.eager import record
        if record.could_possibly_record() and any(
                tf.is_tensor(x) and not isinstance(x, tf.Variable) and x.dtype.is_floating
                for x in leaves):
            return _bridge_tf(remote, args, kwargs, leaves, tf)
    return _NO_BRIDGE


def _call_graph(remote, args, kwargs, framework):
    gid = uuid.uuid4().hex
    value = remote._ask("call", args=args, kwargs=kwargs, graph=gid, framework=framework)
    return value, gid


def _bridge_torch(remote, args, kwargs, leaves, torch):
    slots = [isinstance(x, torch.Tensor) and x.requires_grad for x in leaves]
    grad_inputs = [x for x, s in zip(leaves, slots) if s]
    keep = {}

    class RemoteCall(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            # The original tensors (not copies) go: they are mirrored, and must stay the same
            # objects in the kernel (an optimizer there holds them).
            value, keep["gid"] = _call_graph(remote, args, kwargs, "pytorch")
            keep["value"] = value
            if isinstance(value, torch.Tensor):
                return value.detach()
            if type(value) in (list, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
                return tuple(v.detach() for v in value)
            return torch.zeros(0)

        @staticmethod
        def backward(ctx, *grad_outputs):
            grads = remote._ask("backward", graph=keep["gid"], grads=list(grad_outputs))
            return tuple(grads)

    out = RemoteCall.apply(*grad_inputs)
    value = keep["value"]
    if isinstance(value, torch.Tensor):
        return out
    if type(value) in (list, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
        return type(value)(out)
    return value


def _bridge_tf(remote, args, kwargs, leaves, tf):
    slots = [tf.is_tensor(x) and not isinstance(x, tf.Variable) and x.dtype.is_floating
             for x in leaves]
    keep = {}

    @tf.custom_gradient
    def remote_call(*inputs):
        it = iter(inputs)
        new_leaves = [next(it) if s else x for x, s in zip(leaves, slots)]
        a, k = _replace([args, kwargs], iter(new_leaves))
        value, keep["gid"] = _call_graph(remote, a, k, "tensorflow")
        keep["value"] = value
        many = type(value) in (list, tuple) and value and all(tf.is_tensor(v) for v in value)
        out = list(value) if many else value if tf.is_tensor(value) else tf.zeros([0])

        def grad(*dys, variables=None):
            grads = remote._ask("backward", graph=keep["gid"], grads=list(dys))
            grads = [tf.zeros_like(x) if g is None else tf.convert_to_tensor(g)
                     for x, g in zip(inputs, grads)]
            return (grads, [None] * len(variables)) if variables else grads
        return out, grad

    out = remote_call(*[x for x, s in zip(leaves, slots) if s])
    value = keep["value"]
    if tf.is_tensor(value):
        return out
    if type(value) in (list, tuple) and value and all(tf.is_tensor(v) for v in value):
        return type(value)(out)
    return value


def _agent_handle(h):
    from course import agent
    return agent._by_handle(h)


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
    outside = []
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if not isinstance(file, str) or not file:
            continue
        path = Path(file).resolve()
        if not any(path.is_relative_to(r) for r in roots):
            outside.append(f"{name} ({file})")
    return sorted(outside)


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv=None) -> int:
    global _stdin_lines
    argv = argv if argv is not None else sys.argv[1:]
    xdir, max_output, max_bytes = Path(argv[0]), int(argv[1]), int(argv[2])
    _die_with_parent()
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
            from course import fingerprint
            _send(proto, {"op": "fingerprint", "modules": fingerprint.modules(),
                          "names": fingerprint.namespace(checker.ns, sorted(checker.readonly_names))})
        elif op == "audit":  # modules from outside the trusted import path: must be none
            _send(proto, {"op": "audit", "outside": _modules_outside_path()})
        elif op == "quit":
            return 0


# ============================================================================ grader side

# The checker must never import a file a student can write: nbgrader copies a submission's
# other files beside the notebook, and ``python -m`` would put that folder first on the
# import path. So: no script folder or working folder on the path (-P), no user
# site-packages (-s), PYTHONPATH replaced by an explicit list, and a working folder of its
# own (course/guarded.py gives it an empty one).
_BOOT = "import sys; from course.trusted import main; sys.exit(main(sys.argv[1:]))"
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


if __name__ == "__main__":
    sys.exit(main())
