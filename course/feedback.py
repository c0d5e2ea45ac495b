"""Feedback that helps without leaking: students see each test's name, points and
failure message, never the hidden test code (nbgrader issues #917 and #1363).

nbgrader's feedback shows the autograded notebook, hidden tests and full tracebacks
included (a traceback quotes the failing test line). These preprocessors run in
``generate_feedback`` after the grades are read: hidden regions are cut from the
source, the error output of every test cell is reduced to its message, and a notebook
that did not simply run (timed out, crashed, invalid) starts with a note saying why.
Framework warnings on stderr never cost points (course/grading.py's IgnorePattern).
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


# Statuses a student is told about; "tampered" goes to the instructor first.
_TOLD = {"timed out": "ran out of time", "crashed": "crashed", "invalid notebook": "could not be read"}


class GradingStatus(Preprocessor):
    """A first cell saying why grading stopped early, from the grading journal."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        import sqlite3
        from course.batch import JOURNAL_TABLE
        nbg = resources.get("nbgrader", {})
        db = str(nbg.get("db_url", "")).replace("sqlite:///", "", 1)
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                row = con.execute(f"SELECT status, record FROM {JOURNAL_TABLE} WHERE unit = ? AND "
                                  f"student = ? ORDER BY applied_at DESC, rowid DESC LIMIT 1",
                                  (nbg.get("assignment"), nbg.get("student"))).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return nb, resources
        if not row or row[0] not in _TOLD:
            return nb, resources
        import json
        import nbformat
        entry = json.loads(row[1]).get("notebooks", {}).get(f"{nbg.get('notebook')}.ipynb", {})
        if entry.get("status") not in _TOLD:
            return nb, resources
        reason = entry.get("reason") or ""
        note = nbformat.v4.new_markdown_cell(
            f"**Grading note: your notebook {_TOLD[entry['status']]}.** {reason}\n\n"
            f"Tests after that point could not use your code. Run *Kernel → Restart & Run All* "
            f"before submitting, and keep each cell within the time limit.")
        nb.cells.insert(0, note)
        return nb, resources
