"""``course demo``: the main job on the embedded demo class.

Build the course (incremental: fresh notebooks are not re-executed), check that every
generated file is fresh, autograde the demo class of sample submissions of every unit
into ``autograder/course`` as **one** batch over all cores (course/grade/coordinator.py
default_workers), and print each unit's grade
table, then one summary of all units: submissions, whether every one scored what
``fixtures.yml`` expects, and where each unit's report is.
"""
from __future__ import annotations

import time

from course.build.freshness import stale_files
from course.build.notebooks import build
from course.grade.coordinator import default_workers
from course.layout import Layout, all_units
from course.plot import table
from course.qa.selfcheck import grade_all_fixtures
from course.report.gradebook import format_table


def run_demo() -> int:
    layout = Layout.default()
    units = all_units(layout)
    print(f"== build ({len(units)} unit(s))")
    print(build(units).summary())
    print("== check: generated files fresh")
    stale = [line for unit in units for line in stale_files(unit)]
    for line in stale:
        print(f"STALE  {line}")
    if stale:
        return 1
    print("all fresh")
    workers = default_workers()
    print(f"== grade the demo class: {len(units)} units as one batch, {workers} worker(s)")
    start = time.monotonic()
    graded = grade_all_fixtures(units, lambda unit: layout.workspace, report=True,
                                workers=workers)
    minutes = (time.monotonic() - start) / 60
    summary, failed = [], False
    for unit in units:
        done = graded[unit.slug]
        failed |= bool(done.problems)
        if done.result is None:
            summary.append({"unit": unit.slug, "submissions": 0, "as expected": "no fixtures",
                            "report": "-"})
            continue
        print(f"\n-- {unit.slug}")
        print(format_table(done.result.rows))
        for line in done.problems:
            print(f"WRONG  {line}")
        for line in done.result.failures:
            print(f"GRADER {line}")
        rows = done.result.rows
        wrong = {line.split(":")[0] for line in done.problems}
        report = (done.result.report or {}).get("html")
        summary.append({"unit": unit.slug, "submissions": len(rows),
                        "as expected": f"{len(rows) - len(wrong)} / {len(rows)}"
                        + ("" if not wrong else "  DIFFERS"),
                        "report": layout.rel(report) if report else "NOT WRITTEN"})
        failed |= report is None
    print(f"\n== summary: {len(units)} units graded in {minutes:.1f} min ({workers} worker(s))")
    print(table(summary))
    print(f"\ngrades CSV: {layout.rel(layout.workspace)}/grades-<unit>.csv\n"
          f"feedback:   {layout.rel(layout.workspace / 'feedback')}/<student>/<unit>/<framework>.html")
    print("every score as expected" if not failed else "SCORES DIFFER (see WRONG above)")
    return 1 if failed else 0
