"""What crosses between the student's kernel and the trusted checker (course/wire.py):
data only, bounded, never code; and mirrored arrays keep a notebook's semantics (a
function that changes its argument in place, an optimizer that keeps its parameters)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from course import wire
from course.checker.errors import student_exception as _student_exception
from course.checker.runner import _Checker
from course.inkernel import agent


def roundtrip(value):
    return wire.loads(wire.dumps(value))


def test_data_round_trips_with_types_shapes_and_dtypes():
    value = {"a": [1, 2.5, float("nan"), None, True, "s", b"\x00\x01", 3 + 4j, 2**70],
             "t": (np.float64(1.5), np.array(2.0), np.arange(6, dtype=np.int32).reshape(2, 3).T,
                   np.zeros((2, 0)), torch.tensor(1.5, dtype=torch.float64),
                   torch.ones(2, dtype=torch.bfloat16)),
             "r": range(1, 9, 2)}
    back = roundtrip(value)
    assert back["a"][:2] == [1, 2.5] and np.isnan(back["a"][2]) and back["a"][3:] == value["a"][3:]
    f64, zero_d, tr, empty, t0, bf = back["t"]
    assert type(f64) is np.float64 and zero_d.shape == () and tr.shape == (3, 2)
    assert tr.dtype == np.int32 and np.array_equal(tr, value["t"][2]) and empty.shape == (2, 0)
    assert t0.shape == () and t0.dtype == torch.float64 and bf.dtype == torch.bfloat16
    assert back["r"] == range(1, 9, 2)


def test_gradients_and_requires_grad_survive():
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    x.grad = torch.full((3,), 2.0, dtype=torch.float64)
    back = roundtrip(x)
    assert back.requires_grad and torch.equal(back.grad, x.grad)


def test_objects_that_are_not_data_do_not_cross():
    class Model:
        pass
    with pytest.raises(wire.WireError, match="cannot be sent"):
        wire.dumps(Model())
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.dumps(np.array([Model()], dtype=object))


def test_a_hostile_message_cannot_run_code_or_allocate_much():
    good = wire.dumps(np.zeros(4))
    header_len = int.from_bytes(good[len(wire.MAGIC):len(wire.MAGIC) + 8], "big")
    start = len(wire.MAGIC) + 8
    header = json.loads(good[start:start + header_len])

    def forge(h, blob=b""):
        data = json.dumps(h).encode()
        return wire.MAGIC + len(data).to_bytes(8, "big") + data + blob
    h = json.loads(json.dumps(header))
    h["v"]["a"]["dtype"] = "|O"       # object arrays would unpickle
    with pytest.raises(wire.WireError):
        wire.loads(forge(h, bytes(32)))
    h = json.loads(json.dumps(header))
    h["v"]["a"]["shape"] = [10**12]   # a huge shape over 32 bytes of data
    with pytest.raises(wire.WireError, match="size"):
        wire.loads(forge(h, bytes(32)))
    with pytest.raises(wire.WireError):
        wire.loads(forge({"v": {"t": "pickled", "b": "gASV"}, "blobs": []}))
    with pytest.raises(wire.WireError):
        wire.loads(b"\x80\x04pickle")
    nested = {"v": None, "blobs": []}
    for _ in range(100):
        nested["v"] = {"t": "list", "v": [nested["v"]]}
    with pytest.raises(wire.WireError, match="deep"):
        wire.loads(forge(nested))


def _call(checker, fn, *args):
    """One call through the wire, as course/inkernel/agent.py and course/checker/runner.py make it."""
    req = wire.dumps({"args": list(args)}, track=checker.mirrors.track)
    got = wire.loads(req, mirror=agent._mirrors.sync, deref=agent._deref)
    value = fn(*got["args"])
    changed = [m for _, m in agent._mirrors.items()]
    reply = wire.dumps({"value": value, "synced": changed}, ref=agent._ref,
                       track=agent._mirrors.track)
    return wire.loads(reply, mirror=checker.mirrors.sync, deref=checker._deref)["value"]


def test_arguments_changed_in_place_change_the_tests_objects():
    checker = _Checker.__new__(_Checker)
    checker.mirrors = wire.Mirrors(id)
    x = np.array([1.0, -2.0])
    t = torch.tensor([3.0, -4.0])

    def clip_in_place(a, b):
        a[a < 0] = 0
        b.clamp_(min=0)
        return b
    out = _call(checker, clip_in_place, x, t)
    assert x.tolist() == [1.0, 0.0] and t.tolist() == [3.0, 0.0]
    assert out is t  # the very object the test passed, as in a notebook


def test_objects_a_student_keeps_stay_the_same_objects():
    """An optimizer made in one call updates, in the next, the tensors it was given."""
    checker = _Checker.__new__(_Checker)
    checker.mirrors = wire.Mirrors(id)
    w = torch.tensor([1.0, 2.0])
    kept = {}

    def make(params):
        kept["params"] = params
        return None

    def step():
        for p in kept["params"]:
            p.sub_(1.0)
        return None
    _call(checker, make, [w])
    _call(checker, step)
    assert w.tolist() == [0.0, 1.0]


def test_student_exceptions_keep_their_names():
    assert type(_student_exception("ValueError", "bad")) is ValueError
    exc = _student_exception("CheckFailed", "no")
    assert type(exc).__name__ == "CheckFailed" and not isinstance(exc, AssertionError)
    assert type(_student_exception("KeyboardInterrupt", "")).__name__ == "StudentCodeTimeout"


def test_string_arrays_cross_but_object_arrays_never_do():
    groups = np.array(["African-American", "Caucasian", "Hispanic"])
    back = roundtrip({"g": groups, "b": np.array([b"x", b"yz"])})
    assert back["g"].dtype == groups.dtype and list(back["g"]) == list(groups)
    assert list(back["b"]) == [b"x", b"yz"]
    with pytest.raises(wire.WireError, match="cannot be sent"):
        wire.dumps(np.array(["a", 1], dtype=object))
