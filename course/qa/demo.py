"""``course demo``: the main job on the embedded demo class.

Build the course (incremental: fresh notebooks are not re-executed), check that every
generated file is fresh, autograde the demo class of sample submissions into
``autograder/course`` and print the grade table, whether each student scored what
``fixtures.yml`` expects, and where the CSV and feedback are.
"""
from __future__ import annotations

from course.build.freshness import stale_files
from course.build.notebooks import build
from course.layout import Layout, all_units
from course.qa.selfcheck import grade_fixtures
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
    failed = False
    for unit in units:
        print(f"== grade the demo class: {unit.slug}")
        result, problems = grade_fixtures(unit, layout.workspace)
        if result is None:
            print(problems[0])
            continue
        print(format_table(result.rows))
        for line in problems:
            print(f"WRONG  {line}")
        failed |= bool(problems)
        print(f"{'every score as expected' if not problems else 'SCORES DIFFER'}"
              f"\ngrades CSV: {layout.rel(result.csv)}\nfeedback:   "
              f"{layout.rel(result.feedback_dir)}/<student>/{unit.slug}/<framework>.html")
    return 1 if failed else 0
