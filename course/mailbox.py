"""Request files between the grader's side and the agent in the student's kernel.

A request ``<id>.req`` is written atomically (``.part``, then renamed) and readable by
the sandbox's user; the agent answers with ``<id>.res``, also atomically; the asking side
reads the answer once and removes both. The kernel's only writable folder it shares with
the grader is this one (course/grade/sandbox/box.py).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


def post(folder: Path, rid: str, data: bytes) -> None:
    """Leave request ``rid`` for the agent."""
    base = Path(folder) / rid
    part = base.with_suffix(".part")
    part.write_bytes(data)
    os.chmod(part, 0o644)
    os.replace(part, base.with_suffix(".req"))


def collect(folder: Path, rid: str) -> bytes | None:
    """The agent's answer to ``rid`` (None if there is none); both files are removed."""
    base = Path(folder) / rid
    try:
        return base.with_suffix(".res").read_bytes()
    except OSError:
        return None
    finally:
        for suffix in (".req", ".res"):
            with contextlib.suppress(OSError):
                base.with_suffix(suffix).unlink()


def read_request(folder: str | Path, rid: str) -> bytes:
    """In the kernel: the request the grader left."""
    return (Path(folder) / rid).with_suffix(".req").read_bytes()


def answer(folder: str | Path, rid: str, data: bytes) -> None:
    """In the kernel: the answer, written atomically."""
    base = Path(folder) / rid
    tmp = base.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, base.with_suffix(".res"))
