"""The toolkit's folders are the pipeline and the trust boundary; these rules keep them so.

* no import cycle among ``course`` modules (imports inside functions included);
* no module imports another module's private (``_name``) name;
* the notebook API (what lessons and assignments import) reaches nothing of the
  instructor's or the grader's layers;
* the code that runs inside the student's kernel, and the trusted checker, load none of
  nbgrader, nbclient, jupyter_client, sqlalchemy or distributed;
* no module over 400 lines;
* one list of frameworks, one alias table, one place that quiets TensorFlow.

Each rule is also shown to fail on a tree where it is broken.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import architecture as A

NOTEBOOK_API = ("course", "course.runtime", "course.check", "course.plot", "course.frameworks")
NOTEBOOK_PACKAGES = ("course.data", "course.zoo")
HEAVY = ("nbgrader", "nbclient", "jupyter_client", "sqlalchemy", "distributed")
MAX_LINES = 400


def notebook_api(mods) -> list[str]:
    return [n for n in mods if n in NOTEBOOK_API
            or any(n == p or n.startswith(p + ".") for p in NOTEBOOK_PACKAGES)]


def broken_rules(root: Path = A.ROOT) -> dict[str, list]:
    mods = A.modules(root)
    api = set(notebook_api(mods))
    reached = set().union(*(A.reachable(mods, n) for n in api))
    return {
        "cycles": A.cycles(A.graph(mods)),
        "private names": sorted((m.name, f"{t}.{n}") for m in mods.values() for t, n in m.private_uses),
        "notebook API reaches": sorted(reached - api),
        "over 400 lines": sorted((m.name, m.lines) for m in mods.values() if m.lines > MAX_LINES),
    }


def test_the_tree_keeps_every_rule():
    assert broken_rules() == {"cycles": [], "private names": [], "notebook API reaches": [],
                              "over 400 lines": []}


@pytest.fixture()
def tree(tmp_path):
    shutil.copytree(A.ROOT, tmp_path / "course", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "course"


def test_a_planted_cycle_is_caught(tree):
    """frameworks.py importing the coordinator closes a loop (the coordinator reaches
    frameworks.py through layout.py), even inside a function."""
    with (tree / "frameworks.py").open("a") as fh:
        fh.write("\n\ndef _late():\n    from course.grade import coordinator  # noqa: F401\n")
    broken = broken_rules(tree)
    assert any({"course.frameworks", "course.grade.coordinator"} <= set(c) for c in broken["cycles"])
    assert "course.grade.coordinator" in broken["notebook API reaches"]


def test_a_private_import_and_a_long_module_are_caught(tree):
    with (tree / "grade" / "journal.py").open("a") as fh:
        fh.write("\nfrom course.grade.scratch import _held  # noqa: E402,F401\n" + "#\n" * 400)
    broken = broken_rules(tree)
    assert ("course.grade.journal", "course.grade.scratch._held") in broken["private names"]
    assert any(name == "course.grade.journal" for name, _ in broken["over 400 lines"])


@pytest.mark.parametrize("module", ["course.inkernel.agent", "course.inkernel.probe",
                                    "course.checker.runner"])
def test_kernel_side_and_checker_load_no_grading_stack(module):
    """Measured in a fresh interpreter: what importing it really loads."""
    code = (f"import sys, {module}\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(A.ROOT.parent)}, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_checkers_import_path_is_the_trusted_one():
    """Statically too: nothing the checker or the agent imports is grader code."""
    mods = A.modules()
    for start in ("course.checker.runner", "course.inkernel.agent"):
        reached = A.reachable(mods, start)
        assert not {n for n in reached if n.startswith(("course.grade", "course.report",
                                                         "course.release", "course.qa"))}, start
        assert not set().union(*(mods[n].externals for n in reached)) & set(HEAVY), start


def _literal_hits(pattern: str) -> list[str]:
    hits = []
    for path in sorted(A.ROOT.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line) and not line.lstrip().startswith("#"):
                hits.append(f"{path.relative_to(A.ROOT.parent)}:{number}")
    return hits


def test_frameworks_aliases_and_tensorflow_quieting_are_defined_once():
    where = "course/frameworks.py"
    for pattern in (r"TF_CPP_MIN_LOG_LEVEL", r"TF_ENABLE_ONEDNN_OPTS",
                    r"\(\s*\"pytorch\",\s*\"tensorflow\"\s*\)",      # the list
                    r"\"torch\"\s*:\s*\"", r"\"keras\"\s*:\s*\"",           # an alias table
                    r"\"torch\",\s*\"p", r"\"tf\",\s*\"keras\""):
        hits = _literal_hits(pattern)
        assert all(h.startswith(where) for h in hits), (pattern, hits)
    for pattern in (r"TF_CPP_MIN_LOG_LEVEL", r"\"torch\"\s*:\s*\"pytorch\""):
        assert _literal_hits(pattern), pattern  # ... and defined there
