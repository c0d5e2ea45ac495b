"""Test helpers for assignments: compare a student's value with a reference.

They accept PyTorch tensors, TensorFlow tensors, NumPy arrays, lists and Python
numbers alike, and fail with an :class:`CheckFailed` (an ``AssertionError``) whose
message says *what* is wrong (shape, dtype, how many and which values, the kind of
error: a flipped sign, a constant factor, transposed, too large ...) and never an
expected value, not even through the size of the error (for a single number, the error
and the student's own value give the answer). ``reveal=True`` (visible tests) adds the
student's own values.
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

    The message never holds an expected value. ``reveal=False`` (hidden tests) also
    leaves out the student's own values, which the hidden inputs produced.
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
    kind = _kind_of_error(got_f, want_f, ok, rtol, atol)
    if got.ndim:
        first = tuple(int(i) for i in np.argwhere(~ok)[0])
        what = f"{int((~ok).sum())} of {ok.size} values differ (the first at index {first}); {kind}"
    else:
        what = f"it is {kind}" if kind in ("too large", "too small") else kind
    msg = f"{name} is not right: {what} (tolerance {atol:g} + {rtol:g}·|expected|)."
    if reveal:  # the student's own values only: expected values are never printed
        msg += f"\n  got: {_fmt(got_f)}"
    raise CheckFailed(_with_hint(msg, hint))


def _kind_of_error(got, want, ok, rtol, atol) -> str:
    """What kind of mismatch it is, in words that give away no expected value (not even
    through the size of the error: for a single number that would be the answer)."""
    close = lambda a, b: bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))  # noqa: E731
    if np.isnan(got).any() and not np.isnan(want).any():
        return "it holds NaN where numbers are expected"
    if got.size > 1 and close(got, -want) and not close(want, 0 * want):
        return "the sign is flipped"   # (for one number, that and its value give the answer)
    if got.size > 1:
        if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got.T, want) \
                and not close(got, got.T):
            return "it is transposed"
        if close(np.sort(got, axis=None), np.sort(want, axis=None)):
            return "the right values, in the wrong order"
        nz = np.abs(want) > atol
        if nz.sum() >= 3:
            ratio = got[nz] / want[nz]
            if np.allclose(ratio, ratio.flat[0], rtol=1e-6) and not np.isclose(ratio.flat[0], 1):
                return "every value is off by the same factor (a missing or extra scale?)"
        diff = got - want
        if got.size >= 3 and np.allclose(diff, diff.flat[0], rtol=1e-6, atol=atol) \
                and not np.isclose(diff.flat[0], 0):
            return "every value is off by the same constant"
    wrong = ~ok
    above = int((got[wrong] > want[wrong]).sum())
    if above == int(wrong.sum()):
        return "too large" if got.size == 1 else "those are too large"
    if above == 0:
        return "too small" if got.size == 1 else "those are too small"
    return "some too large, some too small"


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
