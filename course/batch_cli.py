"""The grading verbs of the ``course`` command (wired in by course/cli.py).

    course grade UNIT [--submissions DIR | --exchange ROOT | --lms-zip ZIP]
                      [--workers N] [--dask ADDRESS|local] [--no-sandbox] [--regrade]
                      [--on-tamper flag|zero] [--cell-timeout S] [--memory-mb M]
    course grading-report UNIT          the instructor report again, from the gradebook
    course export-lms UNIT --lms canvas|moodle [--csv PATH] [--title TITLE]
    course check-sandbox                can student code be sandboxed here?
    course bench-grading                bare execution vs grading; 1, 2 workers, Dask
"""
from __future__ import annotations

import sys
from pathlib import Path

from course.cli import _workspace


def cmd_grade(args) -> int:
    from course import grading
    from course.layout import find_unit
    from course.report import format_summary
    unit = find_unit(args.unit)
    limits = {"cell_timeout": args.cell_timeout, "memory_mb": args.memory_mb}
    try:
        result = grading.grade(
            unit, submissions=Path(args.submissions) if args.submissions else None,
            workspace=_workspace(args), progress=True, workers=args.workers, dask=args.dask,
            sandbox=not args.no_sandbox, limits={k: v for k, v in limits.items() if v},
            regrade=args.regrade, on_tamper=args.on_tamper,
            exchange=Path(args.exchange) if args.exchange else None,
            lms_zip=Path(args.lms_zip) if args.lms_zip else None)
    except grading.GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(grading.format_table(result.rows))
    if result.report:
        print("\n" + format_summary(result.report["summary"]))
    batch = result.batch
    print(f"\n{len(batch.applied)} graded now, {len(batch.skipped)} already graded "
          f"({batch.executor}, {batch.seconds:.0f} s)")
    print(f"grades CSV: {result.csv}\nfeedback:   {result.feedback_dir}")
    if result.report:
        print(f"report:     {result.report['html']}")
    if result.failures:
        # Not the students' doing: the grader could not finish these; exit 1 says so.
        print(f"\n{len(result.failures)} problem(s) on the grader's side:", file=sys.stderr)
        for line in result.failures:
            print(f"  {line[:300]}", file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    from course import grading
    from course.layout import find_unit
    from course.report import format_summary, write_report
    from nbgrader.api import Gradebook
    from course.batch import Journal
    unit = find_unit(args.unit)
    ws = _workspace(args)
    rows = grading.read_grades(unit, ws)
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        Journal.ensure_table(gb.db)
        records = Journal(ws, unit.slug).latest(gb.db)
    paths = write_report(unit, ws, rows, records)
    print(format_summary(paths["summary"]))
    print(f"report: {paths['html']}")
    return 0


def cmd_export_lms(args) -> int:
    from course import grading, intake
    from course.layout import find_unit
    from course.report import export_lms
    unit = find_unit(args.unit)
    ws = _workspace(args)
    rows = grading.read_grades(unit, ws)
    out = Path(args.csv or ws / f"grades-{unit.slug}-{args.lms}.csv")
    export_lms(unit, rows, intake.load_roster(ws), args.lms, out, title=args.title)
    print(f"wrote {out} ({len(rows)} students, {args.lms} layout)")
    return 0


def cmd_check_sandbox(args) -> int:
    from course.sandbox import SandboxError, check_sandbox, memory_backend
    try:
        print(check_sandbox())
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"memory limit enforced by: {memory_backend()}")
    return 0


def cmd_bench(args) -> int:
    from course.bench_grading import run_bench
    return run_bench(per_framework=args.per_framework, dask=not args.no_dask,
                     workspace=Path(args.workspace) if args.workspace else None)


def register(subparsers) -> None:
    g = subparsers.add_parser("grade", help="autograde submissions: sandboxed, parallel, resumable")
    g.add_argument("unit", help="e.g. 01 or 01-activations")
    g.add_argument("--submissions", help="folder of <student>/<unit>/<framework>.ipynb "
                   "(default: the workspace's submitted/ folder)")
    g.add_argument("--workspace", help="nbgrader course folder (default autograder/course)")
    src = g.add_argument_group("other submission sources")
    src.add_argument("--exchange", help="nbgrader exchange root: grade its inbound submissions")
    src.add_argument("--lms-zip", help="a Canvas or Moodle submissions download (zip)")
    run = g.add_argument_group("how to grade")
    run.add_argument("--workers", type=int, default=1, help="parallel grading processes (default 1)")
    run.add_argument("--dask", metavar="ADDRESS|local",
                     help="grade on a Dask cluster (scheduler address) or a local one")
    run.add_argument("--no-sandbox", action="store_true",
                     help="run student code WITHOUT the sandbox (only for trusted submissions)")
    run.add_argument("--regrade", action="store_true",
                     help="grade again submissions an earlier run already graded")
    run.add_argument("--on-tamper", choices=["flag", "zero"], default="flag",
                     help="tampered notebooks: keep the (honest) test scores and flag them "
                          "(default), or give the notebook 0")
    run.add_argument("--cell-timeout", type=int, help="seconds per cell (else grading.toml, 300)")
    run.add_argument("--memory-mb", type=int, help="memory per notebook (else grading.toml, 4096)")
    g.set_defaults(func=cmd_grade)

    r = subparsers.add_parser("grading-report", help="instructor report of a graded unit")
    r.add_argument("unit")
    r.add_argument("--workspace")
    r.set_defaults(func=cmd_report)

    e = subparsers.add_parser("export-lms", help="grades CSV for Canvas or Moodle")
    e.add_argument("unit")
    e.add_argument("--lms", choices=["canvas", "moodle"], required=True)
    e.add_argument("--csv", help="output file (default: workspace/grades-UNIT-LMS.csv)")
    e.add_argument("--title", help="the assignment column, e.g. 'Assignment 1 (4567)' for Canvas")
    e.add_argument("--workspace")
    e.set_defaults(func=cmd_export_lms)

    c = subparsers.add_parser("check-sandbox", help="can student code be sandboxed here?")
    c.set_defaults(func=cmd_check_sandbox)

    b = subparsers.add_parser("bench-grading", help="grading time: bare vs sandboxed, workers, Dask")
    b.add_argument("--per-framework", type=int, default=20)
    b.add_argument("--no-dask", action="store_true")
    b.add_argument("--workspace", help="keep the benchmark's workspaces here")
    b.set_defaults(func=cmd_bench)
