"""The assignment test helpers: any framework's values in, student-readable failures out."""
from __future__ import annotations

import numpy as np
import pytest

from course import check


def frameworks_values(values):
    import tensorflow as tf
    import torch
    return [np.asarray(values), torch.tensor(values), tf.constant(values), list(values)]


@pytest.mark.parametrize("kind", range(4), ids=["numpy", "torch", "tensorflow", "list"])
def test_accepts_every_framework(kind):
    value = frameworks_values([1.0, 2.0, 3.0])[kind]
    check.assert_close(value, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(check.to_numpy(value), [1.0, 2.0, 3.0])


def test_torch_tensor_with_grad_is_accepted():
    import torch
    x = torch.ones(3, requires_grad=True) * 2
    check.assert_close(x, [2.0, 2.0, 2.0])


def test_mismatch_message_reveals_only_when_asked():
    with pytest.raises(check.CheckFailed) as visible:
        check.assert_close([1.0, 2.5], [1.0, 2.0], name="f(x)")
    assert "f(x) is not right: 1 of 2 value(s) differ" in str(visible.value)
    assert "expected: [1., 2.]" in str(visible.value)
    with pytest.raises(check.CheckFailed) as hidden:
        check.assert_close([1.0, 2.5], [1.0, 2.123456], name="f(x)", reveal=False,
                           hint="bias correction missing?")
    text = str(hidden.value)
    assert "2.123" not in text and "expected:" not in text
    assert "index (1,)" in text and text.endswith("Hint: bias correction missing?")


def test_shape_mistakes_are_named():
    with pytest.raises(check.CheckFailed, match=r"shape \(3, 1\), expected \(3,\)"):
        check.assert_close(np.zeros((3, 1)), np.zeros(3), name="y")
    with pytest.raises(check.CheckFailed, match=r"has shape \(2,\), expected \(3,\)"):
        check.assert_shape([1, 2], (3,))


def test_nan_is_reported_as_nan():
    with pytest.raises(check.CheckFailed, match=r"1 non-finite value\(s\) \(nan\)"):
        check.assert_close([np.nan, 1.0], [0.5, 1.0], name="softmax")


def test_none_means_a_missing_return():
    with pytest.raises(check.CheckFailed, match="forget to `return`"):
        check.assert_close(None, [1.0])


def test_scalar_and_true():
    assert check.assert_scalar(np.array([[2.5]])) == 2.5
    with pytest.raises(check.CheckFailed, match="single number"):
        check.assert_scalar([1.0, 2.0], name="loss")
    with pytest.raises(check.CheckFailed, match="nope"):
        check.assert_true(False, "nope")


def test_failures_are_assertion_errors():
    # nbgrader and plain `assert`-style tests both treat them as failures.
    assert issubclass(check.CheckFailed, AssertionError)


def test_single_numbers_fail_with_a_message():
    with pytest.raises(check.CheckFailed, match=r"loss is not right: 1 of 1 value\(s\) differ"):
        check.assert_close(np.float64(0.25), 0.5, name="loss")
    with pytest.raises(check.CheckFailed, match="non-finite"):
        check.assert_close(float("nan"), 0.5, name="loss")
