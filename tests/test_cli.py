"""The `course` command as an instructor uses it (in subprocesses, on a copy of the repo)."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import LAYOUT, UNITS, copy_repo


def course(*args, root=LAYOUT.root):
    env = dict(os.environ, COURSE_ROOT=str(root), PYTHONPATH=str(LAYOUT.root))
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_help_lists_the_workflow():
    out = course("--help")
    assert out.returncode == 0
    for verb in ("build", "check", "grade", "feedback", "export", "demo", "bench", "lab"):
        assert verb in out.stdout


def test_check_reports_stale_files_and_fails(tmp_path):
    copy_repo(tmp_path)
    unit = UNITS[0].slug
    ok = course("check", unit, "--fresh-only", root=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok     {unit}" in ok.stdout
    with (tmp_path / "units" / unit / "assignment.md").open("a") as fh:
        fh.write("\nAn extra line.\n")
    stale = course("check", unit, "--fresh-only", root=tmp_path)
    assert stale.returncode == 1
    assert f"STALE  solutions/{unit}/pytorch.ipynb" in stale.stdout
    assert f"run `course build {unit}`" in stale.stdout


def test_unknown_unit_is_a_clear_error():
    out = course("check", "99-nothing")
    assert out.returncode != 0
    assert "no unit called '99-nothing'" in out.stderr and UNITS[0].slug in out.stderr
