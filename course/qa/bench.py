"""``course bench``: execute every notebook and print seconds and peak memory.

Lessons run as committed (from a copy, so nothing in the repository changes);
assignments run as their instructor version (``solutions/``), hidden tests included,
which is the heaviest a graded submission gets. Budgets: 60 s and 1.5 GiB each.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from course.execute import execute
from course.layout import Unit
from course.plot import table
from course.frameworks import FRAMEWORKS

BUDGET_SECONDS = 60.0
BUDGET_MIB = 1536.0


def notebooks(units: list[Unit], include: str = "all") -> list[Path]:
    paths = []
    for unit in units:
        for fw in FRAMEWORKS:
            if include in ("all", "lessons"):
                paths.append(unit.lesson(fw))
            if include in ("all", "solutions"):
                paths.append(unit.solution(fw))
    return [p for p in paths if p.exists()]


def measure(paths: list[Path], root: Path, *, progress: bool = True) -> list[dict]:
    rows = []
    for path in tqdm(paths, desc="bench", unit="nb", disable=not progress):
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
            # Run beside a copy of the notebook's folder: relative paths keep working.
            work = Path(tmp) / path.parent.name
            shutil.copytree(path.parent, work)
            stats = execute(nb, work, label=str(path))
        rows.append({"notebook": path.relative_to(root).as_posix(),
                     "seconds": round(stats.seconds, 1),
                     "peak RSS MiB": round(stats.peak_rss_mib),
                     "within budget": "yes" if stats.seconds <= BUDGET_SECONDS
                     and stats.peak_rss_mib <= BUDGET_MIB else "NO"})
    return rows


def run_bench(units: list[Unit], include: str = "all") -> int:
    if not units:
        print("no units")
        return 1
    root = units[0].layout.root
    rows = measure(notebooks(units, include), root)
    total = sum(r["seconds"] for r in rows)
    print(table(rows + [{"notebook": "total", "seconds": round(total, 1),
                         "peak RSS MiB": max(r["peak RSS MiB"] for r in rows),
                         "within budget": ""}], floatfmt=".1f"))
    print(f"\nbudget per notebook: {BUDGET_SECONDS:.0f} s, {BUDGET_MIB:.0f} MiB")
    return 0 if all(r["within budget"] == "yes" for r in rows) else 1
