"""The one-source format: framework split, substitutions, grading marks, clear errors."""
from __future__ import annotations

import shutil
import textwrap

import pytest

from course.author import source as src
from course.layout import Layout, Unit

HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        format_name: myst
    kernelspec:
      name: python3
      display_name: Python 3
    ---
    """)


def make_unit(tmp_path, body: str, kind: str = "assignment") -> Unit:
    layout = Layout(tmp_path)
    unit = Unit("99-demo", layout)
    unit.source_dir.mkdir(parents=True)
    shutil.copytree(Layout.default().root / "course", tmp_path / "course")
    path = unit.assignment_source if kind == "assignment" else unit.lesson_source
    path.write_text(HEADER + textwrap.dedent(body))
    return unit


BODY = """
# Title in {{framework}}

```{code-cell} ipython3
import course
from course import check
env = course.setup("{{fw}}")
```

```{code-cell} ipython3
:framework: pytorch
import torch
```

```{code-cell} ipython3
:framework: tensorflow
import tensorflow as tf
```

+++ {"framework": "tensorflow"}

Only in TensorFlow.

+++

```{code-cell} ipython3
:grade: solution
:grade_id: answer
def f():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
```

```{code-cell} ipython3
:grade: tests
:grade_id: test_answer
:points: 3
assert f() == 1
```
"""


def sources(nb):
    return [c.source for c in nb.cells[2:]]  # skip the generated header and install cells


def test_split_per_framework_and_substitute(tmp_path):
    unit = make_unit(tmp_path, BODY)
    pt = src.build_notebook(unit, "assignment", "pytorch")
    tf = src.build_notebook(unit, "assignment", "tensorflow")
    assert sources(pt)[0] == "# Title in PyTorch"
    assert sources(tf)[0] == "# Title in TensorFlow"
    assert 'course.setup("pytorch")' in sources(pt)[1]
    assert "import torch" in sources(pt) and "import torch" not in sources(tf)
    assert "Only in TensorFlow." in sources(tf) and "Only in TensorFlow." not in sources(pt)
    assert len(pt.cells) == len(tf.cells) - 1


def test_grading_marks_become_nbgrader_metadata(tmp_path):
    nb = src.build_notebook(make_unit(tmp_path, BODY), "assignment", "pytorch")
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
            for c in nb.cells if "nbgrader" in c.metadata}
    assert meta["answer"]["solution"] and not meta["answer"]["grade"]
    assert meta["test_answer"] == {"grade_id": "test_answer", "schema_version": 3, "task": False,
                                   "solution": False, "grade": True, "locked": True, "points": 3}
    assert all("framework" not in c.metadata and "grade" not in c.metadata for c in nb.cells)


def test_generated_notebook_says_it_is_generated(tmp_path):
    unit = make_unit(tmp_path, BODY)
    nb = src.build_notebook(unit, "assignment", "tensorflow")
    assert "Generated file: do not edit" in nb.cells[0].source
    assert "units/99-demo/assignment.md" in nb.cells[0].source
    assert "colab.research.google.com" in nb.cells[0].source
    assert nb.metadata["course"]["generated_from"] == "units/99-demo/assignment.md"
    assert "find_spec(\"course\")" in nb.cells[1].source


def test_digest_follows_source_and_toolkit(tmp_path):
    unit = make_unit(tmp_path, BODY)
    before = src.inputs_digest(unit, "assignment", "pytorch")
    assert before != src.inputs_digest(unit, "assignment", "tensorflow")
    (tmp_path / "course" / "check.py").write_text("# changed\n")  # assignments import it
    assert src.inputs_digest(unit, "assignment", "pytorch") != before


def test_digest_follows_exactly_the_modules_a_notebook_imports(tmp_path):
    """Every course module a notebook imports, recursively (its package's __init__ and
    what that imports too), and nothing else: the grader is no notebook's input."""
    from course.author.inputs import toolkit_files
    root = Layout.default().root
    files = {p.relative_to(root).as_posix() for p in toolkit_files(root, [
        "import course\nfrom course import check", "import course.data as cd"])}
    assert {"course/__init__.py", "course/runtime.py", "course/frameworks.py", "course/check.py",
            "course/data/__init__.py", "course/data/loaders.py", "course/data/images.py",
            "course/data/registry.py"} <= files
    assert not any(f.startswith(("course/grade/", "course/checker/", "course/report/",
                                 "course/release/", "course/qa/")) for f in files), files
    unit = make_unit(tmp_path, BODY)
    before = src.inputs_digest(unit, "assignment", "pytorch")
    (tmp_path / "course" / "grade" / "worker.py").write_text("# changed\n")
    assert src.inputs_digest(unit, "assignment", "pytorch") == before


@pytest.mark.parametrize("cell, message", [
    (":grade: solution\n:grade_id: a\nx = 1", "BEGIN SOLUTION"),
    (":grade: tests\n:grade_id: t\nassert True", "points"),
    (":grade: tests\n:points: 2\nassert True", "grade_id"),
    (":grade: bogus\n:grade_id: t\nx = 1", "solution, tests, readonly or answer"),
    (":framework: jax\nx = 1", "unknown framework"),
    (":points: 2\nx = 1", "no :grade:"),
])
def test_mistakes_in_marks_are_clear_errors(tmp_path, cell, message):
    unit = make_unit(tmp_path, f"```{{code-cell}} ipython3\n{cell}\n```\n")
    with pytest.raises(src.SourceError, match=message) as err:
        src.build_notebook(unit, "assignment", "pytorch")
    assert "assignment.md" in str(err.value)


def test_duplicate_grade_ids_are_refused(tmp_path):
    cell = "```{code-cell} ipython3\n:grade: tests\n:grade_id: t\n:points: 1\nassert True\n```\n\n"
    unit = make_unit(tmp_path, cell + cell)
    with pytest.raises(src.SourceError, match="appears twice"):
        src.build_notebook(unit, "assignment", "pytorch")


def test_lessons_cannot_be_graded(tmp_path):
    unit = make_unit(tmp_path, BODY, kind="lesson")
    with pytest.raises(src.SourceError, match="lessons cannot have graded cells"):
        src.build_notebook(unit, "lesson", "pytorch")


def test_missing_source_is_a_clear_error(tmp_path):
    unit = make_unit(tmp_path, BODY)
    with pytest.raises(src.SourceError, match="not found"):
        src.build_notebook(unit, "lesson", "pytorch")
