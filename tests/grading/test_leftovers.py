"""Nothing a submission leaves behind reaches the next one graded by the same worker.

One worker (in this process) grades two PyTorch submissions of unit 01 one after the
other, with kernels started ahead (sandbox/warm.py): the first leaves a file in /tmp, an
attribute on an imported module, an environment variable and a running thread, and
looks for them itself (it finds all four: the probe works); the second, an honest
reference, runs the same probe in its kernel and finds none.
"""
from __future__ import annotations

import ast

import nbformat

from course.author import fixtures
from course.author import source as src
from course.grade import coordinator, intake
from course.layout import NOTEBOOKS, find_unit

LEAVE = '''
import os, threading, time
import numpy
open("/tmp/course-leftover.txt", "w").write("left by the previous submission")
numpy.course_leftover = "left by the previous submission"
os.environ["COURSE_LEFTOVER"] = "1"
threading.Thread(target=time.sleep, args=(3600,), name="course-leftover", daemon=False).start()
'''

PROBE = '''
import glob, os, threading
import numpy
found = []
if glob.glob("/tmp/course-leftover*"):
    found.append("file in /tmp")
if hasattr(numpy, "course_leftover"):
    found.append("module attribute")
if "COURSE_LEFTOVER" in os.environ:
    found.append("environment variable")
if any(t.name == "course-leftover" for t in threading.enumerate()):
    found.append("thread")
print("LEFTOVERS", found)
'''


def _submission(unit, student: str, code: str, folder) -> None:
    released = nbformat.read(unit.assignment("pytorch"), as_version=4)
    nb = fixtures.make_submission(
        unit, fixtures.Fixture(student=student, framework="pytorch", base="reference"), released)
    nb.cells.append(nbformat.v4.new_code_cell(code))   # a cell of the student's own
    path = folder / student / unit.slug / NOTEBOOKS["pytorch"]
    path.parent.mkdir(parents=True)
    path.write_text(src.dumps(nb))


def _found(workspace, unit, student: str) -> list:
    nb = nbformat.read(workspace / "autograded" / student / unit.slug / "pytorch.ipynb", 4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    line = next(line for line in printed.splitlines() if line.startswith("LEFTOVERS "))
    return ast.literal_eval(line.removeprefix("LEFTOVERS "))


def test_an_honest_submission_finds_nothing_the_previous_one_left(tmp_path):
    unit = find_unit("01")
    folder, ws = tmp_path / "subs", tmp_path / "ws"
    # graded in name order, by one worker: the hostile one first
    _submission(unit, "a-leaves-state", LEAVE + PROBE, folder)
    _submission(unit, "b-looks-for-it", PROBE, folder)
    subs = intake.from_folder(unit, folder)
    assert [s.student for s in subs] == ["a-leaves-state", "b-looks-for-it"]
    done = coordinator.grade_batch(unit, subs, ws, workers=1, warm_kernels=True,
                                   progress=False, log=lambda line: None)
    records = {r["student"]: r for r in done.applied}
    assert [r["student"] for r in done.applied] == ["a-leaves-state", "b-looks-for-it"]
    assert {s: (r["status"], r["score"]) for s, r in records.items()} == {
        "a-leaves-state": ("graded", 20.0), "b-looks-for-it": ("graded", 20.0)}
    assert _found(ws, unit, "a-leaves-state") == [
        "file in /tmp", "module attribute", "environment variable", "thread"]
    assert _found(ws, unit, "b-looks-for-it") == []
    # the honest one ran in the kernel started ahead while the hostile one was graded
    autograded = nbformat.read(ws / "autograded" / "b-looks-for-it" / unit.slug / "pytorch.ipynb", 4)
    assert autograded.metadata["course"]["grading"]["warm_kernel"] is True
