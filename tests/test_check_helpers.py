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


def test_messages_never_hold_an_expected_value():
    """Visible tests show the student's own values; no message shows an expected one."""
    with pytest.raises(check.CheckFailed) as visible:
        check.assert_close([1.0, 2.5], [1.0, 2.123456], name="f(x)")
    text = str(visible.value)
    assert "f(x) is not right: 1 of 2 values differ (the first at index (1,))" in text
    assert "got: [1. , 2.5]" in text and "2.123" not in text and "0.376" not in text
    with pytest.raises(check.CheckFailed) as hidden:
        check.assert_close([1.0, 2.5], [1.0, 2.123456], name="f(x)", reveal=False,
                           hint="bias correction missing?")
    text = str(hidden.value)
    assert "2.123" not in text and "2.5" not in text and "got:" not in text
    assert "index (1,)" in text and text.endswith("Hint: bias correction missing?")


@pytest.mark.parametrize("got,want,kind", [
    ([-1.0, -2.0, 3.0], [1.0, 2.0, -3.0], "the sign is flipped"),
    ([[1.0, 3.0], [2.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], "it is transposed"),
    ([2.0, 4.0, 6.0], [1.0, 2.0, 3.0], "off by the same factor"),
    ([1.5, 2.5, 3.5], [1.0, 2.0, 3.0], "off by the same constant"),
    ([3.0, 1.0, 2.0], [1.0, 2.0, 3.0], "the right values, in the wrong order"),
    ([1.0, 2.0, 9.0], [1.0, 2.0, 3.0], "those are too large"),
], ids=["sign", "transposed", "factor", "shift", "order", "too-large"])
def test_the_kind_of_error_is_named(got, want, kind):
    with pytest.raises(check.CheckFailed, match=kind):
        check.assert_close(got, want, name="y", reveal=False)


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


def test_single_numbers_fail_without_giving_the_answer_away():
    """For one number the size of the error (or a flipped sign) and the student's own
    value would give the answer: only the direction is said."""
    for got, want, word in ((0.25, 0.5, "too small"), (-0.5, 0.5, "too small"), (0.9, 0.5, "too large")):
        with pytest.raises(check.CheckFailed) as failed:
            check.assert_close(np.float64(got), want, name="loss")
        text = str(failed.value)
        assert text.startswith(f"loss is not right: it is {word}"), text
        assert "0.5" not in text.split("got:")[0] and "0.25" not in text.split("got:")[0]
    with pytest.raises(check.CheckFailed, match="non-finite"):
        check.assert_close(float("nan"), 0.5, name="loss")
