"""The ``course`` command: the instructor's workflow, one verb per step.

    course build   [UNIT...]            generate lessons, solutions, assignments, pages
    course check   [UNIT...]            generated files fresh? reference = full marks, ...
    course grade   UNIT [--submissions DIR|--exchange ROOT|--lms-zip ZIP] [--workers N]
                   [--dask ADDR|local]  sandboxed, resumable autograding; CSV, feedback, report
    course feedback UNIT                 (re)write feedback for graded submissions
    course export  [UNIT...]             grades CSV from the gradebook
    course demo                          build + check + grade the demo class
    course bench                         time and memory of every notebook
    course grading-report UNIT           the instructor report of a graded unit
    course export-lms UNIT --lms canvas|moodle   grades an LMS can import
    course check-sandbox                 can student code be sandboxed on this machine?
    course bench-grading                 grading throughput: bare, sandboxed, workers, Dask
    course lab                           JupyterLab on the course
    course data    fetch|verify|list     data sets and pretrained models
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.layout import Layout, all_units, find_unit


def _units(names) -> list:
    layout = Layout.default()
    return [find_unit(n, layout) for n in names] if names else all_units(layout)


def cmd_build(args) -> int:
    from course.build import build
    report = build(_units(args.units), force=args.force, only=args.only)
    print(report.summary())
    return 0


def cmd_check(args) -> int:
    from course.checks import run_checks
    return 0 if run_checks(_units(args.units), grade=not args.fresh_only) else 1


def cmd_feedback(args) -> int:
    from course import grading
    path, failures = grading.write_feedback(find_unit(args.unit), _workspace(args))
    print(f"feedback: {path}")
    for line in failures:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if failures else 0


def cmd_export(args) -> int:
    from course import grading
    rows = []
    for unit in _units(args.units):
        rows += grading.read_grades(unit, _workspace(args))
    out = Path(args.csv)
    grading.write_csv(rows, out)
    print(grading.format_table(rows))
    print(f"\nwrote {out}")
    return 0


def cmd_demo(args) -> int:
    from course.demo import run_demo
    return run_demo()


def cmd_bench(args) -> int:
    from course.bench import run_bench
    return run_bench(_units(args.units), include=args.include)


def cmd_lab(args) -> int:
    import subprocess
    root = Layout.default().root
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={root}", *args.lab_args]
    print("starting:", " ".join(cmd))
    return subprocess.call(cmd)


def _workspace(args) -> Path:
    return Path(args.workspace) if getattr(args, "workspace", None) else Layout.default().workspace


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    b = sub.add_parser("build", help="generate notebooks and pages from unit sources")
    b.add_argument("units", nargs="*", help="units (default: all), e.g. 01 or 01-activations")
    b.add_argument("--force", action="store_true", help="re-execute lessons even if fresh")
    b.add_argument("--only", choices=["lessons", "assignments"], help="build one kind only")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser("check", help="freshness, and fixtures graded to their expected scores")
    c.add_argument("units", nargs="*")
    c.add_argument("--fresh-only", action="store_true", help="only check generated files are fresh")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("feedback", help="write feedback HTML for graded submissions")
    f.add_argument("unit")
    f.add_argument("--workspace")
    f.set_defaults(func=cmd_feedback)

    e = sub.add_parser("export", help="export grades as CSV")
    e.add_argument("units", nargs="*")
    e.add_argument("--csv", default="grades.csv")
    e.add_argument("--workspace")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="build, check and grade the demo class")
    d.set_defaults(func=cmd_demo)

    be = sub.add_parser("bench", help="execute every notebook: seconds and peak memory")
    be.add_argument("units", nargs="*")
    be.add_argument("--include", choices=["lessons", "solutions", "all"], default="all")
    be.set_defaults(func=cmd_bench)

    lab = sub.add_parser("lab", help="start JupyterLab on the course")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)

    try:
        from course.data import cli as data_cli
    except ImportError:
        data_cli = None
    if data_cli is not None and hasattr(data_cli, "register"):
        data_cli.register(sub)
    # grade (sandboxed, parallel, resumable), grading-report, export-lms, check-sandbox,
    # bench-grading: course/batch_cli.py
    from course import batch_cli
    batch_cli.register(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
