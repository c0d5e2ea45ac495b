"""The ``course`` command: the instructor's workflow, one verb per step.

    course build   [UNIT...]            generate lessons, solutions, assignments, pages
    course check   [UNIT...]            generated files fresh? reference = full marks, ...
    course grade   UNIT [--submissions DIR|--exchange ROOT|--lms-zip ZIP] [--workers N]
                   [--dask ADDR|local] [--no-sandbox] [--regrade] [--on-tamper flag|zero]
                   [--cell-timeout S] [--memory-mb M]
                                        sandboxed, resumable autograding; CSV, feedback, report
    course feedback UNIT                 (re)write feedback for graded submissions
    course export  [UNIT...]             grades CSV from the gradebook
    course demo                          build + check + grade the demo class
    course bench                         time and memory of every notebook
    course grading-report UNIT           the instructor report of a graded unit
    course export-lms UNIT --lms canvas|moodle   grades an LMS can import
    course check-sandbox                 can student code be sandboxed on this machine?
    course bench-grading                 grading throughput: bare, sandboxed, workers, Dask
    course hub     up ROSTER | down      a class on this server's JupyterHub (users, folders)
    course lab                           JupyterLab on the course
    course data    fetch|verify|list     data sets and pretrained models
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course.layout import Layout, all_units, find_unit


def _units(names) -> list:
    layout = Layout.default()
    return [find_unit(n, layout) for n in names] if names else all_units(layout)


def cmd_build(args) -> int:
    from course.build.notebooks import build
    report = build(_units(args.units), force=args.force, only=args.only)
    print(report.summary())
    return 0


def cmd_check(args) -> int:
    from course.qa.selfcheck import run_checks
    return 0 if run_checks(_units(args.units), grade=not args.fresh_only) else 1


def cmd_grade(args) -> int:
    from course.grade.coordinator import default_workers, grade
    from course.grade.records import GradingError
    from course.report.gradebook import format_table
    from course.report.instructor import format_summary
    unit = find_unit(args.unit)
    limits = {"cell_timeout": args.cell_timeout, "memory_mb": args.memory_mb}
    try:
        result = grade(
            unit, submissions=Path(args.submissions) if args.submissions else None,
            workspace=workspace_of(args), progress=True,
            workers=args.workers or default_workers(not args.no_sandbox), dask=args.dask,
            sandbox=not args.no_sandbox, limits={k: v for k, v in limits.items() if v},
            regrade=args.regrade, on_tamper=args.on_tamper,
            exchange=Path(args.exchange) if args.exchange else None,
            lms_zip=Path(args.lms_zip) if args.lms_zip else None)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result.rows))
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


def cmd_feedback(args) -> int:
    from course.report.gradebook import write_feedback
    path, failures = write_feedback(find_unit(args.unit), workspace_of(args))
    print(f"feedback: {path}")
    for line in failures:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if failures else 0


def cmd_report(args) -> int:
    from course.grade.journal import Journal
    from course.report.gradebook import read_grades
    from course.report.instructor import format_summary, write_report
    unit = find_unit(args.unit)
    ws = workspace_of(args)
    rows = read_grades(unit, ws)
    records = Journal(ws, unit.slug).latest()   # read-only: a report creates nothing
    paths = write_report(unit, ws, rows, records)
    print(format_summary(paths["summary"]))
    print(f"report: {paths['html']}")
    return 0


def cmd_export(args) -> int:
    from course.report.gradebook import format_table, read_grades, write_csv
    rows = []
    for unit in _units(args.units):
        rows += read_grades(unit, workspace_of(args))
    out = Path(args.csv)
    write_csv(rows, out)
    print(format_table(rows))
    print(f"\nwrote {out}")
    return 0


def cmd_export_lms(args) -> int:
    from course.grade import intake
    from course.report.gradebook import read_grades
    from course.report.lms import export_lms
    unit = find_unit(args.unit)
    ws = workspace_of(args)
    rows = read_grades(unit, ws)
    out = Path(args.csv or ws / f"grades-{unit.slug}-{args.lms}.csv")
    export_lms(unit, rows, intake.load_roster(ws), args.lms, out, title=args.title)
    print(f"wrote {out} ({len(rows)} students, {args.lms} layout)")
    return 0


def cmd_demo(args) -> int:
    from course.qa.demo import run_demo
    return run_demo()


def cmd_bench(args) -> int:
    from course.qa.bench import run_bench
    return run_bench(_units(args.units), include=args.include)


def cmd_bench_grading(args) -> int:
    from course.qa.bench_grading import run_bench
    return run_bench(per_framework=args.per_framework, dask=not args.no_dask,
                     workspace=Path(args.workspace) if args.workspace else None)


def cmd_check_sandbox(args) -> int:
    from course.grade.sandbox.box import SandboxError, check_sandbox, memory_backend
    try:
        print(check_sandbox())
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"memory limit enforced by: {memory_backend()}")
    return 0


def cmd_lab(args) -> int:
    import subprocess
    root = Layout.default().root
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={root}", *args.lab_args]
    print("starting:", " ".join(cmd))
    return subprocess.call(cmd)


def cmd_hub(args) -> int:
    from course.grade.records import GradingError
    from course.release import hub
    from course.release.steps import run_steps
    place = hub.Hub(Path(args.root))
    if os.geteuid() != 0 and not args.dry_run:
        print("error: `course hub` makes users and folders: run it as root (or --dry-run)",
              file=sys.stderr)
        return 2
    try:
        if args.hub_command == "up":
            import shutil
            mirror = os.environ.get("COURSE_DATA_MIRROR")
            steps = hub.plan_up(hub.read_roster(Path(args.roster)), place, Layout.default(),
                                _units(args.units),
                                mirror=Path(mirror.split(os.pathsep)[0]) if mirror else None,
                                exchange=args.exchange, port=args.port,
                                ngshare_python=args.ngshare_python or shutil.which("python3"))
        else:
            steps = hub.plan_down(place)
        run_steps(steps, dry_run=args.dry_run)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.hub_command == "up" and not args.dry_run:
        print(f"\nstart the hub: COURSE_HUB_STATE={place.state_file} jupyterhub -f "
              f"{Layout.default().root / 'deploy' / 'jupyterhub' / 'jupyterhub_config.py'}")
    return 0


def workspace_of(args) -> Path:
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

    h = sub.add_parser("hub", help="bring a class up on this server's JupyterHub, or down")
    hs = h.add_subparsers(dest="hub_command", required=True, metavar="{up,down}")
    up = hs.add_parser("up", help="users, groups, folders and permissions from a roster CSV")
    up.add_argument("roster", help="CSV: username,role[,name,email,password] (role: instructor|student)")
    up.add_argument("--units", nargs="*", default=[], help="units to prepare for release (default all)")
    up.add_argument("--exchange", choices=["filesystem", "ngshare"], default="filesystem")
    up.add_argument("--ngshare-python", help="the Python of ngshare's own environment")
    up.add_argument("--port", type=int, default=8000, help="the hub's public port (8000)")
    down = hs.add_parser("down", help="remove the users, groups and folders `up` made")
    for q in (up, down):
        q.add_argument("--root", default="/srv/open-dl-course", help="the hub's folder")
        q.add_argument("--dry-run", action="store_true", help="print what it would do")
    h.set_defaults(func=cmd_hub)

    lab = sub.add_parser("lab", help="start JupyterLab on the course")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)

    from course.data import cli as data_cli
    data_cli.register(sub)
    _grading_verbs(sub)
    return p


def _grading_verbs(subparsers) -> None:
    g = subparsers.add_parser("grade", help="autograde submissions: sandboxed, parallel, resumable")
    g.add_argument("unit", help="e.g. 01 or 01-activations")
    g.add_argument("--submissions", help="folder of <student>/<unit>/<framework>.ipynb "
                   "(default: the workspace's submitted/ folder)")
    g.add_argument("--workspace", help="nbgrader course folder (default autograder/course)")
    src = g.add_argument_group("other submission sources")
    src.add_argument("--exchange", help="nbgrader exchange root: grade its inbound submissions")
    src.add_argument("--lms-zip", help="a Canvas or Moodle submissions download (zip)")
    run = g.add_argument_group("how to grade")
    run.add_argument("--workers", type=int, default=None,
                     help="parallel grading processes (default: one per core where kernels "
                          "are forked from templates, as root; else one per two cores, as "
                          "each worker boots the next kernel on a second core)")
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
    b.set_defaults(func=cmd_bench_grading)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
