"""The grader's agent inside a student's (sandboxed) kernel.

During grading, test cells run in the trusted checker (course/checker/runner.py). When a test
uses a name the student defined, the checker asks this agent, through a request file in
the sandbox's exchange folder, to look the name up, call it, read an attribute, iterate
it ...; the agent answers with data (course/wire.py), or with a reference for objects
that are not data (a model, a generator), on which later requests can act.

Arrays, tensors and variables are *mirrored*: one object here per object of the test,
both ways, so a student's function that keeps a reference (an optimizer holding its
parameters) or changes an argument in place behaves as in a notebook; after each call the
changed objects are written back into the test's. Callables a test passes (a lambda to
differentiate) arrive by value (cloudpickle) and run here; a test that swaps one of the
student's functions sets it here (``setglobal``); a call a test will differentiate
through is recorded, and ``backward`` returns the input gradients.

Everything here runs in the student's process and may be tampered with; that is fine:
the agent can only ever report values that the student's own code could have returned,
or change objects the test handed to the student's code, as the student's code could.
"""
from __future__ import annotations

import itertools

from course import mailbox, wire

_handles: dict = {}
_ids = itertools.count(1)
_new_ids = itertools.count(-1, -1)
# This kernel's objects shared with the checker (the test's ids are > 0, ours < 0).
_mirrors = wire.Mirrors(lambda obj: next(_new_ids))
_graphs: dict = {}        # call id -> (outputs, inputs, tape) kept for a test's backward pass
MAX_ITER = 100_000
MAX_GRAPHS = 16


def _ref(obj):
    h = next(_ids)
    _handles[h] = obj
    t = type(obj)
    return {"t": "ref", "h": h, "type": f"{t.__module__}.{t.__qualname__}",
            "callable": callable(obj)}


def _deref(node):
    t = node.get("t")
    if t == "ref":
        return _handles[int(node["h"])]
    if t == "import":
        import importlib
        obj = importlib.import_module(str(node["m"]))
        for part in str(node["q"]).split("."):
            obj = getattr(obj, part)
        return obj
    if t == "ns":
        return _user_ns()[str(node["n"])]
    if t == "pickled":
        import base64
        import cloudpickle
        return cloudpickle.loads(base64.b64decode(node["b"]))
    raise wire.WireError(f"unknown reference {t!r}")


def by_handle(h):
    """The kernel's object behind a reference the checker holds."""
    return _handles[h]


def _call_recorded(obj, args, kwargs, gid, framework):
    """Call and keep what a test needs to differentiate through the call later."""
    leaves = wire.leaves([args, kwargs])
    if framework == "tensorflow":
        import tensorflow as tf
        watched = [x for x in leaves if tf.is_tensor(x) and x.dtype.is_floating]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(watched)
            value = obj(*args, **kwargs)
        _graphs[gid] = (value, watched, tape)
    else:
        import torch
        watched = [x for x in leaves if isinstance(x, torch.Tensor) and x.requires_grad]
        value = obj(*args, **kwargs)
        _graphs[gid] = (value, watched, None)
    while len(_graphs) > MAX_GRAPHS:
        _graphs.pop(next(iter(_graphs)))
    return value


def _backward(req):
    value, watched, tape = _graphs[req["graph"]]
    grads_out = req.get("grads") or []
    outputs = list(value) if type(value) in (list, tuple) else [value]
    if tape is not None:
        grads = tape.gradient(outputs, watched, output_gradients=grads_out or None)
        return [None if g is None else g for g in grads]
    import torch
    pairs = [(o, g) for o, g in zip(outputs, grads_out)
             if isinstance(o, torch.Tensor) and o.requires_grad and g is not None]
    if not pairs or not watched:
        return [None] * len(watched)
    return list(torch.autograd.grad([o for o, _ in pairs], watched, [g for _, g in pairs],
                                    allow_unused=True))


def _structure(v):
    """Containers' shape and leaf identities: what an in-place append or update changes."""
    if type(v) is list:
        return ("list", [_structure(x) for x in v])
    if type(v) is dict:
        return ("dict", [(repr(k), _structure(x)) for k, x in v.items()])
    return id(v)


def _user_ns() -> dict:
    from IPython import get_ipython
    return get_ipython().user_ns


def _handle(req: dict):
    op = req["op"]
    if op == "lookup":
        ns = _user_ns()
        return {n: ns[n] for n in req["names"] if n in ns}
    if op == "probe":
        from course.inkernel import probe
        return {"modules": probe.modules(req.get("modules") or probe.WATCHED),
                "names": probe.namespace(_user_ns(), req.get("names", [])),
                "hooks": probe.kernel_hooks()}
    if op == "hooks":
        from course.inkernel import probe
        return probe.kernel_hooks()
    if op == "backward":
        return _backward(req)
    if op == "setglobal":
        _user_ns()[str(req["name"])] = req["value"]
        return None
    obj = req["obj"]
    if op == "call":
        args, kwargs = list(req.get("args", ())), dict(req.get("kwargs", {}))
        before = {oid: wire.digest(m) for oid, m in _mirrors.items()}
        shapes = [_structure(a) for a in args], {k: _structure(v) for k, v in kwargs.items()}
        graph = req.get("graph")
        if graph is not None:
            value = _call_recorded(obj, args, kwargs, graph, req.get("framework"))
        else:
            value = obj(*args, **kwargs)
        changed = [m for oid, m in _mirrors.items() if wire.digest(m) != before.get(oid)]
        containers = [["arg", i, a] for i, a in enumerate(args)
                      if type(a) in (list, dict) and _structure(a) != shapes[0][i]]
        containers += [["kw", k, v] for k, v in kwargs.items()
                       if type(v) in (list, dict) and _structure(v) != shapes[1][k]]
        return {"value": value, "synced": changed, "containers": containers}
    if op == "getattr":
        return getattr(obj, req["name"])
    if op == "getitem":
        return obj[req["key"]]
    if op == "iter":
        return list(itertools.islice(iter(obj), MAX_ITER))
    if op == "len":
        return len(obj)
    if op == "str":
        return str(obj)
    if op == "repr":
        return repr(obj)
    if op == "bool":
        return bool(obj)
    if op == "contains":
        return req["item"] in obj
    raise ValueError(f"unknown request {op!r}")


def serve(folder: str, req_id: str, max_bytes: int = 256 * 2**20) -> None:
    """Answer request ``req_id`` in ``folder``: one ``.res`` file, written atomically."""
    try:
        req = wire.loads(mailbox.read_request(folder, req_id), deref=_deref,
                         mirror=_mirrors.sync, max_bytes=max_bytes)
        value = _handle(req)
        reply = wire.dumps({"ok": value}, ref=_ref, track=_mirrors.track, max_bytes=max_bytes)
    except BaseException as exc:  # noqa: BLE001 - everything, SystemExit and interrupts too
        try:
            message = str(exc)[:4000]
        except BaseException:  # noqa: BLE001 - a hostile __str__
            message = "(the error message could not be read)"
        reply = wire.dumps({"error": [type(exc).__name__[:80], message]})
    mailbox.answer(folder, req_id, reply)
