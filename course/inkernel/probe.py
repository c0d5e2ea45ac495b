"""Fingerprints of library functions and kernel hooks, to *detect* tampering.

Detection only: the grade never depends on it (tests run in the trusted checker, where
student code never runs). The same functions run in the student's kernel (through
course/inkernel/agent.py) and in the trusted checker, which imported the same modules by the same
read-only cells; a function whose fingerprint differs was replaced, wrapped or had its
code swapped by the notebook. A determined student can hide from this probe (it runs in
their process); they cannot change a score with it.
"""
from __future__ import annotations

import hashlib
import sys
import types

# Modules (and classes, as "module:Class") whose public functions tests rely on.
WATCHED = ("numpy", "numpy.linalg", "numpy.testing", "numpy.random", "math",
           "course.check", "torch", "torch.nn.functional", "torch.linalg", "torch:Tensor",
           "tensorflow", "tensorflow.math", "tensorflow.nn", "tensorflow.debugging",
           "keras.ops", "numpy:ndarray")
BUILTINS = ("AssertionError", "BaseException", "Exception", "isinstance", "issubclass",
            "float", "int", "bool", "abs", "all", "any", "sum", "min", "max", "len", "range",
            "zip", "map", "enumerate", "sorted", "round", "getattr", "setattr", "hasattr",
            "type", "object", "list", "tuple", "dict", "str", "print", "__import__", "repr",
            "callable", "iter", "next", "exec", "eval", "compile", "open")
HOOKED_METHODS = ("showtraceback", "showsyntaxerror", "_showtraceback", "run_cell",
                  "run_cell_async", "run_ast_nodes", "run_code", "transform_cell",
                  "set_custom_exc", "excepthook", "should_run_async")


def of(obj, *, where: bool = True) -> str:
    """What an object is, stably across processes: type, origin, and code for functions.

    ``where=False`` leaves out the file and line (a cell's "file" differs between the
    kernel and the checker for the very same code)."""
    t = type(obj)
    parts = [t.__module__, t.__qualname__]
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        # Not the bytecode: it differs for the same source between IPython and compile(),
        # and between a .pyc and a fresh compile. Names, constants and arguments do not.
        parts += [obj.__module__, obj.__qualname__, _code_shape(code)]
        if where:
            parts += [code.co_filename, code.co_firstlineno]
    elif isinstance(obj, types.ModuleType):
        parts += [obj.__name__, getattr(obj, "__file__", "")]
    elif isinstance(obj, type):
        parts += [obj.__module__, obj.__qualname__]
    elif callable(obj):
        parts += [getattr(obj, "__module__", ""), getattr(obj, "__qualname__", "")
                  or getattr(obj, "__name__", "")]
    return "|".join(str(p) for p in parts)


def _code_shape(code) -> str:
    consts = [_code_shape(c) if isinstance(c, types.CodeType) else repr(c)[:200]
              for c in code.co_consts]
    return hashlib.sha1(repr((code.co_argcount, code.co_kwonlyargcount, code.co_names,
                              code.co_varnames, consts)).encode()).hexdigest()[:12]


def _target(name: str):
    mod, _, cls = name.partition(":")
    m = sys.modules.get(mod)
    if m is None:
        return None
    return getattr(m, cls, None) if cls else m


def modules(names=WATCHED) -> dict:
    """{watched name: {public attribute: fingerprint}} for those already imported."""
    out = {}
    for name in names:
        target = _target(name)
        if target is None:
            continue
        try:
            items = dict(vars(target))  # no getattr: never trigger lazy imports
        except TypeError:
            continue
        out[name] = {k: of(v) for k, v in items.items()
                     if (not k.startswith("_") or ":" in name) and callable(v)}
    import builtins
    out["builtins"] = {k: of(getattr(builtins, k)) for k in BUILTINS if hasattr(builtins, k)}
    return out


def namespace(ns: dict, names) -> dict:
    """Fingerprints of the given names in a namespace (one level into dicts)."""
    out = {}
    for k in names:
        if k not in ns:
            out[k] = "<missing>"
            continue
        v = ns[k]
        if type(v) is dict:
            out[k] = "dict:" + ",".join(f"{kk}={of(vv, where=False)}" for kk, vv in sorted(
                ((str(a), b) for a, b in v.items()), key=lambda kv: kv[0]))
        else:
            out[k] = of(v, where=False)
    return out


def kernel_hooks() -> dict:
    """IPython and interpreter hooks that could hide errors or rewrite cells."""
    out = {"excepthook": of(sys.excepthook), "displayhook": of(sys.displayhook),
           "trace": of(sys.gettrace()), "profile": of(sys.getprofile()),
           "meta_path": [of(f) for f in sys.meta_path if _defined_in_notebook(f)]}
    try:
        ip = get_ipython()  # noqa: F821 - provided by IPython
    except NameError:
        return out
    out["custom_exceptions"] = [getattr(e, "__name__", str(e)) for e in ip.custom_exceptions]
    out["overridden"] = sorted(m for m in HOOKED_METHODS if m in vars(ip))
    out["transformers"] = [of(f) for f in [*ip.input_transformers_cleanup,
                                           *ip.input_transformers_post, *ip.ast_transformers]
                           if _defined_in_notebook(f)]
    out["events"] = sorted(f"{event}:{of(cb)}" for event, cbs in ip.events.callbacks.items()
                           for cb in cbs if _defined_in_notebook(cb))
    return out


def _defined_in_notebook(obj) -> bool:
    # Functions, lambdas and classes written in a notebook live in its __main__ module.
    mod = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "")
    return mod == "__main__"


def compare_modules(trusted: dict, kernel: dict) -> list[str]:
    findings = []
    for name, attrs in trusted.items():
        theirs = kernel.get(name)
        if theirs is None:
            continue
        label = name.replace(":", ".")
        changed = sorted(k for k, fp in attrs.items() if k in theirs and theirs[k] != fp)
        deleted = sorted(k for k in attrs if k not in theirs)
        if changed:
            findings.append(f"{label}: {_few(changed)} replaced by the notebook")
        if deleted:
            findings.append(f"{label}: {_few(deleted)} deleted by the notebook")
    return findings


def compare_hooks(before: dict, after: dict) -> list[str]:
    findings = []
    for key in ("excepthook", "displayhook", "trace", "profile"):
        if before.get(key) != after.get(key):
            findings.append(f"sys.{key} was replaced")
    if after.get("custom_exceptions"):
        findings.append("IPython custom exception handler installed (hides errors): "
                        + _few(after["custom_exceptions"]))
    new = sorted(set(after.get("overridden", [])) - set(before.get("overridden", [])))
    if new:
        findings.append(f"IPython shell methods overridden: {_few(new)}")
    for key, what in (("transformers", "input/AST transformers"), ("events", "IPython event hooks"),
                      ("meta_path", "import hooks")):
        extra = sorted(set(after.get(key, [])) - set(before.get(key, [])))
        if extra:
            findings.append(f"{what} defined in the notebook were installed")
    return findings


def compare_names(trusted: dict, kernel: dict) -> list[str]:
    changed = sorted(k for k, fp in trusted.items() if kernel.get(k, fp) != fp)
    return [f"names defined by read-only cells were redefined: {_few(changed)}"] if changed else []


def _few(items, n=5) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
