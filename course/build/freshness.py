"""Is every generated file fresh? A lesson is when the inputs digest stamped in it equals
its inputs' now (course/author/inputs.py) and its cells equal the source's; solutions,
student versions, side-by-side pages and demo submissions are when they equal what a
build would write now. Editing a unit source without rebuilding is caught here."""
from __future__ import annotations

import nbformat

from course.author import fixtures
from course.author import source as src
from course.frameworks import FRAMEWORKS
from course.layout import Unit


def _same_cells(a, b) -> bool:
    """Equal up to outputs: the cells a build would produce, ignoring execution."""
    def key(nb):
        return [(c.cell_type, c.source, c.get("id"),
                 {k: v for k, v in c.metadata.items() if k not in ("execution",)})
                for c in nb.cells]
    return key(a) == key(b)


def lesson_is_fresh(unit: Unit, framework: str, fresh=None) -> bool:
    path = unit.lesson(framework)
    if not path.exists():
        return False
    stored = nbformat.read(path, as_version=4)
    fresh = fresh or src.build_notebook(unit, "lesson", framework)
    stamp = stored.metadata.get("course", {}).get("inputs_sha256")
    return stamp == fresh.metadata["course"]["inputs_sha256"] and _same_cells(stored, fresh)


def stale_files(unit: Unit) -> list[str]:
    """Generated files of ``unit`` that a build would change (relative paths, with why)."""
    layout = unit.layout
    problems = []
    for fw in FRAMEWORKS:
        if not lesson_is_fresh(unit, fw):
            problems.append(f"{layout.rel(unit.lesson(fw))}: stale (source or toolkit changed)")
        expected = src.dumps(src.build_notebook(unit, "assignment", fw))
        path = unit.solution(fw)
        if not path.exists() or path.read_text() != expected:
            problems.append(f"{layout.rel(path)}: differs from a fresh build")
    generated = {}
    from course.build import sidebyside
    from course.release.workspace import release_texts
    generated.update(release_texts(unit))
    # Pages and demo submissions are built from the *committed* notebooks: only compare
    # them once those are fresh, or every error would be reported three times.
    if not problems:
        generated.update(sidebyside.pages(unit))
        generated.update(fixtures.demo_texts(unit))
    for path, text in generated.items():
        if not path.exists() or path.read_text() != text:
            problems.append(f"{layout.rel(path)}: differs from a fresh build")
    for folder in fixtures.stale_demo_folders(unit):
        problems.append(f"{layout.rel(folder)}: no fixture writes it any more (course build removes it)")
    return problems
