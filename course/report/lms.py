"""Grade files an LMS can import.

:func:`export_lms` writes a grades CSV for Canvas (its gradebook import layout:
``Student, ID, SIS User ID, SIS Login ID, Section``, a points-possible row, one column
for the unit) or Moodle (an assignment's offline grading worksheet: ``Identifier``,
``Full name``, ``Grade``, ``Maximum Grade``, ``Feedback comments``), in both cases
followed by one column per question. Names and LMS ids come from the LMS download the
submissions were taken from (course/grade/intake.py), or default to the student id.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from course.layout import Unit
from course.report.instructor import max_points, parts_of


def export_lms(unit: Unit, rows, roster: dict, lms: str, path: Path, *,
               title: str | None = None) -> Path:
    """A grades CSV for ``lms`` ('canvas' or 'moodle'), one column per question after the total."""
    parts = parts_of(rows)
    maxima = max_points(unit)
    title = title or f"Assignment {unit.slug}"
    total = max((r.max_score for r in rows), default=sum(maxima.values()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        if lms == "canvas":
            # Canvas matches a column to an assignment by a trailing "(id)": only the total's.
            base = re.sub(r"\s*\(\d+\)$", "", title)
            w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]
                       + [f"{base}: {p}" for p in parts])
            w.writerow(["    Points Possible", "", "", "", "", f"{total:g}"]
                       + [f"{maxima.get(p, 0):g}" for p in parts])
            for r in sorted(rows, key=lambda r: r.student):
                who = roster.get(r.student, {})
                w.writerow([who.get("name", r.student), who.get("lms_id", r.student), "", "", "",
                            f"{r.score:g}"] + [f"{r.parts.get(p, 0.0):g}" for p in parts])
        elif lms == "moodle":
            w.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Feedback comments"]
                       + parts)
            for r in sorted(rows, key=lambda r: r.student):
                who = roster.get(r.student, {})
                ident = f"Participant {who['lms_id']}" if who.get("lms") == "moodle" else r.student
                note = "" if r.status == "graded" else f"{r.status}: {r.reason}"[:500]
                w.writerow([ident, who.get("name", r.student), f"{r.score:g}", f"{total:g}", note]
                           + [f"{r.parts.get(p, 0.0):g}" for p in parts])
        else:
            raise ValueError(f"unknown LMS {lms!r}: use 'canvas' or 'moodle'")
    return path
