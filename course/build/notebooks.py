"""``course build``: generate every notebook and page of the units from their sources.

Incremental: a lesson is re-executed only when its inputs digest (source, toolkit,
format version) differs from the one stamped in the stored notebook. Files are
written only when their bytes change, so a no-op build leaves git clean.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from course.author import source as src
from course.build.freshness import lesson_is_fresh
from course.execute import execute
from course.frameworks import FRAMEWORKS
from course.layout import Layout, Unit, all_units


@dataclass
class BuildReport:
    executed: dict = field(default_factory=dict)   # path -> RunStats
    written: list = field(default_factory=list)    # paths whose bytes changed
    skipped: list = field(default_factory=list)    # lessons already fresh
    removed: list = field(default_factory=list)    # demo folders of fixtures that are gone

    def summary(self) -> str:
        removed = f", {len(self.removed)} stale demo folder(s) removed" if self.removed else ""
        return (f"{len(self.executed)} notebook(s) executed, {len(self.written)} file(s) "
                f"written, {len(self.skipped)} lesson(s) already fresh{removed}")


def build_lessons(unit: Unit, report: BuildReport, *, force: bool = False,
                  timeout: int = 300, bar=None) -> None:
    for fw in FRAMEWORKS:
        nb = src.build_notebook(unit, "lesson", fw)
        path = unit.lesson(fw)
        if not force and lesson_is_fresh(unit, fw, nb):
            report.skipped.append(path)
        else:
            if bar is not None:
                bar.set_postfix_str(f"executing {unit.layout.rel(path)}")
            path.parent.mkdir(parents=True, exist_ok=True)
            report.executed[path] = execute(nb, path.parent, timeout=timeout,
                                            label=unit.layout.rel(path))
            if src.write_if_changed(path, src.dumps(nb)):
                report.written.append(path)
        if bar is not None:
            bar.update(1)


def build_assignments(unit: Unit, report: BuildReport) -> None:
    from course.build import sidebyside  # nbgrader is slow to import: only when needed
    from course.release.workspace import release_texts

    for fw in FRAMEWORKS:
        if src.write_if_changed(unit.solution(fw), src.dumps(src.build_notebook(unit, "assignment", fw))):
            report.written.append(unit.solution(fw))
    for path, text in release_texts(unit).items():
        if src.write_if_changed(path, text):
            report.written.append(path)
    for path, text in sidebyside.pages(unit, kinds=("assignment",)).items():
        if src.write_if_changed(path, text):
            report.written.append(path)
    from course.author import fixtures
    for path, text in fixtures.demo_texts(unit).items():
        if src.write_if_changed(path, text):
            report.written.append(path)
    for folder in fixtures.stale_demo_folders(unit):
        # a fixture removed from fixtures.yml: its old submission would still be graded
        shutil.rmtree(folder)
        if not any(folder.parent.iterdir()):
            folder.parent.rmdir()
        report.removed.append(folder)


def build(units: list[Unit] | None = None, *, force: bool = False,
          only: str | None = None, progress: bool = True) -> BuildReport:
    units = units if units is not None else all_units(Layout.default())
    report = BuildReport()
    steps = len(units) * (len(FRAMEWORKS) if only != "assignments" else 0)
    with tqdm(total=steps, desc="lessons", unit="nb", disable=not progress or not steps) as bar:
        for unit in units:
            if only in (None, "lessons"):
                build_lessons(unit, report, force=force, bar=bar)
    if only in (None, "assignments"):
        for unit in tqdm(units, desc="assignments", unit="unit", disable=not progress):
            build_assignments(unit, report)
    if only in (None, "lessons"):
        from course.build import sidebyside
        for unit in units:
            for path, text in sidebyside.pages(unit, kinds=("lesson",)).items():
                if src.write_if_changed(path, text):
                    report.written.append(path)
    return report
