"""Grade: the grader, trusted code on the instructor's side.

Submissions are taken in (``intake``), checked (``integrity``, ``sanitize``), run in a
sandboxed kernel (``sandbox/``, ``autograde``) with their tests in the trusted checker
(``checkers`` starts it; the process itself is ``course.checker``), graded in parallel or
on Dask (``worker``, ``executors``, ``coordinator``) and applied once each to the
gradebook (``apply``, ``journal``). Nothing here ever runs inside a student's kernel:
that code is ``course.inkernel``."""
