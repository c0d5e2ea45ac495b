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


def test_another_users_folders_are_left_alone_both_ways():
    """On a hub, instructors and root share /tmp: each cleaner removes only its own
    user's stale folders, and another user's closed folder is no error (it was once)."""
    assert os.geteuid() == 0, "this test makes folders for two users: run the suite as root"
    nobody = 65534
    theirs = Path(scratch.short_tmp()) / f"{scratch.PREFIX}test-theirs"
    theirs.mkdir(mode=0o700)
    (theirs / scratch.OWNER).touch()        # not locked: stale, but not root's
    os.chown(theirs / scratch.OWNER, nobody, nobody)
    os.chown(theirs, nobody, nobody)
    ours = Path(scratch.short_tmp()) / f"{scratch.PREFIX}test-ours"
    ours.mkdir(mode=0o700)
    (ours / scratch.OWNER).touch()          # stale and root's, closed to nobody
    try:
        as_nobody = subprocess.run(
            ["runuser", "-u", "nobody", "--", sys.executable, "-c",
             "from course.grade import scratch; print(*[p.name for p in scratch.clean_stale()])"],
            capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(scratch.__file__).parents[2])})
        assert as_nobody.returncode == 0, as_nobody.stderr
        assert "course-test-theirs" in as_nobody.stdout.split()
        assert ours.is_dir() and not theirs.exists()
        theirs.mkdir(mode=0o700)
        (theirs / scratch.OWNER).touch()
        os.chown(theirs, nobody, nobody)
        removed = scratch.clean_stale()
        assert ours in removed and theirs not in removed and theirs.is_dir()
    finally:
        for path in (theirs, ours):
            subprocess.run(["rm", "-rf", str(path)], check=True)
