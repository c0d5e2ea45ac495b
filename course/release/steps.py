"""Idempotent steps on a server: each says what it does, checks whether it is done
already, and does it; ``run_steps`` does the ones not done yet (or, dry, lists them).
The users, groups, folders and files that ``course hub up`` needs (course/release/hub.py)."""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from course.grade.records import GradingError


@dataclass
class Step:
    what: str
    done: Callable[[], bool]
    do: Callable[[], None]


def run_steps(steps: list[Step], *, dry_run: bool = False, log=print) -> list[str]:
    """Do each step not done yet; returns what was (or, dry, would be) done."""
    did = []
    for step in steps:
        if step.done():
            continue
        log(("would " if dry_run else "") + step.what)
        if not dry_run:
            step.do()
            if not step.done():
                raise GradingError(f"could not {step.what}")
        did.append(step.what)
    if not did:
        log("nothing to do: everything is in place")
    return did


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def unix_user(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def in_group(user: str, group: str) -> bool:
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return False
    u = unix_user(user)
    return u is not None and (user in g.gr_mem or u.pw_gid == g.gr_gid)


def has_mode(path: Path, mode: int, owner: int = 0, group: int | None = None) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_IMODE(st.st_mode) == mode and st.st_uid == owner \
        and (group is None or st.st_gid == group)


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


def tree_files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def same_tree(src: Path, dst: Path) -> bool:
    return dst.is_dir() and tree_files(src) == tree_files(dst)


def copy_read_only(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [dst, *dst.rglob("*")]:
        os.chown(path, 0, 0)
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def write_step(path: Path, text: str, mode: int = 0o644) -> Step:
    def do():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)
    return Step(f"write {path}", lambda: path.is_file() and path.read_text() == text, do)


def folder_step(path: Path, mode: int, group: str | None = None) -> Step:
    def gid():
        return grp.getgrnam(group).gr_gid if group else 0

    def do():
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, gid())
        os.chmod(path, mode)
    return Step(f"make {path} (mode {mode:o}{', group ' + group if group else ''})",
                lambda: has_mode(path, mode, 0, gid() if (not group or group_exists(group)) else -1),
                do)
