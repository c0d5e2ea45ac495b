"""Feedback that helps without leaking: students see each test's name, points and
failure message, never the hidden test code (nbgrader issues #917 and #1363), its
inputs, or what their own code printed or raised while a hidden test ran.

nbgrader's feedback shows the autograded notebook, hidden tests and full tracebacks
included (a traceback quotes the failing test line). These preprocessors run in
``generate_feedback`` after the grades are read:

* :class:`FeedbackOutputs` puts in each test cell the student's view of its outputs that
  the trusted checker recorded (course/checker/runner.py): what a hidden test printed, or made
  the student's code print, is left out, and a hidden test's error keeps only the test's
  own message; the autograded notebook (formgrader, the instructor) keeps everything;
* :class:`HideHiddenTests` cuts the hidden regions from the source of test cells (and only
  of test cells: a student's cell that merely *mentions* the markers is the student's text);
* :class:`RedactTracebacks` reduces every test cell's error to its message;
* :class:`GradingStatus` starts a notebook that did not simply run (timed out, crashed,
  invalid) with a note saying why, from the grader's record in the notebook's metadata.

Framework warnings on stderr never cost points (course/release/config.py's IgnorePattern).
"""
from __future__ import annotations

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool

from course.author import cells

PLACEHOLDER = "# (hidden tests ran here; their messages are below)"


class FeedbackOutputs(Preprocessor):
    """A test cell's outputs as the student may see them (see the module docstring)."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        course = cell.metadata.get("course")
        if isinstance(course, dict) and "feedback_outputs" in course:
            view = course.pop("feedback_outputs")
            if cells.is_test(cell) and isinstance(view, list):
                cell.outputs = [nbformat.from_dict(o) for o in view if isinstance(o, dict)]
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    """Cut ``### BEGIN/END HIDDEN TESTS`` regions of test cells, leaving a placeholder."""

    def preprocess_cell(self, cell, resources, index):
        if not cells.is_test(cell):
            return cell, resources
        try:
            removed = self._remove_hidden_test_region(cell)
        except RuntimeError:  # unbalanced markers: show none of the cell's code
            cell.source, removed = "", True
        if removed:
            cell.source = (cell.source.rstrip() + "\n" + PLACEHOLDER).lstrip()
        return cell, resources


class RedactTracebacks(Preprocessor):
    """Replace a test cell's traceback by the failure message our checks write."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cells.is_test(cell):
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    out.traceback = [f"{out.ename}: {out.evalue}"]
        return cell, resources


# Statuses a student is told about; "tampered" goes to the instructor first.
_TOLD = {"timed out": "ran out of time", "crashed": "crashed", "invalid notebook": "could not be read"}


class GradingStatus(Preprocessor):
    """A first cell saying why grading stopped early (the grader's record of the run)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        course = nb.metadata.get("course")
        run = course.get("grading") if isinstance(course, dict) else None
        if not isinstance(run, dict) or run.get("findings") or run.get("status") not in _TOLD:
            return nb, resources
        reason = "; ".join(str(r) for r in run.get("reasons") or [])
        note = nbformat.v4.new_markdown_cell(
            f"**Grading note: your notebook {_TOLD[run['status']]}.** {reason}\n\n"
            f"Tests after that point could not use your code. Run *Kernel → Restart & Run All* "
            f"before submitting, and keep each cell within the time limit.")
        nb.cells.insert(0, note)
        return nb, resources
