"""Scratch folders of grading processes: a killed run's folders and sandbox cgroups are
removed by the next run, a live run's never (ownership is a lock the process holds, not
a process id written into a name)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from course.grade import scratch
from course.grade.sandbox.box import CGROUPS_FILE


def test_a_live_runs_folder_is_kept_and_a_dead_runs_is_removed(tmp_path):
    mine = scratch.private_dir("test")
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from course.grade import scratch
        from course.grade.sandbox.box import Sandbox
        from course.grade.sandbox.limits import Limits
        path = scratch.private_dir("test")
        box = Sandbox(Limits(), path / "box")   # makes a cgroup where it may (root)
        Path({str(tmp_path / 'made')!r}).write_text(str(path))
        os._exit(0)                              # killed: nothing cleaned up
    """)
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": str(Path(scratch.__file__).parents[2])})
    dead = Path((tmp_path / "made").read_text())
    listing = dead / "box" / CGROUPS_FILE
    groups = [Path(line.split(" ", 1)[1]) for line in listing.read_text().splitlines()] \
        if listing.exists() else []
    assert dead.is_dir() and all(g.is_dir() for g in groups)
    removed = scratch.clean_stale()
    assert dead in removed and not dead.exists()
    assert not any(g.exists() for g in groups)
    assert mine.is_dir() and mine not in removed      # ours: alive, kept
    scratch.release(mine)
    assert not mine.exists()
