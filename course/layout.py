"""Where things live. Each top-level folder is one stage of the pipeline:

units/NN-slug/{lesson,assignment}.md   the one source per unit (written by hand)
lessons/NN-slug/                       executed lesson notebooks + side-by-side page
solutions/NN-slug/                     nbgrader source notebooks (instructor version)
assignments/NN-slug/                   student versions (nbgrader generate_assignment)
autograder/demo/submitted/...          demo class: sample submissions (from fixtures.yml)
autograder/course/                     grading workspace (not committed)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from course.frameworks import FRAMEWORKS

# The public repository students open notebooks from (Colab badges, install cell).
GITHUB_REPO = os.environ.get("COURSE_GITHUB_REPO", "open-dl-course/open-dl-course")
GITHUB_BRANCH = "main"
PACKAGE_NAME = "open-dl-course"
NOTEBOOKS = {fw: f"{fw}.ipynb" for fw in FRAMEWORKS}
UNIT_RE = re.compile(r"^(\d\d)-[a-z0-9-]+$")


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> "Layout":
        env = os.environ.get("COURSE_ROOT")
        return cls(Path(env).resolve() if env else Path(__file__).resolve().parent.parent)

    units = property(lambda self: self.root / "units")
    lessons = property(lambda self: self.root / "lessons")
    solutions = property(lambda self: self.root / "solutions")
    assignments = property(lambda self: self.root / "assignments")
    autograder = property(lambda self: self.root / "autograder")
    demo = property(lambda self: self.root / "autograder" / "demo")
    workspace = property(lambda self: self.root / "autograder" / "course")

    def rel(self, path: Path) -> str:
        """Path relative to the repository root, with forward slashes."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()


@dataclass(frozen=True)
class Unit:
    """One unit of the course, e.g. ``01-activations``."""
    slug: str
    layout: Layout

    @property
    def number(self) -> str:
        return self.slug[:2]

    @property
    def title_slug(self) -> str:
        return self.slug[3:]

    @property
    def source_dir(self) -> Path:
        return self.layout.units / self.slug

    @property
    def lesson_source(self) -> Path:
        return self.source_dir / "lesson.md"

    @property
    def assignment_source(self) -> Path:
        return self.source_dir / "assignment.md"

    @property
    def fixtures_file(self) -> Path:
        return self.source_dir / "fixtures.yml"

    def lesson(self, framework: str) -> Path:
        return self.layout.lessons / self.slug / NOTEBOOKS[framework]

    def solution(self, framework: str) -> Path:
        return self.layout.solutions / self.slug / NOTEBOOKS[framework]

    def assignment(self, framework: str) -> Path:
        return self.layout.assignments / self.slug / NOTEBOOKS[framework]


def all_units(layout: Layout | None = None) -> list[Unit]:
    layout = layout or Layout.default()
    if not layout.units.is_dir():
        return []
    return [Unit(p.name, layout) for p in sorted(layout.units.iterdir())
            if p.is_dir() and UNIT_RE.match(p.name)]


def find_unit(name: str, layout: Layout | None = None) -> Unit:
    """Accept '01', '1', '01-activations' or 'activations'."""
    units = all_units(layout)
    key = name.strip().rstrip("/").split("/")[-1]
    for unit in units:
        if key in (unit.slug, unit.title_slug) or (key.isdigit() and int(key) == int(unit.number)):
            return unit
    known = ", ".join(u.slug for u in units) or "none"
    raise SystemExit(f"error: no unit called {name!r}. Known units: {known}.")


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/{path}"
