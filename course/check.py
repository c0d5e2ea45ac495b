"""Test helpers for assignments: compare a student's value with a reference.

They accept PyTorch tensors, TensorFlow tensors, NumPy arrays, lists and Python
numbers alike, and fail with an :class:`CheckFailed` (an ``AssertionError``) whose
message says *what* is wrong (shape, dtype, which values, how far off) and, with
``reveal=False`` (hidden tests), never prints the expected values themselves.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np


class CheckFailed(AssertionError):
    """A test did not pass; the message is written for the student."""


def to_numpy(value: Any, *, name: str = "value") -> np.ndarray:
    """Convert a torch / TensorFlow / NumPy / Python value to a NumPy array."""
    if value is None:
        raise CheckFailed(f"{name} is None: did the function forget to `return` its result?")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and callable(value.numpy):  # tf.Tensor / tf.Variable
        return np.asarray(value.numpy())
    try:
        return np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise CheckFailed(f"{name} should be an array or a number, got {type(value).__name__}") from exc


def _fmt(array: np.ndarray, limit: int = 8) -> str:
    flat = np.asarray(array).ravel()
    body = np.array2string(flat[:limit], precision=4, separator=", ", suppress_small=True)
    return body if flat.size <= limit else body[:-1] + ", ...]"


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message}\nHint: {hint}" if hint else message


def assert_shape(actual: Any, shape: Iterable[int], *, name: str = "result",
                 hint: str | None = None) -> None:
    """Fail unless ``actual`` has exactly ``shape``."""
    got = tuple(to_numpy(actual, name=name).shape)
    want = tuple(shape)
    if got != want:
        raise CheckFailed(_with_hint(f"{name} has shape {got}, expected {want}.", hint))


def assert_finite(actual: Any, *, name: str = "result", hint: str | None = None) -> None:
    """Fail if ``actual`` holds NaN or infinity."""
    arr = to_numpy(actual, name=name).astype(float)
    bad = ~np.isfinite(arr)
    if bad.any():
        kinds = sorted({"nan" if np.isnan(v) else "inf" for v in arr[bad].ravel()})
        raise CheckFailed(_with_hint(
            f"{name} contains {int(bad.sum())} non-finite value(s) ({', '.join(kinds)}) "
            f"out of {arr.size}.", hint))


def assert_close(actual: Any, expected: Any, *, name: str = "result", rtol: float = 1e-5,
                 atol: float = 1e-6, hint: str | None = None, reveal: bool = True) -> None:
    """Fail unless ``actual`` matches ``expected`` in shape and values (within tolerance).

    ``reveal=False`` keeps the expected values out of the message: use it in hidden
    tests, so a failure teaches without handing over the answer.
    """
    got = to_numpy(actual, name=name)
    want = to_numpy(expected, name="expected")
    if got.shape != want.shape:
        # A (n, 1) vs (n,) mix-up is the most common shape slip: say so.
        raise CheckFailed(_with_hint(
            f"{name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}.", hint))
    if not np.issubdtype(got.dtype, np.number) and got.dtype != bool:
        raise CheckFailed(f"{name} should hold numbers, got dtype {got.dtype}.")
    got_f, want_f = got.astype(np.float64), want.astype(np.float64)
    if not np.isfinite(got_f).all() and np.isfinite(want_f).all():
        assert_finite(got_f, name=name, hint=hint)
    ok = np.isclose(got_f, want_f, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return
    err = np.abs(got_f - want_f)
    err = np.where(np.isnan(err), np.inf, err)  # also right for 0-d values
    worst = np.unravel_index(int(np.argmax(np.where(ok, -1.0, err))), got.shape) if got.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if got.ndim else ""
    msg = (f"{name} is not right: {int((~ok).sum())} of {ok.size} value(s) differ; "
           f"largest error {float(err.max()):.3g}{where} (tolerance {atol:g} + {rtol:g}·|expected|).")
    if reveal:
        msg += f"\n  got:      {_fmt(got_f)}\n  expected: {_fmt(want_f)}"
    raise CheckFailed(_with_hint(msg, hint))


def assert_true(condition: bool, message: str, *, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not bool(condition):
        raise CheckFailed(_with_hint(message, hint))


def assert_scalar(actual: Any, *, name: str = "result") -> float:
    """Return ``actual`` as a Python float, failing if it is not a single number."""
    arr = to_numpy(actual, name=name)
    if arr.size != 1:
        raise CheckFailed(f"{name} should be a single number, got shape {tuple(arr.shape)}.")
    value = float(arr.reshape(()))
    if not math.isfinite(value):
        raise CheckFailed(f"{name} is {value}: expected a finite number.")
    return value


def passed(message: str = "All visible tests passed.") -> None:
    """Print a success line (on stdout: nbgrader treats stderr as failure)."""
    print("✓ " + message)
