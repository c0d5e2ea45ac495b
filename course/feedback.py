"""Feedback that helps without leaking: students see each test's name, points and
failure message, never the hidden test code (nbgrader issues #917 and #1363).

nbgrader's feedback shows the autograded notebook, hidden tests and full tracebacks
included (a traceback quotes the failing test line). These preprocessors run in
``generate_feedback`` after the grades are read: hidden regions are cut from the
source, and the error output of every test cell is reduced to its message.
"""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool
from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    """Cut ``### BEGIN/END HIDDEN TESTS`` regions, leaving a one-line placeholder."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self._remove_hidden_test_region(cell):
            cell.source = (cell.source.rstrip() + "\n# (hidden tests ran here; "
                           "their messages are below)").lstrip()
        return cell, resources


class RedactTracebacks(Preprocessor):
    """Replace a test cell's traceback by the failure message our checks write."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    message = f"{out.ename}: {out.evalue}"
                    out.traceback = [message]
        return cell, resources
