"""Private scratch folders of a grading process, and cleaning up after a killed run.

Each folder holds an ``.owner`` file its process keeps locked (``flock``) for as long as
the folder is in use; the lock goes with the process, however it ends. A cleaner that can
take the lock knows the owner is gone: it removes the sandbox cgroups the folder lists,
then the folder. No process id is written into a name or parsed back out of one.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "course-"
OWNER = ".owner"
_held: dict = {}   # folder -> its locked owner file


def short_tmp() -> str:
    """Where scratch folders go. IPC socket paths must stay under ~100 characters: /tmp."""
    return "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()


def private_dir(kind: str) -> Path:
    """A new folder only this process uses (mode 0700), held until :func:`release`."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=short_tmp()))
    fh = (path / OWNER).open("w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    _held[path] = fh
    return path


def release(path: Path) -> None:
    """Remove a folder made by :func:`private_dir` (and let go of its lock)."""
    shutil.rmtree(path, ignore_errors=True)
    fh = _held.pop(Path(path), None)
    if fh is not None:
        fh.close()


def clean_stale() -> list[Path]:
    """Folders (and their sandboxes' cgroups) left by grading processes that are gone."""
    from course.grade.sandbox.box import CGROUPS_FILE
    from course.grade.sandbox.cgroups import remove_groups
    removed = []
    for path in sorted(Path(short_tmp()).glob(f"{PREFIX}*")):
        if path in _held or not _ours(path):
            continue
        with _unheld(path) as free:
            if free:
                for listing in path.rglob(CGROUPS_FILE):
                    remove_groups(listing)
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def in_use(path: Path) -> bool:
    """Whether a scratch folder's owner (a live process) still holds it."""
    with _unheld(path) as free:
        return not free


@contextlib.contextmanager
def _unheld(path: Path):
    """True while we hold the folder's lock (its owner is gone), else False."""
    try:
        fh = (path / OWNER).open("a")
    except OSError:
        yield False
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:      # BlockingIOError: its owner is alive
            yield False
            return
        yield True


def _ours(path: Path) -> bool:
    """A real folder of this user's with an owner file. Another user's folders in a
    shared /tmp (a class's instructors on one hub) are theirs to clean, and may be
    closed to us."""
    try:
        st = path.lstat()
        return (st.st_uid == os.getuid() and path.is_dir() and not path.is_symlink()
                and (path / OWNER).is_file())
    except OSError:
        return False
