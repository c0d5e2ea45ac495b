"""``course check``: is every generated file fresh, and does grading give what it should?

* fresh: every lesson's stamp matches its inputs and its cells match the source;
  solutions, student versions, side-by-side pages and demo submissions equal what a
  build would write now. Editing a unit source without rebuilding fails here.
* graded: the unit's fixtures (reference, untouched, realistic mistakes, an edited test
  cell, framework warnings) are autograded for real and must score exactly as
  ``fixtures.yml`` says, part by part. That covers "every solution passes all its
  tests" and "every student version fails the tests it should".
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from course.author import fixtures
from course.build.freshness import stale_files
from course.grade.coordinator import grade
from course.layout import Unit


def grade_fixtures(unit: Unit, workspace: Path | None = None, *, progress: bool = True):
    """Autograde the unit's demo submissions (its fixtures) into ``workspace``.

    Returns (GradeResult, problems): a line for every score that is not as expected.
    """
    fxs = fixtures.load(unit)
    if not fxs:
        return None, [f"{unit.slug}: no fixtures.yml: nothing proves its grading"]
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        # The grading a course really gets: sandboxed (COURSE_NO_SANDBOX=1 opts out where
        # bubblewrap cannot run), two workers at most (shared 2-core machines).
        result = grade(unit, submissions=unit.layout.demo / "submitted",
                               workspace=workspace or Path(tmp), progress=progress,
                               workers=min(2, os.cpu_count() or 1), report=False,
                               sandbox=os.environ.get("COURSE_NO_SANDBOX") != "1",
                               log=lambda line: None)
        return result, compare(unit, fxs, result.rows)


def compare(unit: Unit, fxs, rows) -> list[str]:
    by_student = {r.student: r for r in rows}
    problems = []
    for fx in fxs:
        row = by_student.get(fx.student)
        if row is None:
            problems.append(f"{fx.student}: not in the gradebook")
            continue
        want = fixtures.expected_parts(fx, fixtures.max_points(unit, fx.framework))
        if row.score != fx.total or sum(want.values()) != fx.total:
            problems.append(f"{fx.student}: scored {row.score:g}, expected {fx.total:g}")
        for gid, pts in want.items():
            got = row.parts.get(gid)
            if got != pts:
                problems.append(f"{fx.student}: part {gid} scored {got}, expected {pts:g}")
    return problems


def run_checks(units: list[Unit], *, grade: bool = True) -> bool:
    all_ok = True
    for unit in units:
        stale = stale_files(unit)
        for line in stale:
            print(f"STALE  {line}")
        if stale:
            print(f"       run `course build {unit.slug}` and commit the result")
        wrong = grade_fixtures(unit)[1] if grade and not stale else []
        for line in wrong:
            print(f"WRONG  {unit.slug}: {line}")
        ok = not stale and not wrong
        print(f"{'ok    ' if ok else 'FAILED'} {unit.slug}"
              + (" (fresh; fixtures graded as expected)" if ok and grade else ""))
        all_ok &= ok
    return all_ok
