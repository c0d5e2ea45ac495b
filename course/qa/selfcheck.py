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
from dataclasses import dataclass
from pathlib import Path

from course.author import fixtures
from course.build.freshness import stale_files
from course.grade.coordinator import UnitBatch, default_workers, grade_units
from course.grade.intake import from_folder
from course.layout import Unit


@dataclass
class FixtureGrading:
    """One unit's demo class, graded: the result and every score not as expected."""
    unit: Unit
    result: object | None        # course.grade.coordinator.GradeResult (None: no fixtures)
    problems: list


def grade_all_fixtures(units: list, workspace_of, *, progress: bool = True,
                       report: bool = False, workers: int | None = None) -> dict:
    """Every unit's demo class graded as **one** batch over the machine's workers (the
    import of a framework and a worker's start are paid once, not once per unit).
    ``workspace_of(unit)`` says where each unit's gradebook goes. {slug: FixtureGrading}."""
    out, batches, fxs_of = {}, [], {}
    for unit in units:
        fxs = fxs_of[unit.slug] = fixtures.load(unit)
        if not fxs:
            out[unit.slug] = FixtureGrading(
                unit, None, [f"{unit.slug}: no fixtures.yml: nothing proves its grading"])
            continue
        batches.append(UnitBatch(unit, from_folder(unit, unit.layout.demo / "submitted"),
                                 Path(workspace_of(unit))))
    if batches:
        # The grading a course really gets: sandboxed (COURSE_NO_SANDBOX=1 opts out where
        # bubblewrap cannot run), the machine's default number of workers.
        results = grade_units(batches, progress=progress, report=report,
                              workers=workers or default_workers(),
                              sandbox=os.environ.get("COURSE_NO_SANDBOX") != "1",
                              log=lambda line: None)
        for b in batches:
            result = results[b.unit.slug]
            out[b.unit.slug] = FixtureGrading(b.unit, result, compare(
                b.unit, fxs_of[b.unit.slug], result.rows))
    return {u.slug: out[u.slug] for u in units}


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
    stale = {unit.slug: stale_files(unit) for unit in units}
    for unit in units:
        for line in stale[unit.slug]:
            print(f"STALE  {line}")
        if stale[unit.slug]:
            print(f"       run `course build {unit.slug}` and commit the result")
    fresh = [u for u in units if not stale[u.slug]]
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        graded = grade_all_fixtures(fresh, lambda u: Path(tmp) / u.slug) if grade else {}
    all_ok = True
    for unit in units:
        wrong = graded[unit.slug].problems if unit.slug in graded else []
        for line in wrong:
            print(f"WRONG  {unit.slug}: {line}")
        ok = not stale[unit.slug] and not wrong
        print(f"{'ok    ' if ok else 'FAILED'} {unit.slug}"
              + (" (fresh; fixtures graded as expected)" if ok and grade else ""))
        all_ok &= ok
    return all_ok
