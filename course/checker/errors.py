"""How failures look from the checker: the exceptions a test sees when it calls the
student's code, a cell's error output, and what a student may be told of a hidden test's
failure (its own message, never what the student's code raised or printed)."""
from __future__ import annotations

import builtins
import traceback


class StudentCodeTimeout(Exception):
    """The student's code did not return within the cell's time limit."""


class KernelNotRunning(Exception):
    """The student's kernel is not running any more (it crashed or was stopped)."""


class StudentError(Exception):
    """Base of the exceptions re-raised from the student's code under their own name."""


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


def safe_repr(value) -> str:
    try:
        return repr(value)[:10_000]
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__}>"


def error_output(exc: BaseException) -> dict:
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = ""
    lines = traceback.format_exception(exc)[-12:]
    return {"output_type": "error", "ename": name, "evalue": message,
            "traceback": [line.rstrip("\n") for line in lines]}


def student_exception(ename: str, evalue: str) -> BaseException:
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
