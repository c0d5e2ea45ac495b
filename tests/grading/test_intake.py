"""Taking submissions in (course/grade/intake.py): nbgrader's folder layout, the exchange, and
Canvas and Moodle downloads, with wrong names reported and zip member names never used
as paths."""
from __future__ import annotations

import json
import zipfile

import pytest

from course.grade import intake, records
from course.layout import NOTEBOOKS


def nb_bytes(unit01, fw="pytorch") -> bytes:
    return unit01.assignment(fw).read_bytes()


def test_folder_layout_and_wrong_names(unit01, tmp_path):
    good = tmp_path / "alice" / unit01.slug
    good.mkdir(parents=True)
    (good / "pytorch.ipynb").write_bytes(nb_bytes(unit01))
    (good / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC")
    bad = tmp_path / "bob" / unit01.slug
    bad.mkdir(parents=True)
    (bad / "Copy of pytorch.ipynb").write_bytes(nb_bytes(unit01))
    (tmp_path / "carol" / "02-other").mkdir(parents=True)  # another unit: not this one's
    (good / "numpy.py").write_text("raise SystemExit('planted')")
    (good / "helpers").mkdir()
    (good / "helpers" / "util.py").write_text("")
    subs = {s.student: s for s in intake.from_folder(unit01, tmp_path)}
    assert set(subs) == {"alice", "bob"}
    assert list(subs["alice"].files) == ["pytorch.ipynb"] and subs["alice"].timestamp.startswith("2026")
    # other files are never taken, only named (the timestamp is nbgrader's own)
    assert subs["alice"].notes == ["not graded (only the assignment's notebooks are): "
                                   "helpers/util.py, numpy.py"]
    assert subs["bob"].files == {} and "Copy of pytorch.ipynb was not graded" in subs["bob"].notes[0]
    with pytest.raises(records.GradingError, match="does not exist"):
        intake.from_folder(unit01, tmp_path / "nope")


def test_exchange_takes_each_students_latest(unit01, tmp_path):
    inbound = tmp_path / "open-dl-course" / "inbound"
    for stamp, fw in (("2026-11-20 10:00:00.000000 UTC", "pytorch"),
                      ("2026-11-21 09:00:00.000000 UTC", "tensorflow")):
        d = inbound / f"alice+{unit01.slug}+{stamp}+abc{fw[:2]}"
        d.mkdir(parents=True)
        (d / NOTEBOOKS[fw]).write_bytes(nb_bytes(unit01, fw))
        (d / "timestamp.txt").write_text(stamp)
        (d / "yaml.py").write_text("raise SystemExit('planted')")
    (inbound / "bob+00-other+2026-11-21 09:00:00.000000 UTC+x").mkdir()
    subs = intake.from_exchange(unit01, tmp_path)
    assert [s.student for s in subs] == ["alice"]
    assert list(subs[0].files) == ["tensorflow.ipynb"] and subs[0].timestamp.startswith("2026-11-21")
    assert subs[0].notes == ["not graded (only the assignment's notebooks are): yaml.py"]


def test_canvas_and_moodle_downloads(unit01, tmp_path):
    data = nb_bytes(unit01)
    tf_data = nb_bytes(unit01, "tensorflow")
    zpath = tmp_path / "submissions.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("doejane_12345_67890_pytorch.ipynb", data)
        zf.writestr("doejane_12345_67891_pytorch-1.ipynb", data)            # a resubmission
        zf.writestr("roejohn_LATE_222_333_Untitled.ipynb", tf_data)         # named by Colab
        zf.writestr("smithann_444_555_notes.txt", b"not a notebook")
        zf.writestr("Mary Major_9876_assignsubmission_file_/Copy of TensorFlow (2).ipynb", tf_data)
        zf.writestr("../../escape_1_2_pytorch.ipynb", data)                # zip-slip attempt
        zf.writestr("random.ipynb", data)
    dest = tmp_path / "intake"
    subs, roster, skipped = intake.from_lms_zip(unit01, zpath, dest)
    by = {s.student: s for s in subs}
    assert set(by) == {"canvas-12345", "canvas-222", "canvas-444", "moodle-9876", "canvas-1"}
    assert list(by["canvas-12345"].files) == ["pytorch.ipynb"]
    assert "replaced by the later pytorch-1.ipynb" in by["canvas-12345"].notes[0]
    assert list(by["canvas-222"].files) == ["tensorflow.ipynb"]        # from its metadata
    assert by["canvas-444"].files == {} and "not a notebook" in by["canvas-444"].notes[0]
    assert list(by["moodle-9876"].files) == ["tensorflow.ipynb"]
    assert roster["moodle-9876"] == {"name": "Mary Major", "lms": "moodle", "lms_id": "9876"}
    assert roster["canvas-12345"]["name"] == "doejane"
    assert any("random.ipynb" in line for line in skipped)
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert all(p.split("/")[1] == unit01.slug and p.endswith(tuple(NOTEBOOKS.values()))
               for p in written)
    assert not (tmp_path.parent / "escape_1_2_pytorch.ipynb").exists()
    assert not any(p.name.startswith("escape") for p in tmp_path.rglob("*"))


def test_framework_from_name_or_content():
    assert intake.framework_of("Copy of pytorch (3).ipynb") == "pytorch"
    assert intake.framework_of("assignment1_tf-2.ipynb") == "tensorflow"
    assert intake.framework_of("torch_and_keras.ipynb") is None          # ambiguous
    meta = json.dumps({"metadata": {"course": {"framework": "tensorflow"}}}).encode()
    assert intake.framework_of("Untitled3.ipynb", meta) == "tensorflow"


def test_oversized_members_are_skipped(unit01, tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 1000)
    zpath = tmp_path / "big.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doejane_1_2_pytorch.ipynb", b" " * 10**6)   # compresses to ~1 KB
    subs, _, skipped = intake.from_lms_zip(unit01, zpath, tmp_path / "intake")
    assert subs == [] and "larger than" in skipped[0]
